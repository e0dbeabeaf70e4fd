"""The copy orchestrator, written against the Durable context API and nothing else.

It only yields tasks and decides; the activities (function_app.py -> shared/activities.py) hold
all I/O, so every path here is unit-tested with a fake context. Flow (DESIGN §3):

    [snapshot destination] -> acquire source lease -> start copy
    -> while pending: race a timer (next poll / lease renewal / deadline) against the ONE
       `abort` wait created up front; renew the lease when due, read status when due,
       continue_as_new after `polls_per_execution` wake-ups (the abort wait carries over)
    -> always: release the lease, restore or drop the snapshot, [verify], [publish the result]

Activity results are envelopes: `{"ok": true, ...}` or `{"ok": false, "error": {code, message}}`
for permanent storage errors; transient ones raise inside the activity and are retried by
`call_activity_with_retry`; when retries run out the copy fails with the last error's code.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

from azure.durable_functions import RetryOptions

from shared import status
from shared.copystate import Carry, CopyPlan, iso, parse_iso, utc
from shared.errors import redact_text
from shared.polling import Observation, next_poll

Gen = Generator[Any, Any, Any]
_CODE = re.compile(r"\[([A-Za-z][A-Za-z0-9]*)\]")
CONTINUED = "continued"


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


@dataclass(frozen=True)
class Outcome:
    """How the copy ended: one of the final states, and the error when there is one."""

    state: str
    error: dict[str, Any] | None = None


def failure_from_exception(exc: BaseException) -> dict[str, Any]:
    """The error of an activity that raised through all its retries (no secrets, one line)."""
    text = redact_text(str(exc)).strip()
    message = text.splitlines()[-1] if text else type(exc).__name__
    in_message = _CODE.search(message)
    found = in_message or _CODE.search(text)
    if in_message:
        # "shared.errors.TransientStorageError: [Code] text": callers get the text, not our types.
        message = message[in_message.end() :].strip() or message
    return {"code": found.group(1) if found else "ActivityFailed", "message": message[:500]}


class CopyRun:
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
        """Call an activity with retries; exhausted retries become a failure envelope."""
        try:
            result = yield self.ctx.call_activity_with_retry(activity, self.retry, payload)
        except Exception as exc:  # the SDK raises a bare Exception for a failed activity
            return {"ok": False, "error": failure_from_exception(exc)}
        return json.loads(result) if isinstance(result, str) else result

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
            eta_seconds=None if final else self.carry.eta,
            created=self.plan.created,
            updated=iso(self.now),
            completed=iso(self.now) if final else None,
            error=error,
        )

    def publish_progress(self) -> None:
        """Custom status = the public status document while the copy runs."""
        self.ctx.set_custom_status(self.document(status.RUNNING))

    def execute(self) -> Gen:
        """Run until the copy ends (an Outcome) or the execution continues as new."""
        # Every execution publishes at once: continue_as_new resets custom status (as DTFx
        # does), and status readers must not see the copy's id and progress vanish meanwhile.
        self.publish_progress()
        if self.plan.carry is None:
            started = yield from self.begin()
            if started is not None:
                return started
        while True:
            if self.wakeups >= self.plan.polls_per_execution:
                ended = yield from self.drain_abort()
                if ended is not None:
                    return ended
                carry = replace(self.carry, executions=self.carry.executions + 1)
                self.ctx.continue_as_new(self.plan.with_carry(carry).to_input())
                return CONTINUED
            ended = yield from self.wait_once()
            if ended is not None:
                return ended

    def drain_abort(self) -> Gen:
        """Race an immediate timer against the abort before continuing as new.

        Once continue_as_new is decided, the SDK reads no further history and the host drops
        the rest of the batch: an abort delivered together with the last completion would be
        lost. One zero-length race lets it reach us first.
        """
        if not self.abort.is_completed:
            yield self.ctx.task_any([self.ctx.create_timer(self.now), self.abort])
        if self.abort.is_completed:
            return (yield from self.stop(Outcome(status.ABORTED, self.abort_error())))
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
            lease_id = str(self.ctx.new_guid())
            result = yield from self.call(
                self.acts.acquire_source_lease, self.lease_payload(lease_id)
            )
            if not result["ok"]:
                return Outcome(status.FAILED, result["error"])
            self.carry = replace(self.carry, lease_id=lease_id, lease_renewed_at=iso(self.now))
        # An abort raised before this point is parked by the SDK until the wait is first
        # yielded (in the first race), so it aborts the copy right after it starts.
        payload = {"request": request, "deadline": self.carry.deadline, "asked_at": iso(self.now)}
        result = yield from self.call(self.acts.start_copy, payload)
        return self.observe(result, started=True)

    def lease_payload(self, lease_id: str | None = None) -> dict[str, Any]:
        """What the lease activities need."""
        return {
            "source_url": self.plan.source_url,
            "lease_id": lease_id or self.carry.lease_id,
            "duration": -1 if self.plan.lease == "infinite" else self.plan.lease_seconds,
        }

    def abort_error(self) -> dict[str, Any]:
        """The error block of an aborted copy, with the caller's reason when given."""
        payload = self.abort.result if self.abort.is_completed else None
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)  # the client encodes event data twice
            except ValueError:
                payload = {"reason": payload}
        reason = payload.get("reason") if isinstance(payload, dict) else None
        return {"code": "Aborted", "message": str(reason or "aborted on request")[:500]}

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

    def schedule_poll(self) -> None:
        """Plan the next status read from the copy's progress (shared/polling.py)."""
        request_poll = self.plan.request.get("poll") or {}
        low = request_poll.get("min_seconds") or self.plan.poll_min
        high = max(request_poll.get("max_seconds") or self.plan.poll_max, low)
        last = self.carry.observation("last") or Observation(0.0, None, None)
        plan = next_poll(last, self.carry.observation("previous"), self.carry.idle_reads, low, high)
        due = self.now + dt.timedelta(seconds=plan.delay)
        self.carry = replace(self.carry, next_poll_at=iso(due), eta=plan.eta)
        self.publish_progress()

    def lease_due(self) -> dt.datetime | None:
        """When a renewed lease must be renewed (half its life, leaving room for late timers)."""
        if self.plan.lease != "renewed" or not self.carry.lease_id:
            return None
        renewed = parse_iso(self.carry.lease_renewed_at or iso(self.now))
        return renewed + dt.timedelta(seconds=self.plan.lease_seconds / 2)

    def wait_once(self) -> Gen:
        """One race of a timer against the abort event, and what is due after it."""
        deadline = parse_iso(self.carry.deadline)
        poll_at = parse_iso(self.carry.next_poll_at or iso(self.now))
        wake = min(t for t in (poll_at, self.lease_due(), deadline) if t is not None)
        timer = self.ctx.create_timer(wake)
        winner = yield self.ctx.task_any([timer, self.abort])
        self.wakeups += 1
        if winner is self.abort:
            if not timer.is_completed:
                timer.cancel()
            return (yield from self.stop(Outcome(status.ABORTED, self.abort_error())))
        if self.now >= deadline:
            error = {"code": "Timeout", "message": "copy did not finish before its deadline"}
            return (yield from self.stop(Outcome(status.TIMED_OUT, error)))
        due = self.lease_due()
        if due is not None and self.now >= due:
            result = yield from self.call(self.acts.renew_source_lease, self.lease_payload())
            if not result["ok"]:  # lost: stop the copy; releasing below is harmless
                return (yield from self.stop(Outcome(status.FAILED, result["error"])))
            self.carry = replace(self.carry, lease_renewed_at=iso(self.now))
        if self.now >= poll_at:
            payload = {"destination_url": self.plan.destination_url, "copy_id": self.carry.copy_id}
            result = yield from self.call(self.acts.check_copy, payload)
            if not result.get("ok") and (result.get("error") or {}).get("code") != "CopyReplaced":
                # we can no longer watch the copy: stop it rather than leave it running unseen
                return (yield from self.stop(Outcome(status.FAILED, result.get("error"))))
            return self.observe(result)
        return None

    def stop(self, wanted: Outcome) -> Gen:
        """Abort the copy; if it had already ended, report how it truly ended instead."""
        payload = {"destination_url": self.plan.destination_url, "copy_id": self.carry.copy_id}
        result = yield from self.call(self.acts.abort_copy, payload)
        if not result.get("ok"):
            error = result.get("error") or {}
            if error.get("code") == "CopyReplaced":
                return Outcome(status.FAILED, error)
            return Outcome(status.FAILED, wanted.error or error)
        if result.get("status") == "aborted":
            return wanted
        ended = self.observe(result)
        return ended if ended is not None else wanted

    def should_restore(self, outcome: Outcome) -> bool:
        """Put the old destination back only if our copy touched it and nobody else's did since.

        A copy that never started (lease conflict, DestinationExists) left it alone; one that
        another copy replaced no longer owns it, and restoring would destroy that copy.
        """
        if outcome.state == status.SUCCEEDED or not self.carry.copy_id:
            return False
        return (outcome.error or {}).get("code") != "CopyReplaced"

    def finish(self, outcome: Outcome) -> Gen:
        """Release, restore, verify and publish: run on every path that ends the copy."""
        payload: dict[str, Any]
        if self.carry.lease_id:
            payload = {"source_url": self.plan.source_url, "lease_id": self.carry.lease_id}
            yield from self.call(self.acts.release_source_lease, payload)
        restore = self.should_restore(outcome)
        if self.carry.snapshot is not None and (self.carry.snapshot or restore):
            payload = {
                "destination_url": self.plan.destination_url,
                "snapshot": self.carry.snapshot,
                "restore": restore,
            }
            yield from self.call(self.acts.finish_snapshot, payload)
        if (
            outcome.state == status.SUCCEEDED
            and self.plan.request.get("verify")
            and not (
                self.carry.skipped  # overwrite=if_newer kept a newer destination: nothing to verify
            )
        ):
            payload = {
                "source_url": self.plan.source_url,
                "destination_url": self.plan.destination_url,
                "total_bytes": (self.carry.last or {}).get("total"),
            }
            result = yield from self.call(self.acts.verify_copy, payload)
            if not result["ok"]:
                outcome = Outcome(status.FAILED, result["error"])
        doc = self.document(outcome.state, outcome.error)
        notify = self.plan.request.get("notify")
        if notify is not None:
            queue = notify.get("queue") or self.plan.results_queue
            yield from self.call(self.acts.publish_result, {"queue": queue, "document": doc})
        self.ctx.set_custom_status(doc)
        return doc


def copy_orchestration(context: Any, acts: Activities) -> Gen:
    """The orchestrator body: the result document, or None when continued as new."""
    run = CopyRun(context, acts, CopyPlan.from_input(context.get_input()))
    try:
        outcome = yield from run.execute()
    except Exception as exc:  # a defect here must still release the lease
        outcome = Outcome(status.FAILED, {"code": "InternalError", "message": str(exc)[:500]})
    if outcome == CONTINUED:
        return None
    return (yield from run.finish(outcome))
