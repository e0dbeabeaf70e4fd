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
from dataclasses import replace
from typing import Any, TypeVar

from azure.durable_functions import RetryOptions

from shared import status
from shared.contracts import (
    ABORT_COPY,
    FINISH_SNAPSHOT,
    FORGET_ABORT_REQUEST,
    PUBLISH_RESULT,
    RELEASE_SOURCE_LEASE,
    VERIFY_COPY,
    Activity,
    CopyJob,
    Error,
    Failed,
    InstanceJob,
    LeaseJob,
    PublishJob,
    ReleaseJob,
    Result,
    SnapshotJob,
    VerifyJob,
    WireRecord,
    decode_result,
)
from shared.copystate import Carry, CopyPlan
from shared.outcomes import Outcome, backoff_seconds, failure_from_exception
from shared.restore import restore_block
from shared.status import State
from shared.timestamps import iso, utc

Gen = Generator[Any, Any, Any]
J = TypeVar("J", bound=WireRecord)
R = TypeVar("R")
#: A warning's message is cut to this many characters.
WARNING_LENGTH = 500
RELEASE_ROUNDS = 6  # release_source_lease is tried this many times (each with its retries)


def ran_out_of_retries(result: Result[Any]) -> bool:
    """The activity ran out of retries (an outage, not an answer): worth trying again later."""
    return isinstance(result, Failed) and result.exhausted


class DurableRun:
    """What every orchestration of the app shares: the context, orchestration time, the one
    `abort` wait, and calling an activity by its contract."""

    def __init__(self, context: Any, retry_first_ms: int, retry_attempts: int) -> None:
        self.ctx = context
        self.retry = RetryOptions(retry_first_ms, retry_attempts)
        self.abort = context.wait_for_external_event("abort")  # once, before any loop
        self.wakeups = 0

    @property
    def now(self) -> dt.datetime:
        """Orchestration time (replay-safe)."""
        return utc(self.ctx.current_utc_datetime)

    def call(self, activity: Activity[J, R], job: J) -> Generator[Any, Any, Result[R]]:
        """Call an activity with retries; exhausted retries become an exhausted `Failed`."""
        try:
            answer = yield self.ctx.call_activity_with_retry(
                activity.name, self.retry, job.to_wire()
            )
        except Exception as exc:  # the SDK raises a bare Exception for a failed activity
            return Failed(failure_from_exception(exc), exhausted=True)
        wire = json.loads(answer) if isinstance(answer, str) else answer
        return decode_result(wire, activity.read)

    def abort_reason(self) -> str | None:
        """The reason the `abort` event carried, if it came and said one."""
        payload = self.abort.result if self.abort.is_completed else None
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)  # the client encodes event data twice
            except ValueError:
                payload = {"reason": payload}
        reason = payload.get("reason") if isinstance(payload, dict) else None
        return str(reason) if reason else None

    def notify(
        self, request: dict[str, Any], default_queue: str, doc: dict[str, Any]
    ) -> Generator[Any, Any, Failed | None]:
        """Publish the final document when the request asked to be told; the failure, if
        the queue refused it (the caller is waiting for a message that will not come)."""
        asked = request.get("notify")
        if asked is None:
            return None
        queue = asked.get("queue") or default_queue
        sent = yield from self.call(PUBLISH_RESULT, PublishJob(queue, doc))
        return sent if isinstance(sent, Failed) else None


