"""The copy orchestrator, written against the Durable context API and nothing else.

It only yields tasks and decides; the activities (function_app.py -> shared/activities.py) hold
all I/O, so every path here is unit-tested with a fake context. Flow (DESIGN §3):

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

Activity results are envelopes: `{"ok": true, ...}` or `{"ok": false, "error": {code, message}}`
for permanent storage errors; transient ones raise inside the activity and are retried by
`call_activity_with_retry`; when retries run out, `call` says so with `"exhausted": true`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from shared import status
from shared.copyrun import Activities, CopyRunBase, Gen, error_code, ran_out_of_retries, seconds
from shared.copystate import CopyPlan
from shared.outcomes import Outcome, backoff_seconds, clamp, failure_from_exception
from shared.polling import Observation, next_poll
from shared.timestamps import iso, parse_iso

CONTINUED = "continued"
#: A finite lease is renewed once a third of it has passed (timed from before the last renewal
#: call), leaving two thirds for a late timer and a slow renewal.
RENEW_FRACTION = 1 / 3
#: Abort attempts (with back-off capped at 5 minutes: about 1.5 hours) before giving up and
#: reporting the copy as not aborted.
STOP_ATTEMPTS = 24
MAX_ETA_SECONDS = 366 * 86400.0  # an estimate beyond a year says only "not soon"
__all__ = ["CONTINUED", "Activities", "Outcome", "copy_orchestration", "failure_from_exception"]


class CopyRun(CopyRunBase):
    """The copy's flow: begin, wait and poll, stop; the ending is CopyRunBase's."""

    def execute(self) -> Gen:
        """Run until the copy ends (an Outcome) or the execution continues as new."""
        # Every execution publishes at once: continue_as_new resets custom status (as DTFx
        # does), and status readers must not see the copy's id and progress vanish meanwhile.
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
                return (yield from self.request_stop(Outcome(status.ABORTED, self.abort_error())))
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
        result = yield from self.call(self.acts.read_abort_request, {"instance_id": self.plan.id})
        if result.get("ok") and result.get("requested"):
            reason = result.get("reason") or "aborted on request"
            return (yield from self.request_stop(Outcome(status.ABORTED, _aborted(reason))))
        return None

    def begin(self) -> Gen:
        """Snapshot, lease and start the copy; an Outcome if it ended already, else None."""
        request = self.plan.request
        if request.get("snapshot_destination"):
            result = yield from self.call(
                self.acts.snapshot_destination, {"destination_url": self.plan.destination_url}
            )
            if not result["ok"]:
                return Outcome(status.FAILED, result["error"])
            # "" marks a destination that did not exist: restoring it means deleting it
            self.carry = replace(self.carry, snapshot=result.get("snapshot") or "")
        if self.plan.lease != "none":
            ended = yield from self.acquire_lease()
            if ended is not None:
                return ended
        # An abort raised before this point is parked by the SDK until the wait is first
        # yielded (in the first race); one recorded before the copy existed is read by start.
        payload = {
            "request": request,
            "deadline": self.carry.deadline,
            "asked_at": iso(self.now),
            "instance_id": self.plan.id,
        }
        result = yield from self.call(self.acts.start_copy, payload)
        if result.get("ok") and result.get("abort_requested"):
            reason = result.get("reason") or "aborted on request"
            return Outcome(status.ABORTED, _aborted(reason))
        return self.observe(result, started=True)

    def acquire_lease(self) -> Gen:
        """Lease the source; the id is kept before the call, so a lease whose acquire got
        through but whose answer was lost is still released."""
        lease_id, asked = str(self.ctx.new_guid()), self.now
        self.carry = replace(self.carry, lease_id=lease_id)
        result = yield from self.call(self.acts.acquire_source_lease, self.lease_payload())
        if result["ok"]:
            self.carry = replace(self.carry, lease_renewed_at=iso(asked))
            return None
        if not ran_out_of_retries(result):  # refused (held by another, no source): not ours
            self.carry = replace(self.carry, lease_id=None)
        return Outcome(status.FAILED, result["error"])

    def abort_error(self) -> dict[str, Any]:
        """The error block of an aborted copy, with the caller's reason when given."""
        payload = self.abort.result if self.abort.is_completed else None
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)  # the client encodes event data twice
            except ValueError:
                payload = {"reason": payload}
        reason = payload.get("reason") if isinstance(payload, dict) else None
        return _aborted(str(reason or "aborted on request"))

    def observe(self, result: dict[str, Any], started: bool = False) -> Outcome | None:
        """Fold a copy observation into the state; an Outcome when the copy is over."""
        if not result.get("ok"):
            return Outcome(status.FAILED, result.get("error"))
        now = self.now
        if started:
            copy_id, skipped = result.get("copy_id"), bool(result.get("skipped"))
            self.carry = replace(self.carry, copy_id=copy_id, started_at=iso(now), skipped=skipped)
        zero = parse_iso(self.carry.started_at or iso(now))
        seen = {"at": (now - zero).total_seconds(), "bytes": result.get("bytes_copied")}
        seen["total"] = result.get("total_bytes")
        old = self.carry.last or {}
        moved = (seen["bytes"] or 0) > (old.get("bytes") or 0)
        idle = 0 if moved or started else self.carry.idle_reads + 1
        self.carry = replace(
            self.carry,
            previous=self.carry.last if moved else self.carry.previous,
            last=seen,
            idle_reads=idle,
            status_reads=self.carry.status_reads + (0 if started else 1),
        )
        copy_status = result.get("status")
        if copy_status == "success":
            return Outcome(status.SUCCEEDED)
        if copy_status == "aborted":
            return Outcome(status.ABORTED, {"code": "Aborted", "message": "copy aborted"})
        if copy_status != "pending":
            message = result.get("description") or f"copy status {copy_status}"
            return Outcome(status.FAILED, {"code": "CopyFailed", "message": message})
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
        last = self.carry.observation("last") or Observation(0.0, None, None)
        plan = next_poll(last, self.carry.observation("previous"), self.carry.idle_reads, low, high)
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
            return (yield from self.request_stop(Outcome(status.ABORTED, self.abort_error())))
        if not stopping and self.now >= deadline:
            error = {"code": "Timeout", "message": "copy did not finish before its deadline"}
            return (yield from self.request_stop(Outcome(status.TIMED_OUT, error)))
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
        result = yield from self.call(self.acts.renew_source_lease, self.lease_payload())
        if result["ok"]:
            self.carry = replace(self.carry, lease_renewed_at=iso(asked), lease_retry_at=None)
            return None
        if ran_out_of_retries(result):  # an outage: try again soon; the copy itself is fine
            soon = min(self.plan.lease_seconds * RENEW_FRACTION / 2, 10.0)
            self.carry = replace(self.carry, lease_retry_at=iso(self.now + seconds(soon)))
            return None
        # Lost (broken, taken): nothing left to renew or release, so stop trying to.
        self.carry = replace(self.carry, lease_retry_at=None, lease_id=None)
        if self.carry.stopping is not None:
            return None  # stopping anyway; the abort goes on
        return (yield from self.request_stop(Outcome(status.FAILED, result["error"])))

    def poll(self) -> Gen:
        """Read the copy's status; an outage means looking again later, not stopping."""
        payload = {"destination_url": self.plan.destination_url, "copy_id": self.carry.copy_id}
        result = yield from self.call(self.acts.check_copy, payload)
        if result.get("ok") or error_code(result) == "CopyReplaced":
            self.carry = replace(self.carry, troubles=0)
            return self.observe(result)
        if ran_out_of_retries(result):
            self.retry_later()
            return None
        # we can no longer watch the copy: stop it rather than leave it running unseen
        return (yield from self.request_stop(Outcome(status.FAILED, result.get("error"))))

    def request_stop(self, wanted: Outcome) -> Gen:
        """From now on the copy is being stopped: try at once, and again until it is."""
        stopping = {"state": wanted.state, "error": wanted.error}
        self.carry = replace(self.carry, stopping=stopping, troubles=0)
        return (yield from self.try_stop())

    def true_end(self, seen: dict[str, Any], wanted: Outcome) -> Outcome | None:
        """How a copy we were stopping ended (None: still pending); aborted means our stop."""
        ended = self.observe(seen)
        return wanted if ended is not None and ended.state == status.ABORTED else ended

    def try_stop(self) -> Gen:
        """Abort the copy; the Outcome once it is no longer pending, else None (try later).

        If it had already ended, report how it truly ended instead. A copy that another copy
        replaced is not ours to abort.
        """
        stopping = self.carry.stopping or {}
        wanted = Outcome(stopping.get("state", status.FAILED), stopping.get("error"))
        payload = {"destination_url": self.plan.destination_url, "copy_id": self.carry.copy_id}
        result = yield from self.call(self.acts.abort_copy, payload)
        if result.get("ok"):
            return wanted if result.get("status") == "aborted" else self.true_end(result, wanted)
        if error_code(result) == "CopyReplaced":
            return Outcome(status.FAILED, result["error"])
        if not ran_out_of_retries(result):  # refused: perhaps the copy ended meanwhile; look
            seen = yield from self.call(self.acts.check_copy, payload)
            if seen.get("ok") and seen.get("status") != "pending":
                ended = self.true_end(seen, wanted)
                if ended is not None:
                    return ended
        if self.carry.troubles + 1 >= STOP_ATTEMPTS:
            # Hours of refusals (no right to abort or even read the destination): holding the
            # source lease for ever would be worse than saying plainly what was left behind.
            self.warn_once("CopyNotAborted", result.get("error"))
            return wanted
        self.warn_once("AbortRetried", result.get("error"))
        self.retry_later()
        return None


def _aborted(reason: str) -> dict[str, Any]:
    return {"code": "Aborted", "message": str(reason)[:500]}


def copy_orchestration(context: Any, acts: Activities) -> Gen:
    """The orchestrator body: the result document, or None when continued as new."""
    run = CopyRun(context, acts, CopyPlan.from_input(context.get_input()))
    try:
        outcome = yield from run.execute()
    except Exception as exc:  # a defect here must still stop the copy and release the lease
        outcome = Outcome(status.FAILED, {"code": "InternalError", "message": str(exc)[:500]})
        yield from run.abort_after_defect()
    if outcome == CONTINUED:
        return None
    return (yield from run.finish(outcome))
