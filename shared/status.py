"""The public status document of a copy, and the redaction that keeps SAS signatures out of it.

    {"id", "state", "skipped", "source", "destination", "copy_id",
     "progress": {"bytes_copied", "total_bytes", "percent", "eta_seconds", "estimated_finish"},
     "created", "updated", "completed", "error": {"code", "message"} | null,
     "warnings": [{"code", "message"}],
     "restore": {"snapshot", "version_id", "previous_snapshot"} | null}

The orchestrator publishes it as custom status while the copy runs and returns it as output when
the copy ends; the API reads it back from either. Every string in it passes through `scrub`.
`estimated_finish` is absolute (an instant); `eta_seconds` is what is left of it as of
`updated`, recomputed by the API as of the moment it answers (`as_of`), so neither goes stale
while the orchestrator sleeps. `warnings` lists problems that did not change the outcome but
that a caller must know of (a source lease that could not be released, a snapshot left behind).
`skipped` is true when `overwrite: if_newer` found the destination newer and copied nothing: the
copy `succeeded` (the destination is at least as new as the source) without a Copy Blob.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from shared.redaction import redact_url, scrub
from shared.timestamps import normalize, parse_instant


class State(StrEnum):
    """A copy's state in its status document (a str: it is written to JSON as its value)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"


STATES = tuple(State)
#: Keys added to the document after its first release, as documents written before them read.
EARLIER_DEFAULTS: dict[str, Any] = {"skipped": False, "restore": None}
FINAL_STATES = frozenset(STATES) - {State.RUNNING}


def seconds_left(estimated_finish: Any, now: dt.datetime | None) -> float | None:
    """Seconds from `now` to the estimated finish (never negative); None if either is unknown."""
    finish = parse_instant(estimated_finish)
    if finish is None or now is None:
        return None
    return round(max((finish - now).total_seconds(), 0.0), 1)


def progress(
    bytes_copied: int | None,
    total_bytes: int | None,
    estimated_finish: str | None = None,
    as_of: dt.datetime | None = None,
) -> dict[str, Any]:
    """The progress block: percent only when the total is known, the ETA as of `as_of`."""
    percent = None
    if bytes_copied is not None and total_bytes:
        percent = round(100.0 * bytes_copied / total_bytes, 1)
    elif total_bytes == 0 and bytes_copied == 0:
        percent = 100.0
    return {
        "bytes_copied": bytes_copied,
        "total_bytes": total_bytes,
        "percent": percent,
        "eta_seconds": seconds_left(estimated_finish, as_of),
        "estimated_finish": estimated_finish,
    }


def as_of(doc: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The document with its ETA recomputed for `now` (the API answers with the time left)."""
    block = dict(doc.get("progress") or {})
    if block.get("estimated_finish") and doc.get("state") == State.RUNNING:
        block["eta_seconds"] = seconds_left(block["estimated_finish"], now)
    return {**doc, "progress": block}


def document(
    *,
    instance_id: str,
    state: str,
    source: str | None,
    destination: str | None,
    copy_id: str | None = None,
    bytes_copied: int | None = None,
    total_bytes: int | None = None,
    estimated_finish: str | None = None,
    created: str | None = None,
    updated: str | None = None,
    completed: str | None = None,
    error: Mapping[str, Any] | None = None,
    warnings: Sequence[Mapping[str, Any]] | None = None,
    skipped: bool = False,
    restore: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a status document; URLs are redacted and every string scrubbed. `restore` is a
    restore's block (shared/restore.py), null for other copies."""
    doc = {
        "id": instance_id,
        "state": state,
        "skipped": skipped,
        "source": redact_url(source),
        "destination": redact_url(destination),
        "copy_id": copy_id,
        "progress": progress(bytes_copied, total_bytes, estimated_finish, parse_instant(updated)),
        "created": created,
        "updated": updated,
        "completed": completed,
        "error": (
            {"code": str(error.get("code")), "message": str(error.get("message", ""))}
            if error
            else None
        ),
        "warnings": [
            {"code": str(w.get("code")), "message": str(w.get("message", ""))}
            for w in warnings or ()
        ],
        "restore": dict(restore) if restore is not None else None,
    }
    scrubbed: dict[str, Any] = scrub(doc)
    return scrubbed


def from_instance(
    *,
    instance_id: str,
    runtime_status: str,
    request: Mapping[str, Any] | None,
    custom_status: Any,
    output: Any,
    created: Any = None,
    updated: Any = None,
) -> dict[str, Any]:
    """The status document of a Durable instance, whatever shape it is in.

    Completed instances answer with their output; running ones with their custom status; an
    orchestrator that crashed or was terminated gets a document that says so.
    """
    src = dst = None
    if request:
        src = (request.get("source") or {}).get("url")
        dst = (request.get("destination") or {}).get("url")
    created_at, updated_at = normalize(created), normalize(updated)

    def make(state: str, error: Mapping[str, Any] | None, completed: str | None) -> dict[str, Any]:
        return document(
            instance_id=instance_id,
            state=state,
            source=src,
            destination=dst,
            created=created_at,
            updated=updated_at,
            completed=completed,
            error=error,
        )

    if runtime_status == "Completed" and isinstance(output, Mapping) and "state" in output:
        return {**EARLIER_DEFAULTS, **scrub(output)}  # documents written before those keys
    if runtime_status == "Failed":
        err = {"code": "OrchestratorFailed", "message": str(output or "")[:500]}
        return make(State.FAILED, err, updated_at)
    if runtime_status in ("Terminated", "Canceled"):
        # Terminating the orchestration stops nothing in storage: the copy may still run and an
        # infinite source lease stays held. Saying "aborted" would claim what did not happen.
        reason = str(output or "terminated")[:300]
        message = (
            f"orchestration terminated ({reason}); the copy and source lease were left as they were"
        )
        return make(State.FAILED, {"code": "Terminated", "message": message}, updated_at)
    if isinstance(custom_status, Mapping) and "state" in custom_status:
        # `updated` stays the orchestrator's own: the instance's last-updated time moves with
        # every episode and would make the ETA look fresher than it is.
        return {**EARLIER_DEFAULTS, **scrub(custom_status)}
    return make(State.RUNNING, None, None)
