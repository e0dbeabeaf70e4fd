"""devhost/durable/inbox.py: what one episode delivers, checked against the real SDK.

The Durable extension hands the SDK every new message of a work item at once (protocol §6; in
DurableTask.Core `TaskOrchestrationDispatcher` one work item carries all its `NewMessages`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from devhost.durable import episode as ep
from devhost.durable.inbox import take_batch
from devhost.durable.protocol import EventType
from devhost.durable.state import OpenActivity, RetryState
from tests.unit.durablekit import (
    T0,
    completed,
    failed,
    fired,
    history_message,
    make_instance,
    raised,
    run_episode,
    run_inbox,
    started,
)

Gen = Generator[Any, Any, Any]


def test_completions_timers_and_events_share_one_batch() -> None:
    """Everything that has arrived is delivered together, external events included."""
    inst = make_instance()
    inst.history.append(started())
    inst.execution.activities[0] = OpenActivity("hello", None)
    inst.execution.timers[1] = "2024-01-01T00:00:00.000000Z"
    events = [completed(0), raised("x", "1"), fired(1)]
    inbox = deque(history_message(e) for e in events)
    batch, stale = take_batch(inbox, inst)
    assert [m.event for m in batch] == events
    assert not stale and not inbox


def test_a_continued_execution_starts_with_its_carried_events_only() -> None:
    """After continue-as-new the first batch is ExecutionStarted + the carried events: DTFx
    runs that episode inside the work item that continued (TaskOrchestrationDispatcher), so an
    event that arrived meanwhile waits for the next one. After a restart the older message's
    row comes first; the carried events still follow their start."""
    inst = make_instance()
    inst.execution.carried_events = 1
    late, carried = raised("late", "1"), raised("carried", "2")
    inbox = deque(history_message(e) for e in (late, started(), carried))
    batch, _ = take_batch(inbox, inst)
    assert [m.event for m in batch] == [started(), carried]
    assert [m.event for m in inbox] == [late]


def test_a_fresh_execution_takes_its_start_and_what_follows() -> None:
    """ExecutionStarted leads the first batch; an event already queued joins it."""
    inst = make_instance()
    early = raised("x", "1")
    inbox = deque([history_message(early), history_message(started())])
    batch, _ = take_batch(inbox, inst)
    assert [m.event["EventType"] for m in batch if m.event] == [
        EventType.EXECUTION_STARTED,
        EventType.EVENT_RAISED,
    ]


def test_completions_of_an_ended_execution_are_dropped() -> None:
    """A result that belongs to a previous execution (continue-as-new) is never delivered."""
    inst = make_instance()
    inst.history.append(started())
    inst.execution.activities[0] = OpenActivity("hello", None)
    inbox = deque([history_message(completed(0), execution_id="old")])
    batch, stale = take_batch(inbox, inst)
    assert batch == []
    assert len(stale) == 1


def test_number_taking_retry_events_go_first() -> None:
    """A retried failure and a retry timer with attempts left lead; the last timer stays put."""
    inst = make_instance()
    inst.history.append(started())
    state = inst.execution
    state.activities.update({0: OpenActivity("hello", None), 1: OpenActivity("flaky", None)})
    state.retries[1] = RetryState("activity", "flaky", None, 10, 3)
    state.retry_of_task[1] = 1
    state.retries[5] = RetryState("activity", "flaky", None, 10, 2, attempt=1)
    state.retries[7] = RetryState("activity", "flaky", None, 10, 2, attempt=2)
    state.retry_of_timer.update({6: 5, 8: 7})
    state.timers.update({6: "t", 8: "t"})
    events = [completed(0), fired(8), failed(1), fired(6)]
    batch, _ = take_batch(deque(history_message(e) for e in events), inst)
    assert [m.event for m in batch] == [failed(1), fired(6), completed(0), fired(8)]


def race(ctx: df.DurableOrchestrationContext) -> Gen:
    """A timer against an event; after the timer wins, the same event is awaited."""
    timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=5))
    event = ctx.wait_for_external_event("x")
    winner = yield ctx.task_any([timer, event])
    if winner == timer:
        return ["timer", (yield event)]
    timer.cancel()
    return ["event", event.result]


def test_the_sdk_reads_a_timer_and_its_rival_event_in_one_episode() -> None:
    """TimerFired then EventRaised in one batch: the timer wins and the event is read too."""
    inst, handle = make_instance(), df.Orchestrator.create(race)
    run_episode(inst, handle, [started()], T0)
    result = run_inbox(inst, handle, [fired(0), raised("x", '"late"')], T0 + timedelta(seconds=5))
    assert result.outcome is ep.Outcome.COMPLETED
    assert result.output == ["timer", "late"]


def test_the_first_of_the_batch_wins_the_race() -> None:
    """EventRaised then TimerFired in one batch: the event wins, the timer is not awaited."""
    inst, handle = make_instance(), df.Orchestrator.create(race)
    run_episode(inst, handle, [started()], T0)
    result = run_inbox(inst, handle, [raised("x", '"first"'), fired(0)], T0 + timedelta(seconds=5))
    assert result.outcome is ep.Outcome.COMPLETED
    assert result.output == ["event", "first"]


def mixed(ctx: df.DurableOrchestrationContext) -> Gen:
    """A plain call resumes the code (a new task) while a retried call fails in the same batch."""
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    plain = ctx.call_activity("hello", "a")
    retried = ctx.call_activity_with_retry("flaky", options, "b")
    yield ctx.task_any([plain, retried])
    extra = yield ctx.call_activity("hello", "c")
    return [plain.result, extra, (yield retried)]


def test_a_batch_with_a_retried_failure_is_numbered_as_the_sdk_numbers_it() -> None:
    """[TaskCompleted(plain), TaskFailed(retried)] arriving together: the retry timer and the
    task the resumed code creates get the numbers the SDK expects, and the instance completes.

    The SDK (RetryAbleTask.try_set_value) takes the retry timer's number while reading history,
    so the failure goes first in the batch and the engine numbers retry bookkeeping first.
    """
    inst, handle = make_instance(), df.Orchestrator.create(mixed)
    first = run_episode(inst, handle, [started()], T0)
    assert first.work.activities == [(0, "hello", '"a"'), (1, "flaky", '"b"')]
    both = run_inbox(inst, handle, [completed(0, '"A"'), failed(1)], T0)
    assert [t for t, _ in both.work.timers] == [2]
    assert both.work.activities == [(3, "hello", '"c"')]
    later = T0 + timedelta(seconds=1)
    retry = run_inbox(inst, handle, [completed(3, '"C"'), fired(2, later)], later)
    assert retry.work.activities == [(4, "flaky", '"b"')]
    done = run_inbox(inst, handle, [completed(4, '"B"')], later)
    assert done.outcome is ep.Outcome.COMPLETED
    assert done.output == ["A", "C", "B"]
