"""The batch orchestrator: rounds of one activity each, until every listed blob has ended.

    round (shared/batchops.py): read every pending copy in one listing, report those that
        ended, list up to `max_concurrency - pending` more source blobs and start them
    -> wait (the poll interval, doubling while nothing moves, but never past a renewed lease's
       next renewal or a copy's `blob_timeout_seconds`) racing the one `abort` wait
    -> continue_as_new every `polls_per_execution` rounds, carrying the pending copies, the
       listing's continuation token and the counts (history stays bounded at any size)
    -> stopping (abort, deadline): no more starts; abort the pending copies, read them until
       none is pending
    -> the end: forget the abort record, publish the result

A round is one activity whatever the number of blobs in it, so a batch costs about
`blobs / max_concurrency` activity calls and episodes, plus one per status round. As for a
copy, an abort raised as an execution continues as new may be dropped with its batch: each
continued execution first reads the recorded abort (shared/control.py).

No `from __future__ import annotations` here: the Functions worker reads the orchestrator
trigger's annotations at runtime.
"""

import datetime as dt
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from shared.batchstate import BatchCarry, BatchPlan
from shared.batchstatus import batch_document
from shared.contracts import (
    BATCH_ABORT,
    BATCH_ROUND,
    FORGET_ABORT_REQUEST,
    READ_ABORT_REQUEST,
    BatchAbortJob,
    BatchRound,
    BatchRoundJob,
    Error,
    Failed,
    InstanceJob,
    Ok,
)
from shared.copyrun import DurableRun, Gen, seconds
from shared.outcomes import Outcome, aborted_error, backoff_seconds
from shared.polling import RENEW_FRACTION
from shared.status import FINAL_STATES, State
from shared.timestamps import iso, parse_iso

BATCH_ORCHESTRATOR = "batch_orchestrator"
CONTINUED = "continued"
#: Rounds of aborting before the batch ends with what is still pending reported as a warning.
STOP_ROUNDS = 24
bp = df.Blueprint()


