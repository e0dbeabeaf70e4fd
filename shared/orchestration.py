"""The copy orchestrator, written against the Durable context API and nothing else.

It only yields tasks and decides; the activities (declared in shared/copy_activities.py and
shared/control.py, typed in shared/contracts.py) hold all I/O, so every path here is
unit-tested with a fake context. Flow (docs/architecture.md):

    [snapshot destination] -> acquire source lease -> start copy (unless an abort is recorded)
    -> while pending: race a timer (next poll / lease renewal / deadline) against the ONE
       `abort` wait created up front; renew the lease when due, read status when due,
       continue_as_new after `polls_per_execution` wake-ups
    -> stopping (abort, deadline, a copy we can no longer watch): abort until the copy is no
       longer pending, with back-off, across continue_as_new if need be
    -> always: [verify], release the lease, restore or drop the snapshot, [publish the result]

Azure is less kind than a test host in ways this module is built around (issue 16):
- The `abort` event is only the fast path: one in the last batch before continue_as_new is lost
  (shared/control.py), so each continued execution first reads the recorded abort request.
- Activities fail through their retries during short outages: reading status, renewing and
  aborting are then tried again on durable timers, never taken as a reason to stop a healthy
  copy, and nothing is released or restored while a copy may still be pending.
- Timers fire late: the lease is renewed at a third of its life, timed from before the call.

Every activity answers `Ok(value)` or `Failed(error)` (shared/contracts.py): a permanent
storage error is a `Failed` answer; a transient one raises inside the activity and is retried
by `call_activity_with_retry`; when the retries run out, `call` gives `Failed(exhausted=True)`.

No `from __future__ import annotations` here: the Functions worker reads the orchestrator
trigger's annotations at runtime.
"""

import datetime as dt
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from shared.contracts import (
    ABORT_COPY,
    ACQUIRE_SOURCE_LEASE,
    CHECK_COPY,
    READ_ABORT_REQUEST,
    RENEW_SOURCE_LEASE,
    SNAPSHOT_DESTINATION,
    START_COPY,
    AbortRecorded,
    BlobCopyStatus,
    CopyStatus,
    DestinationBusy,
    DestinationJob,
    Error,
    Failed,
    InstanceJob,
    Ok,
    Result,
    StartCopyJob,
)
from shared.copyrun import CopyRunBase, Gen, seconds
from shared.copystate import CopyPlan
from shared.outcomes import Outcome, aborted_error, backoff_seconds, clamp
from shared.polling import RENEW_FRACTION, ProgressPoint, next_poll
from shared.status import State
from shared.timestamps import iso, parse_iso

ORCHESTRATOR = "copy_orchestrator"  # the name shared/api.py starts and looks instances up by
CONTINUED = "continued"
#: Abort attempts (with back-off capped at 5 minutes: about 1.5 hours) before giving up and
#: reporting the copy as not aborted.
STOP_ATTEMPTS = 24
MAX_ETA_SECONDS = 366 * 86400.0  # an estimate beyond a year says only "not soon"
bp = df.Blueprint()