class CopyRunBase(DurableRun):
    """One execution of the copy orchestration: its context, plan and evolving state."""

    def __init__(self, context: Any, plan: CopyPlan) -> None:
        super().__init__(context, plan.retry_first_ms, plan.retry_attempts)
        self.plan = plan
        self.carry = plan.carry or Carry(
            deadline=iso(self.now + dt.timedelta(seconds=plan.timeout_seconds))
        )

    def warn(self, code: str, error: Error | None) -> None:
        """Keep a problem that did not change the outcome, for the status document."""
        message = str((error or {}).get("message") or code)[:WARNING_LENGTH]
        warnings = [*(self.carry.warnings or []), {"code": code, "message": message}]
        self.carry = replace(self.carry, warnings=warnings)

    def document(self, state: State, error: Error | None = None) -> dict[str, Any]:
        """The public status document for the current state."""
        last = self.carry.last
        final = state in status.FINAL_STATES
        return status.document(
            instance_id=self.plan.id,
            state=state,
            source=self.plan.source_url,
            destination=self.plan.destination_url,
            copy_id=self.carry.copy_id,
            bytes_copied=last.bytes_copied if last else None,
            total_bytes=last.total_bytes if last else None,
            estimated_finish=None if final else self.carry.estimated_finish,
            created=self.plan.created,
            updated=iso(self.now),
            completed=iso(self.now) if final else None,
            error=error,
            warnings=self.carry.warnings,
            skipped=self.carry.skipped,
            restore=restore_block(self.plan.restore, self.undo_snapshot(state)),
        )

    def undo_snapshot(self, state: State) -> str | None:
        """The snapshot holding what a restore replaced: while it runs and once it succeeded
        (a restore that did not succeed puts that content back and drops the snapshot)."""
        return self.carry.snapshot if state in (State.RUNNING, State.SUCCEEDED) else None

    def publish_progress(self) -> None:
        """Custom status = the public status document while the copy runs."""
        self.ctx.set_custom_status(self.document(State.RUNNING))

    def lease_job(self) -> LeaseJob:
        """What acquiring or renewing the lease needs."""
        duration = -1 if self.plan.lease == "infinite" else self.plan.lease_seconds
        return LeaseJob(self.plan.source_url, str(self.carry.lease_id), duration)

    def copy_job(self) -> CopyJob:
        """What reading or aborting our copy needs."""
        return CopyJob(self.plan.destination_url, self.carry.copy_id)

    def warn_once(self, code: str, error: Error | None) -> None:
        """Like `warn`, but a repeated problem is kept once (with its latest message)."""
        kept = [w for w in (self.carry.warnings or []) if w.get("code") != code]
        self.carry = replace(self.carry, warnings=kept)
        self.warn(code, error)

    def should_restore(self, outcome: Outcome) -> bool:
        """Put the old destination back only if our copy touched it and nobody else's did since.

        A copy that never started (lease conflict, DestinationExists) left it alone; one that
        another copy replaced no longer owns it, and restoring would destroy that copy.
        """
        if outcome.state == State.SUCCEEDED or not self.carry.copy_id:
            return False
        return (outcome.error or {}).get("code") != "CopyReplaced"

    def finish(self, outcome: Outcome) -> Gen:
        """Verify, release, restore and publish: run on every path that ends the copy."""
        if outcome.state == State.SUCCEEDED and self.plan.request.get("verify"):
            outcome = yield from self.verify(outcome)
        yield from self.release_lease()
        yield from self.finish_snapshot(outcome)
        if outcome.state == State.ABORTED or self.abort.is_completed:
            # an abort that lost the race to the copy's end was recorded too: drop it, or it
            # would abort a later copy under this id (after a purge)
            yield from self.call(FORGET_ABORT_REQUEST, InstanceJob(self.plan.id))
        doc = self.document(outcome.state, outcome.error)
        refused = yield from self.notify(self.plan.request, self.plan.results_queue, doc)
        if refused is not None:
            self.warn("ResultNotPublished", refused.error)
            doc = self.document(outcome.state, outcome.error)
        self.ctx.set_custom_status(doc)
        return doc

    def verify(self, outcome: Outcome) -> Gen:
        """Check the destination against the source while the lease still holds the source
        (after release, a writer could change it and make a good copy look bad)."""
        if self.carry.skipped:  # overwrite=if_newer kept a newer destination: nothing to verify
            return outcome
        total = self.carry.last.total_bytes if self.carry.last else None
        asked = self.carry.start_asked_at
        job = VerifyJob(self.plan.source_url, self.plan.destination_url, total, asked)
        result = yield from self.call(VERIFY_COPY, job)
        return Outcome(State.FAILED, result.error) if isinstance(result, Failed) else outcome

    def release_lease(self) -> Gen:
        """Release the source lease, trying again on timers; say so if it stays held."""
        if not self.carry.lease_id:
            return
        job = ReleaseJob(self.plan.source_url, self.carry.lease_id)
        for attempt in range(1, RELEASE_ROUNDS + 1):
            result = yield from self.call(RELEASE_SOURCE_LEASE, job)
            if not ran_out_of_retries(result):
                break
            if attempt < RELEASE_ROUNDS:
                wait = seconds(backoff_seconds(attempt, self.plan.retry_first_ms / 1000))
                yield self.ctx.create_timer(self.now + wait)
        if isinstance(result, Failed):
            self.warn("LeaseNotReleased", result.error)

    def finish_snapshot(self, outcome: Outcome) -> Gen:
        """Restore the destination from its snapshot when the copy did not succeed; drop it."""
        restore = self.should_restore(outcome)
        if self.carry.snapshot is None or not (self.carry.snapshot or restore):
            return
        if self.plan.restore is not None and outcome.state == State.SUCCEEDED:
            return  # a restore keeps what it replaced, so it can be undone (shared/restore.py)
        job = SnapshotJob(self.plan.destination_url, self.carry.snapshot, restore)
        result = yield from self.call(FINISH_SNAPSHOT, job)
        if isinstance(result, Failed):
            code = "SnapshotNotRestored" if restore else "SnapshotNotDeleted"
            self.warn(code, kept_snapshot_named(result.error, self.carry.snapshot))

    def abort_after_defect(self) -> Gen:
        """A defect ended the run: a copy that may still be pending gets one abort attempt."""
        if not self.carry.copy_id or self.carry.skipped:
            return
        result = yield from self.call(ABORT_COPY, self.copy_job())
        if isinstance(result, Failed):
            self.warn("CopyNotAborted", result.error)


def kept_snapshot_named(error: Error | None, snapshot: str) -> Error | None:
    """The failure, naming the snapshot that was kept: after a failed put-back it is the only
    copy of the destination's earlier content, and the user must be able to find it."""
    if not snapshot:  # the destination did not exist: no snapshot was taken
        return error
    kept = f"the destination's earlier content is kept in its snapshot {snapshot}"
    room = WARNING_LENGTH - len(kept) - 2  # the snapshot's name must survive `warn`'s cut
    message = str((error or {}).get("message") or "")[: max(room, 0)]
    return {**(error or {}), "message": f"{message}; {kept}" if message else kept}


def seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)