class BatchRun(DurableRun):
    """One execution of a batch: its plan, its carried state, and its rounds."""

    def __init__(self, context: Any, plan: BatchPlan) -> None:
        super().__init__(context, plan.retry_first_ms, plan.retry_attempts)
        self.plan = plan
        deadline = iso(self.now + dt.timedelta(seconds=plan.timeout_seconds))
        self.carry = plan.carry or BatchCarry(deadline=deadline)

    # --- the flow -----------------------------------------------------------------------

    def execute(self) -> Gen:
        """Run rounds until the batch ends (an Outcome) or the execution continues as new."""
        self.publish_progress()
        if self.carry.stopping is None:  # an abort may be recorded before the batch began
            yield from self.read_recorded_abort()
        while True:
            self.notice_stop()
            if self.carry.stopping is not None and not self.carry.pending:
                return self.carry.stopping
            if self.carry.exhausted and not self.carry.pending:
                return self.outcome()
            if self.wakeups >= self.plan.polls_per_execution:
                carry = replace(self.carry, executions=self.carry.executions + 1)
                self.ctx.continue_as_new(self.plan.with_carry(carry).to_input())
                return CONTINUED
            if self.carry.stopping is not None:
                yield from self.abort_pending()
            moved = yield from self.round()
            if moved is None:  # the round ran out of retries: an outage, try again later
                yield from self.wait(backoff_seconds(self.carry.troubles, self.plan.poll_min))
            elif self.carry.pending and not moved:
                yield from self.wait(self.idle_delay())
            elif self.carry.pending:
                yield from self.wait(self.plan.poll_min)
            self.wakeups += 1

    def notice_stop(self) -> None:
        """An abort (event) or the deadline turns the batch to stopping: no more starts."""
        if self.carry.stopping is not None:
            return
        if self.abort.is_completed:
            self.stop(Outcome(State.ABORTED, aborted_error(self.abort_reason())))
        elif self.now >= parse_iso(self.carry.deadline):
            error = {"code": "Timeout", "message": "batch did not finish before its deadline"}
            self.stop(Outcome(State.TIMED_OUT, error))

    def stop(self, wanted: Outcome) -> None:
        self.carry = replace(self.carry, stopping=wanted, idle_rounds=0)
        self.publish_progress()

    def read_recorded_abort(self) -> Gen:
        """An abort raised as the previous execution continued as new was dropped with its
        batch; its record was not."""
        result = yield from self.call(READ_ABORT_REQUEST, InstanceJob(self.plan.id))
        if isinstance(result, Ok) and result.value.requested:
            self.stop(Outcome(State.ABORTED, aborted_error(result.value.reason)))

    # --- one round ----------------------------------------------------------------------

    def round(self) -> Generator[Any, Any, bool | None]:
        """Run one round; whether anything started or ended (None: it ran out of retries)."""
        job = BatchRoundJob(
            batch_id=self.plan.id,
            request=self.plan.request,
            asked_at=self.carry.unfinished_round_asked_at or iso(self.now),
            deadline=self.carry.deadline,
            pending=self.carry.pending,
            marker=self.carry.marker,
            fill=self.carry.stopping is None and not self.carry.exhausted,
            report_length=self.carry.report_length,
            page_size=self.plan.page_size,
            lease_seconds=self.plan.lease_seconds,
            stopping=self.carry.stopping is not None,
        )
        result = yield from self.call(BATCH_ROUND, job)
        if isinstance(result, Failed):
            if result.exhausted:
                self.carry = replace(
                    self.carry,
                    troubles=self.carry.troubles + 1,
                    unfinished_round_asked_at=job.asked_at,
                )
                return None
            self.fail_batch(result.error)
            return True
        return self.fold(result.value)

    def fold(self, found: BatchRound) -> bool:
        """Take a round's answer into the carried state."""
        before = self.carry.tally
        tally = before.plus(found.tally)
        moved = tally != before or len(found.pending) != len(self.carry.pending)
        errors = dict(self.carry.errors)
        for code, count in found.errors.items():
            errors[code] = errors.get(code, 0) + count
        self.carry = replace(
            self.carry,
            pending=found.pending,
            marker=found.marker,
            exhausted=self.carry.exhausted or found.exhausted,
            tally=tally,
            pending_bytes_copied=found.pending_bytes_copied,
            pending_bytes_total=found.pending_bytes_total,
            report_length=found.report_length,
            errors=errors,
            idle_rounds=0 if moved else self.carry.idle_rounds + 1,
            troubles=0,
            unfinished_round_asked_at=None,
            rounds=self.carry.rounds + 1,
        )
        self.carry = replace(self.carry, estimated_finish=self.estimate())
        self.publish_progress()
        return moved

    def estimate(self) -> str | None:
        """When the last copy should end, at the rate seen so far; unknown until every blob
        is listed (what is left is not known before)."""
        carry = self.carry
        done = carry.tally.bytes_copied + carry.pending_bytes_copied
        elapsed = (self.now - parse_iso(self.plan.created)).total_seconds()
        if not carry.exhausted or done <= 0 or elapsed <= 0:
            return None
        left = max(carry.pending_bytes_total - carry.pending_bytes_copied, 0)
        return iso(self.now + seconds(min(left / (done / elapsed), 366 * 86400.0)))

    def fail_batch(self, error: Error) -> None:
        """A round refused outright (a container gone, no right to list): the batch stops."""
        self.stop(Outcome(State.FAILED, error))
        if not self.carry.pending:
            self.carry = replace(self.carry, exhausted=True)

    def abort_pending(self) -> Gen:
        """Ask storage to abort every pending copy; the next round reads how each ended."""
        if self.carry.rounds and self.carry.idle_rounds >= STOP_ROUNDS:
            self.warn("CopiesNotAborted", f"{len(self.carry.pending)} copies still pending")
            self.carry = replace(self.carry, pending=[])
            return
        job = BatchAbortJob(self.plan.request, self.carry.pending, self.plan.id)
        yield from self.call(BATCH_ABORT, job)

    def idle_delay(self) -> float:
        """Nothing moved: wait longer each time, within the poll bounds."""
        delay = self.plan.poll_min * 2.0 ** min(self.carry.idle_rounds, 30)
        return min(max(delay, self.plan.poll_min), self.plan.poll_max)

    def next_due(self) -> float | None:
        """Seconds until a pending copy needs a round whatever its progress: its renewed lease
        comes due (rounds at most half a renewal period apart, so each lease is renewed
        between a third and a half of its life), or its `blob_timeout_seconds` passes."""
        request, due = self.plan.request, []
        if self.carry.pending and request.get("lease_source") == "renewed":
            due.append(self.plan.lease_seconds * RENEW_FRACTION / 2)
        limit = request.get("blob_timeout_seconds")
        started = [parse_iso(b.started_at) for b in self.carry.pending if b.started_at]
        if limit and started:
            first = min(started) + dt.timedelta(seconds=limit)
            due.append(max((first - self.now).total_seconds(), 0.0))
        return min(due) if due else None

    def wait(self, delay: float) -> Gen:
        """Sleep `delay` seconds (less if a lease or a timeout comes due first), or until the
        abort comes."""
        due = self.next_due()
        delay = delay if due is None else max(min(delay, due), self.plan.poll_min)
        timer = self.ctx.create_timer(self.now + seconds(delay))
        if self.carry.stopping is not None:
            yield timer
            return
        yield self.ctx.task_any([timer, self.abort])
        if self.abort.is_completed and not timer.is_completed:
            timer.cancel()

    # --- the end ------------------------------------------------------------------------

    def outcome(self) -> Outcome:
        """Every blob has ended: succeeded, unless some failed or were aborted (by someone
        else: this batch was not stopping)."""
        tally = self.carry.tally
        if tally.failed or tally.aborted:
            message = (
                f"{tally.failed} failed and {tally.aborted} aborted of {tally.listed} blobs"
                " (see the report)"
            )
            return Outcome(State.FAILED, {"code": "BlobsFailed", "message": message})
        return Outcome(State.SUCCEEDED)

    def finish(self, outcome: Outcome) -> Gen:
        """Forget the abort record, publish the result, return the final document."""
        if outcome.state == State.ABORTED or self.abort.is_completed:
            yield from self.call(FORGET_ABORT_REQUEST, InstanceJob(self.plan.id))
        doc = self.document(outcome.state, outcome.error)
        refused = yield from self.notify(self.plan.request, self.plan.results_queue, doc)
        if refused is not None:
            self.warn("ResultNotPublished", refused.error.get("message", ""))
            doc = self.document(outcome.state, outcome.error)
        self.ctx.set_custom_status(doc)
        return doc

    def warn(self, code: str, message: str) -> None:
        warnings = [*(self.carry.warnings or []), {"code": code, "message": message[:500]}]
        self.carry = replace(self.carry, warnings=warnings)

    def document(self, state: State, error: Error | None = None) -> dict[str, Any]:
        """The public status document for the current state."""
        carry, final = self.carry, state in FINAL_STATES
        return batch_document(
            instance_id=self.plan.id,
            state=state,
            request=self.plan.request,
            tally=carry.tally,
            running=len(carry.pending),
            listing_complete=carry.exhausted,
            bytes_copied=carry.tally.bytes_copied + carry.pending_bytes_copied,
            total_bytes=carry.tally.bytes_copied + carry.pending_bytes_total,
            estimated_finish=None if final else carry.estimated_finish,
            report_url=self.plan.report_url if carry.report_length else None,
            errors=carry.errors,
            created=self.plan.created,
            updated=iso(self.now),
            completed=iso(self.now) if final else None,
            error=error,
            warnings=carry.warnings,
        )

    def publish_progress(self) -> None:
        self.ctx.set_custom_status(self.document(State.RUNNING))


def batch_orchestration(context: Any) -> Gen:
    """The orchestrator body: the final document, or None when continued as new."""
    run = BatchRun(context, BatchPlan.from_input(context.get_input()))
    outcome = yield from run.execute()
    if outcome == CONTINUED:
        return None
    return (yield from run.finish(outcome))


@bp.orchestration_trigger(context_name="context")
def batch_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One batch: every blob under a prefix, in rounds."""
    return (yield from batch_orchestration(context))