class CopyRun(CopyRunBase):
    """The copy's flow: begin, wait and poll, stop; the ending is CopyRunBase's."""

    def execute(self) -> Gen:
        """Run until the copy ends (an Outcome) or the execution continues as new."""
        # Every execution publishes at once, so the document shows this execution's state
        # (its executions count, a stop in hand) from its first episode.
        self.publish_progress()
        if self.plan.carry is None:
            ended = yield from self.begin()
        else:
            ended = yield from self.read_recorded_abort()
        if ended is not None:
            return ended
        while True:
            if self.abort.is_completed and self.carry.stopping is None:
                # received while an activity ran: act on it now, or continue_as_new drops it
                return (yield from self.request_stop(Outcome(State.ABORTED, self.abort_error())))
            if self.wakeups >= self.plan.polls_per_execution:
                carry = replace(self.carry, executions=self.carry.executions + 1)
                self.ctx.continue_as_new(self.plan.with_carry(carry).to_input())
                return CONTINUED
            ended = yield from self.wait_once()
            if ended is not None:
                return ended

    def read_recorded_abort(self) -> Gen:
        """An abort raised as the previous execution continued as new was dropped with its
        batch; its record is not (shared/control.py)."""
        if self.carry.stopping is not None:
            return None
        result = yield from self.call(READ_ABORT_REQUEST, InstanceJob(self.plan.id))
        if isinstance(result, Ok) and result.value.requested:
            error = aborted_error(result.value.reason)
            return (yield from self.request_stop(Outcome(State.ABORTED, error)))
        return None

    def begin(self) -> Gen:
        """Snapshot, lease and start the copy; an Outcome if it ended already, else None."""
        if self.plan.request.get("snapshot_destination"):
            job = DestinationJob(self.plan.destination_url)
            taken = yield from self.call(SNAPSHOT_DESTINATION, job)
            if isinstance(taken, Failed):
                return Outcome(State.FAILED, taken.error)
            # "" marks a destination that did not exist: restoring it means deleting it
            self.carry = replace(self.carry, snapshot=taken.value.snapshot or "")
        if self.plan.lease != "none":
            ended = yield from self.acquire_lease()
            if ended is not None:
                return ended
        # An abort raised before this point is parked by the SDK until the wait is first
        # yielded (in the first race); one recorded before the copy existed is read by start.
        return (yield from self.start())

    def start(self) -> Gen:
        """Start the copy: an Outcome if it is over already, else None (pending, or waiting
        for another copy on the destination to end: then `poll` asks to start again)."""
        job = StartCopyJob(self.plan.id, self.plan.request, self.carry.deadline, iso(self.now))
        self.carry = replace(self.carry, start_asked_at=job.asked_at)
        result = yield from self.call(START_COPY, job)
        if isinstance(result, Ok) and isinstance(result.value, AbortRecorded):
            return Outcome(
                State.ABORTED, aborted_error(result.value.reason or "aborted on request")
            )
        if isinstance(result, Ok) and isinstance(result.value, DestinationBusy):
            self.wait_for_destination(result.value)
            return None
        self.carry = replace(self.carry, waiting=False)
        return self.observe(result, started=True)

    def wait_for_destination(self, busy: DestinationBusy) -> None:
        """Another copy is pending on the destination (a replica of another write): look
        again later, backing off within the poll bounds, and say so in the document."""
        waits = self.carry.busy_waits + 1
        low, high = self.poll_bounds()
        delay = min(high, low * 2 ** min(waits - 1, 16))
        due = iso(self.now + seconds(delay))
        self.carry = replace(self.carry, waiting=True, busy_waits=waits, next_poll_at=due)
        other = busy.copy_id or "unknown"
        message = f"waiting for another copy on the destination (copy id {other}) to end"
        self.warn_once("DestinationBusy", {"code": "DestinationBusy", "message": message})
        self.publish_progress()

    def acquire_lease(self) -> Gen:
        """Lease the source; the id is kept before the call, so a lease whose acquire got
        through but whose answer was lost is still released."""
        lease_id, asked = str(self.ctx.new_guid()), self.now
        self.carry = replace(self.carry, lease_id=lease_id)
        result = yield from self.call(ACQUIRE_SOURCE_LEASE, self.lease_job())
        if isinstance(result, Ok):
            self.carry = replace(self.carry, lease_renewed_at=iso(asked))
            return None
        if not result.exhausted:  # refused (held by another, no source): not ours
            self.carry = replace(self.carry, lease_id=None)
        return Outcome(State.FAILED, result.error)

    def abort_error(self) -> Error:
        """The error block of an aborted copy, with the caller's reason when given."""
        return aborted_error(self.abort_reason())

    def observe(self, result: Result[Any], started: bool = False) -> Outcome | None:
        """Fold a copy's status into the state; an Outcome when the copy is over."""
        if isinstance(result, Failed):
            return Outcome(State.FAILED, result.error)
        seen: CopyStatus = result.value
        now = self.now
        if started:
            self.carry = replace(
                self.carry, copy_id=seen.copy_id, started_at=iso(now), skipped=seen.skipped
            )
        zero = parse_iso(self.carry.started_at or iso(now))
        point = ProgressPoint((now - zero).total_seconds(), seen.bytes_copied, seen.total_bytes)
        old = self.carry.last
        moved = (point.bytes_copied or 0) > ((old.bytes_copied if old else None) or 0)
        self.carry = replace(
            self.carry,
            previous=self.carry.last if moved else self.carry.previous,
            last=point,
            idle_reads=0 if moved or started else self.carry.idle_reads + 1,
            status_reads=self.carry.status_reads + (0 if started else 1),
        )
        if seen.status == BlobCopyStatus.SUCCESS:
            return Outcome(State.SUCCEEDED)
        if seen.status == BlobCopyStatus.ABORTED:
            return Outcome(State.ABORTED, {"code": "Aborted", "message": "copy aborted"})
        if seen.status != BlobCopyStatus.PENDING:
            message = seen.description or f"copy status {seen.status}"
            return Outcome(State.FAILED, {"code": "CopyFailed", "message": message})
        self.schedule_poll()
        return None

    def poll_bounds(self) -> tuple[float, float]:
        """The request's poll bounds, inside the service's (a caller may not poll faster)."""
        asked = self.plan.request.get("poll") or {}
        low = clamp(asked.get("min_seconds"), self.plan.poll_min, self.plan.poll_max)
        high = clamp(asked.get("max_seconds") or self.plan.poll_max, low, self.plan.poll_max)
        return low, high

    def schedule_poll(self) -> None:
        """Plan the next status read from the copy's progress (shared/polling.py)."""
        low, high = self.poll_bounds()
        last = self.carry.last or ProgressPoint(0.0, None, None)
        plan = next_poll(last, self.carry.previous, self.carry.idle_reads, low, high)
        due = self.now + dt.timedelta(seconds=plan.delay)
        # a stalled huge copy can estimate 1e12 s: past year 9999, which no datetime holds
        eta = None if plan.eta is None else min(plan.eta, MAX_ETA_SECONDS)
        finish = None if eta is None else iso(self.now + dt.timedelta(seconds=eta))
        self.carry = replace(self.carry, next_poll_at=iso(due), estimated_finish=finish)
        self.publish_progress()

    def retry_later(self) -> None:
        """After an attempt that ran out of retries: look again later, backing off."""
        troubles = self.carry.troubles + 1
        delay = backoff_seconds(troubles, self.poll_bounds()[0])
        due = iso(self.now + dt.timedelta(seconds=delay))
        self.carry = replace(self.carry, troubles=troubles, next_poll_at=due)
        self.publish_progress()

    def lease_due(self) -> dt.datetime | None:
        """When a renewed lease must next be renewed (or a failed renewal tried again)."""
        if self.plan.lease != "renewed" or not self.carry.lease_id:
            return None
        if self.carry.lease_retry_at:
            return parse_iso(self.carry.lease_retry_at)
        renewed = parse_iso(self.carry.lease_renewed_at or iso(self.now))
        return renewed + dt.timedelta(seconds=self.plan.lease_seconds * RENEW_FRACTION)

    def wait_once(self) -> Gen:
        """Sleep until something is due (or the abort comes), then do what is due."""
        stopping = self.carry.stopping is not None
        poll_at = parse_iso(self.carry.next_poll_at or iso(self.now))
        deadline = parse_iso(self.carry.deadline)
        due = [poll_at, self.lease_due(), None if stopping else deadline]
        timer = self.ctx.create_timer(min(t for t in due if t is not None))
        if stopping:  # the abort already counted; a stop is in hand
            yield timer
        else:
            yield self.ctx.task_any([timer, self.abort])
        self.wakeups += 1
        # Checked whatever won: an abort batched with the timer completes after the race.
        if not stopping and self.abort.is_completed:
            if not timer.is_completed:
                timer.cancel()
            return (yield from self.request_stop(Outcome(State.ABORTED, self.abort_error())))
        if not stopping and self.now >= deadline:
            error = {"code": "Timeout", "message": "copy did not finish before its deadline"}
            return (yield from self.request_stop(Outcome(State.TIMED_OUT, error)))
        ended = yield from self.renew_if_due()
        if ended is not None or self.now < poll_at:
            return ended
        return (yield from (self.try_stop() if stopping else self.poll()))

    def renew_if_due(self) -> Gen:
        """Renew a finite lease when due; only a lease truly lost stops the copy."""
        due = self.lease_due()
        if due is None or self.now < due:
            return None
        asked = self.now  # the lease's new life starts when the renewal was sent, not answered
        result = yield from self.call(RENEW_SOURCE_LEASE, self.lease_job())
        if isinstance(result, Ok):
            self.carry = replace(self.carry, lease_renewed_at=iso(asked), lease_retry_at=None)
            return None
        if result.exhausted:  # an outage: try again soon; the copy itself is fine
            soon = min(self.plan.lease_seconds * RENEW_FRACTION / 2, 10.0)
            self.carry = replace(self.carry, lease_retry_at=iso(self.now + seconds(soon)))
            return None
        # Lost (broken, taken): nothing left to renew or release, so stop trying to.
        self.carry = replace(self.carry, lease_retry_at=None, lease_id=None)
        if self.carry.stopping is not None:
            return None  # stopping anyway; the abort goes on
        return (yield from self.request_stop(Outcome(State.FAILED, result.error)))

    def poll(self) -> Gen:
        """Read the copy's status; an outage means looking again later, not stopping."""
        if self.carry.waiting:
            return (yield from self.start())
        result = yield from self.call(CHECK_COPY, self.copy_job())
        if isinstance(result, Ok) or result.code == "CopyReplaced":
            self.carry = replace(self.carry, troubles=0)
            return self.observe(result)
        if result.exhausted:
            self.retry_later()
            return None
        # we can no longer watch the copy: stop it rather than leave it running unseen
        return (yield from self.request_stop(Outcome(State.FAILED, result.error)))

    def request_stop(self, wanted: Outcome) -> Gen:
        """From now on the copy is being stopped: try at once, and again until it is."""
        self.carry = replace(self.carry, stopping=wanted, troubles=0)
        return (yield from self.try_stop())

    def true_end(self, seen: Ok[CopyStatus], wanted: Outcome) -> Outcome | None:
        """How a copy we were stopping ended (None: still pending); aborted means our stop."""
        ended = self.observe(seen)
        return wanted if ended is not None and ended.state == State.ABORTED else ended

    def try_stop(self) -> Gen:
        """Abort the copy; the Outcome once it is no longer pending, else None (try later).

        If it had already ended, report how it truly ended instead. A copy that another copy
        replaced is not ours to abort.
        """
        wanted = self.carry.stopping or Outcome(State.FAILED)
        result = yield from self.call(ABORT_COPY, self.copy_job())
        if isinstance(result, Ok):
            aborted = result.value.status == BlobCopyStatus.ABORTED
            return wanted if aborted else self.true_end(result, wanted)
        if result.code == "CopyReplaced":
            return Outcome(State.FAILED, result.error)
        if not result.exhausted:  # refused: perhaps the copy ended meanwhile; look
            seen = yield from self.call(CHECK_COPY, self.copy_job())
            if isinstance(seen, Ok) and seen.value.status != BlobCopyStatus.PENDING:
                ended = self.true_end(seen, wanted)
                if ended is not None:
                    return ended
        if self.carry.troubles + 1 >= STOP_ATTEMPTS:
            # Hours of refusals (no right to abort or even read the destination): holding the
            # source lease for ever would be worse than saying plainly what was left behind.
            self.warn_once("CopyNotAborted", result.error)
            return wanted
        self.warn_once("AbortRetried", result.error)
        self.retry_later()
        return None


def copy_orchestration(context: Any) -> Gen:
    """The orchestrator body: the result document, or None when continued as new."""
    run = CopyRun(context, CopyPlan.from_input(context.get_input()))
    try:
        outcome = yield from run.execute()
    except Exception as exc:  # a defect here must still stop the copy and release the lease
        outcome = Outcome(State.FAILED, {"code": "InternalError", "message": str(exc)[:500]})
        yield from run.abort_after_defect()
    if outcome == CONTINUED:
        return None
    return (yield from run.finish(outcome))


@bp.orchestration_trigger(context_name="context")
def copy_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One copy, from lease to result."""
    return (yield from copy_orchestration(context))
