"""The state of one copy execution and how every copy ends: the floor of the orchestrator.

`CopyRunBase` holds what every phase shares (the context, the plan, the carried state, calling
an activity, the status document) and the ending that runs on every path: verify while the
source is still leased, release the lease (retried on timers, reported if it stays held),
restore or drop the snapshot, publish. shared/orchestration.py builds the copy's flow on it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

from azure.durable_functions import RetryOptions

from shared import status
from shared.copystate import Carry, CopyPlan
from shared.outcomes import Outcome, backoff_seconds, failure_from_exception
from shared.timestamps import iso, utc

Gen = Generator[Any, Any, Any]
RELEASE_ROUNDS = 6  # release_source_lease is tried this many times (each with its retries)


@dataclass(frozen=True)
class Activities:
    """The activity functions the orchestrator calls (function objects, or names in tests)."""

    snapshot_destination: Any
    acquire_source_lease: Any
    renew_source_lease: Any
    release_source_lease: Any
    start_copy: Any
    check_copy: Any
    abort_copy: Any
    finish_snapshot: Any
    verify_copy: Any
    publish_result: Any
    read_abort_request: Any
    forget_abort_request: Any


def ran_out_of_retries(result: dict[str, Any]) -> bool:
    """The activity ran out of retries (an outage, not an answer): worth trying again later."""
    return not result.get("ok") and bool(result.get("exhausted"))


def error_code(result: dict[str, Any]) -> str | None:
    return (result.get("error") or {}).get("code")


class CopyRunBase:
    """One execution of the copy orchestration: its context, plan and evolving state."""

    def __init__(self, context: Any, acts: Activities, plan: CopyPlan) -> None:
        self.ctx, self.acts, self.plan = context, acts, plan
        self.retry = RetryOptions(plan.retry_first_ms, plan.retry_attempts)
        self.abort = context.wait_for_external_event("abort")  # once, before any loop
        self.carry = plan.carry or Carry(
            deadline=iso(self.now + dt.timedelta(seconds=plan.timeout_seconds))
        )
        self.wakeups = 0

    @property
    def now(self) -> dt.datetime:
        """Orchestration time (replay-safe)."""
        return utc(self.ctx.current_utc_datetime)

    def call(self, activity: Any, payload: dict[str, Any]) -> Gen:
        """Call an activity with retries; exhausted retries become an `exhausted` envelope."""
        try:
            result = yield self.ctx.call_activity_with_retry(activity, self.retry, payload)
        except Exception as exc:  # the SDK raises a bare Exception for a failed activity
            return {"ok": False, "exhausted": True, "error": failure_from_exception(exc)}
        return json.loads(result) if isinstance(result, str) else result

    def warn(self, code: str, error: dict[str, Any] | None) -> None:
        """Keep a problem that did not change the outcome, for the status document."""
        message = str((error or {}).get("message") or code)[:500]
        warnings = [*(self.carry.warnings or []), {"code": code, "message": message}]
        self.carry = replace(self.carry, warnings=warnings)

    def document(self, state: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The public status document for the current state."""
        last = self.carry.last or {}
        final = state in status.FINAL_STATES
        return status.document(
            instance_id=self.plan.id,
            state=state,
            source=self.plan.source_url,
            destination=self.plan.destination_url,
            copy_id=self.carry.copy_id,
            bytes_copied=last.get("bytes"),
            total_bytes=last.get("total"),
            estimated_finish=None if final else self.carry.estimated_finish,
            created=self.plan.created,
            updated=iso(self.now),
            completed=iso(self.now) if final else None,
            error=error,
            warnings=self.carry.warnings,
        )

    def publish_progress(self) -> None:
        """Custom status = the public status document while the copy runs."""
        self.ctx.set_custom_status(self.document(status.RUNNING))

    def lease_payload(self) -> dict[str, Any]:
        """What the lease activities need."""
        return {
            "source_url": self.plan.source_url,
            "lease_id": self.carry.lease_id,
            "duration": -1 if self.plan.lease == "infinite" else self.plan.lease_seconds,
        }

    def warn_once(self, code: str, error: dict[str, Any] | None) -> None:
        """Like `warn`, but a repeated problem is kept once (with its latest message)."""
        kept = [w for w in (self.carry.warnings or []) if w.get("code") != code]
        self.carry = replace(self.carry, warnings=kept)
        self.warn(code, error)

    def should_restore(self, outcome: Outcome) -> bool:
        """Put the old destination back only if our copy touched it and nobody else's did since.

        A copy that never started (lease conflict, DestinationExists) left it alone; one that
        another copy replaced no longer owns it, and restoring would destroy that copy.
        """
        if outcome.state == status.SUCCEEDED or not self.carry.copy_id:
            return False
        return (outcome.error or {}).get("code") != "CopyReplaced"

    def finish(self, outcome: Outcome) -> Gen:
        """Verify, release, restore and publish: run on every path that ends the copy."""
        if outcome.state == status.SUCCEEDED and self.plan.request.get("verify"):
            outcome = yield from self.verify(outcome)
        yield from self.release_lease()
        yield from self.finish_snapshot(outcome)
        if outcome.state == status.ABORTED or self.abort.is_completed:
            # an abort that lost the race to the copy's end was recorded too: drop it, or it
            # would abort a later copy under this id (after a purge)
            yield from self.call(self.acts.forget_abort_request, {"instance_id": self.plan.id})
        doc = self.document(outcome.state, outcome.error)
        notify = self.plan.request.get("notify")
        if notify is not None:
            queue = notify.get("queue") or self.plan.results_queue
            yield from self.call(self.acts.publish_result, {"queue": queue, "document": doc})
        self.ctx.set_custom_status(doc)
        return doc

    def verify(self, outcome: Outcome) -> Gen:
        """Check the destination against the source while the lease still holds the source
        (after release, a writer could change it and make a good copy look bad)."""
        if self.carry.skipped:  # overwrite=if_newer kept a newer destination: nothing to verify
            return outcome
        payload = {
            "source_url": self.plan.source_url,
            "destination_url": self.plan.destination_url,
            "total_bytes": (self.carry.last or {}).get("total"),
        }
        result = yield from self.call(self.acts.verify_copy, payload)
        return outcome if result["ok"] else Outcome(status.FAILED, result["error"])

    def release_lease(self) -> Gen:
        """Release the source lease, trying again on timers; say so if it stays held."""
        if not self.carry.lease_id:
            return
        payload = {"source_url": self.plan.source_url, "lease_id": self.carry.lease_id}
        result: dict[str, Any] = {}
        for attempt in range(1, RELEASE_ROUNDS + 1):
            result = yield from self.call(self.acts.release_source_lease, payload)
            if result.get("ok") or not ran_out_of_retries(result):
                break
            if attempt < RELEASE_ROUNDS:
                wait = seconds(backoff_seconds(attempt, self.plan.retry_first_ms / 1000))
                yield self.ctx.create_timer(self.now + wait)
        if not result.get("ok"):
            self.warn("LeaseNotReleased", result.get("error"))

    def finish_snapshot(self, outcome: Outcome) -> Gen:
        """Restore the destination from its snapshot when the copy did not succeed; drop it."""
        restore = self.should_restore(outcome)
        if self.carry.snapshot is None or not (self.carry.snapshot or restore):
            return
        payload = {
            "destination_url": self.plan.destination_url,
            "snapshot": self.carry.snapshot,
            "restore": restore,
        }
        result = yield from self.call(self.acts.finish_snapshot, payload)
        if not result.get("ok"):
            self.warn("SnapshotNotRestored" if restore else "SnapshotNotDeleted", result["error"])

    def abort_after_defect(self) -> Gen:
        """A defect ended the run: a copy that may still be pending gets one abort attempt."""
        if not self.carry.copy_id or self.carry.skipped:
            return
        payload = {"destination_url": self.plan.destination_url, "copy_id": self.carry.copy_id}
        result = yield from self.call(self.acts.abort_copy, payload)
        if not result.get("ok"):
            self.warn("CopyNotAborted", result.get("error"))


def seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)
