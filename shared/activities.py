"""Activity bodies: plain dict in, envelope out (`{"ok": true, ...}` or `{"ok": false, "error"}`).

Permanent storage errors become a failure envelope, so the orchestrator ends the copy with the
storage error code at once instead of burning retries. Transient errors and anything unexpected
raise: `call_activity_with_retry` retries them, and the orchestrator reports the last one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from shared.blobops import BlobOps
from shared.control import AbortRequests, abort_requests_for
from shared.errors import PermanentStorageError
from shared.settings import get_settings
from shared.timestamps import parse_iso

log = logging.getLogger(__name__)


#: Every storage call is bounded (the SDK's own read timeout is 60 s): one hung call must not
#: outlast a finite source lease, which the orchestrator renews between activities.
CLIENT_OPTIONS = {"retry_total": 0, "connection_timeout": 10, "read_timeout": 20}


@lru_cache(maxsize=1)
def ops() -> BlobOps:
    """The process's BlobOps, built on first use from the environment.

    SDK retries are off: `call_activity_with_retry` retries transient errors, visibly in history;
    both layers together turned one 503 into some 17 s of back-off.
    """
    return BlobOps(get_settings(), **CLIENT_OPTIONS)


@lru_cache(maxsize=1)
def abort_requests() -> AbortRequests:
    """The process's abort records (shared/control.py), in the host's storage."""
    return abort_requests_for(get_settings(), **CLIENT_OPTIONS)


def envelope(name: str, work: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    """Run one activity's work; permanent storage errors become a failure envelope."""
    try:
        result = work() or {}
    except PermanentStorageError as exc:
        log.warning("%s failed permanently: %s", name, exc)
        return {"ok": False, "error": exc.to_dict()}
    return {"ok": True, **result}


def snapshot_destination(payload: dict[str, Any]) -> dict[str, Any]:
    """Snapshot the destination (if it exists) so an abort can restore it."""
    return envelope(
        "snapshot_destination",
        lambda: {"snapshot": ops().snapshot_destination(payload["destination_url"])},
    )


def acquire_source_lease(payload: dict[str, Any]) -> dict[str, Any]:
    """Lease the source for the copy's duration (renewed) or until released (infinite)."""
    return envelope(
        "acquire_source_lease",
        lambda: ops().acquire_lease(
            payload["source_url"], payload["lease_id"], int(payload["duration"])
        ),
    )


def renew_source_lease(payload: dict[str, Any]) -> dict[str, Any]:
    """Renew the finite source lease (re-acquiring it if it lapsed unclaimed)."""
    return envelope(
        "renew_source_lease",
        lambda: ops().renew_lease(
            payload["source_url"], payload["lease_id"], int(payload["duration"])
        ),
    )


def release_source_lease(payload: dict[str, Any]) -> dict[str, Any]:
    """Release the source lease."""
    return envelope(
        "release_source_lease",
        lambda: ops().release_lease(payload["source_url"], payload["lease_id"]),
    )


def start_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the source SAS (never returned) and start the copy, unless an abort came first.

    An abort sent on the queue before its copy message had no instance to reach: its record
    (shared/control.py) is read here, before anything is written.
    """
    deadline = parse_iso(payload["deadline"])
    asked = parse_iso(payload["asked_at"]) if payload.get("asked_at") else None

    def work() -> dict[str, Any]:
        recorded = abort_requests().read(payload["instance_id"])
        if recorded is not None:
            return {"abort_requested": True, "reason": recorded.reason, "status": "aborted"}
        return ops().start_copy(payload["request"], deadline, asked)

    return envelope("start_copy", work)


def read_abort_request(payload: dict[str, Any]) -> dict[str, Any]:
    """Whether an abort was recorded for the copy (read as each continued execution begins)."""

    def work() -> dict[str, Any]:
        recorded = abort_requests().read(payload["instance_id"])
        if recorded is None:
            return {"requested": False}
        return {"requested": True, "reason": recorded.reason}

    return envelope("read_abort_request", work)


def forget_abort_request(payload: dict[str, Any]) -> dict[str, Any]:
    """Delete the abort record of a copy that is over."""
    return envelope("forget_abort_request", lambda: abort_requests().forget(payload["instance_id"]))


def check_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """Read the copy's status and progress."""
    return envelope(
        "check_copy", lambda: ops().check_copy(payload["destination_url"], payload.get("copy_id"))
    )


def abort_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """Abort the copy, or report its true final state if it already ended."""
    return envelope(
        "abort_copy", lambda: ops().abort_copy(payload["destination_url"], payload.get("copy_id"))
    )


def finish_snapshot(payload: dict[str, Any]) -> dict[str, Any]:
    """Restore the destination from its snapshot (unless the copy succeeded), then drop it."""
    return envelope(
        "finish_snapshot",
        lambda: ops().finish_snapshot(
            payload["destination_url"], payload["snapshot"], bool(payload["restore"])
        ),
    )


def verify_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """Check the destination's length and MD5 against the source."""
    return envelope(
        "verify_copy",
        lambda: {
            "checked": ops().verify(
                payload["source_url"], payload["destination_url"], payload.get("total_bytes")
            )
        },
    )


def publish_result(payload: dict[str, Any]) -> dict[str, Any]:
    """Publish the final status document to the requested queue."""
    return envelope("publish_result", lambda: ops().publish(payload["queue"], payload["document"]))
