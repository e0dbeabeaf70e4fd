"""The public status document of a batch.

    {"id", "kind": "batch", "state", "dry_run",
     "source": {"url", "prefix"}, "destination": {"url", "prefix"},
     "counts": {"listed", "pending", "running", "succeeded", "failed", "aborted", "skipped"},
     "listing_complete": bool,
     "progress": {"bytes_copied", "total_bytes", "percent", "eta_seconds", "estimated_finish"},
     "errors": {code: blobs}, "report": {"url"},
     "created", "updated", "completed", "error", "warnings"}

`listed` counts the blobs seen so far (all of them once `listing_complete`); `running` the
copies pending in storage; `pending` those listed but not started yet. `total_bytes` is what is
known so far: the sizes of the blobs listed. In a dry run `succeeded` counts the blobs that
would be copied and `skipped` those that would not; nothing is copied. Every string passes
through `scrub`, as in the copy's document (shared/status.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts import BatchTally
from shared.redaction import scrub
from shared.status import State, progress
from shared.timestamps import parse_instant


def batch_document(
    *,
    instance_id: str,
    state: State,
    request: Mapping[str, Any],
    tally: BatchTally,
    running: int,
    listing_complete: bool,
    bytes_copied: int,
    total_bytes: int,
    estimated_finish: str | None,
    report_url: str | None,
    errors: Mapping[str, int],
    created: str | None,
    updated: str | None,
    completed: str | None,
    error: Mapping[str, Any] | None = None,
    warnings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Assemble a batch's status document."""
    ended = tally.succeeded + tally.failed + tally.aborted + tally.skipped
    counts = {
        "listed": tally.listed,
        "pending": max(tally.listed - ended - running, 0),
        "running": running,
        "succeeded": tally.succeeded,
        "failed": tally.failed,
        "aborted": tally.aborted,
        "skipped": tally.skipped,
    }
    source, destination = request.get("source") or {}, request.get("destination") or {}
    doc = {
        "id": instance_id,
        "kind": "batch",
        "state": state,
        "dry_run": bool(request.get("dry_run")),
        "source": {"url": source.get("url"), "prefix": source.get("prefix") or ""},
        "destination": {"url": destination.get("url"), "prefix": destination.get("prefix") or ""},
        "counts": counts,
        "listing_complete": listing_complete,
        "progress": progress(bytes_copied, total_bytes, estimated_finish, parse_instant(updated)),
        "errors": dict(errors),
        "report": {"url": report_url} if report_url else None,
        "created": created,
        "updated": updated,
        "completed": completed,
        "error": dict(error) if error else None,
        "warnings": list(warnings or []),
    }
    scrubbed: dict[str, Any] = scrub(doc)
    return scrubbed
