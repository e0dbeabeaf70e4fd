"""The copy's activities, each declared once: `@activity` registers it on `bp` (a df.Blueprint
that function_app.py registers) and wraps it in the envelope.

Plain dict in, envelope out (`{"ok": true, ...}` or `{"ok": false, "error"}`). Permanent
storage errors become a failure envelope, so the orchestrator ends the copy with the storage
error code at once instead of burning retries. Transient errors and anything unexpected raise:
`call_activity_with_retry` retries them, and the orchestrator reports the last one.

No `from __future__ import annotations` here: the Functions worker reads the activities'
annotations at runtime.
"""

import logging
from collections.abc import Callable
from dataclasses import fields
from functools import lru_cache
from typing import Any

import azure.durable_functions as df

from shared.blobops import BlobOps
from shared.control import AbortRequests, abort_requests_for
from shared.copyrun import Activities
from shared.errors import PermanentStorageError
from shared.settings import get_settings
from shared.timestamps import parse_iso

log = logging.getLogger(__name__)
bp = df.Blueprint()
Payload = dict[str, Any]


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


def activity(work: Callable[[Payload], Payload | None]) -> Any:
    """Declare an activity: the function, under its own name, with its permanent storage
    errors turned into a failure envelope. Returns the Functions builder the orchestrator
    passes to `call_activity_with_retry` (which resolves the name from it)."""

    def run(payload: Payload) -> Payload:
        return envelope(work.__name__, lambda: work(payload))

    run.__name__, run.__qualname__, run.__doc__ = work.__name__, work.__qualname__, work.__doc__
    return bp.activity_trigger(input_name="payload")(run)


@activity
def snapshot_destination(payload: Payload) -> Payload:
    """Snapshot the destination (if it exists) so an abort can restore it."""
    return {"snapshot": ops().snapshot_destination(payload["destination_url"])}


@activity
def acquire_source_lease(payload: Payload) -> None:
    """Lease the source for the copy's duration (renewed) or until released (infinite)."""
    ops().acquire_lease(payload["source_url"], payload["lease_id"], int(payload["duration"]))


@activity
def renew_source_lease(payload: Payload) -> None:
    """Renew the finite source lease (re-acquiring it if it lapsed unclaimed)."""
    ops().renew_lease(payload["source_url"], payload["lease_id"], int(payload["duration"]))


@activity
def release_source_lease(payload: Payload) -> None:
    """Release the source lease."""
    ops().release_lease(payload["source_url"], payload["lease_id"])


@activity
def start_copy(payload: Payload) -> Payload:
    """Create the source SAS (never returned) and start the copy, unless an abort came first.

    An abort sent on the queue before its copy message had no instance to reach: its record
    (shared/control.py) is read here, before anything is written.
    """
    recorded = abort_requests().read(payload["instance_id"])
    if recorded is not None:
        return {"abort_requested": True, "reason": recorded.reason, "status": "aborted"}
    deadline = parse_iso(payload["deadline"])
    asked = parse_iso(payload["asked_at"]) if payload.get("asked_at") else None
    return ops().start_copy(payload["request"], deadline, asked)


@activity
def read_abort_request(payload: Payload) -> Payload:
    """Whether an abort was recorded for the copy (read as each continued execution begins)."""
    recorded = abort_requests().read(payload["instance_id"])
    if recorded is None:
        return {"requested": False}
    return {"requested": True, "reason": recorded.reason}


@activity
def forget_abort_request(payload: Payload) -> None:
    """Delete the abort record of a copy that is over."""
    abort_requests().forget(payload["instance_id"])


@activity
def check_copy(payload: Payload) -> Payload:
    """Read the copy's status and progress."""
    return ops().check_copy(payload["destination_url"], payload.get("copy_id"))


@activity
def abort_copy(payload: Payload) -> Payload:
    """Abort the copy, or report its true final state if it already ended."""
    return ops().abort_copy(payload["destination_url"], payload.get("copy_id"))


@activity
def finish_snapshot(payload: Payload) -> None:
    """Restore the destination from its snapshot (unless the copy succeeded), then drop it."""
    ops().finish_snapshot(payload["destination_url"], payload["snapshot"], bool(payload["restore"]))


@activity
def verify_copy(payload: Payload) -> Payload:
    """Check the destination's length and MD5 against the source."""
    checked = ops().verify(
        payload["source_url"], payload["destination_url"], payload.get("total_bytes")
    )
    return {"checked": checked}


@activity
def publish_result(payload: Payload) -> None:
    """Publish the final status document to the requested queue."""
    ops().publish(payload["queue"], payload["document"])


#: What the orchestrator calls, by field name (shared/copyrun.py Activities).
ACTIVITIES = Activities(**{f.name: globals()[f.name] for f in fields(Activities)})
