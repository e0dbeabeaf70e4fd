"""The Durable engine's protocol layer against the real SDK, without any I/O."""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.ReplaySchema import ReplaySchema
from azure.durable_functions.models.utils.json_utils import parse_timespan_attrib

from devhost.durable import episode as ep
from devhost.durable import protocol as p
from devhost.durable.protocol import ActionType, EventType
from devhost.durable.state import ExecutionState, OpenActivity, RetryState
from devhost.settings import DurableSettings
from tests.unit.durablekit import T0, failed, fired, make_instance, raised, run_episode, started


def test_context_is_accepted_by_the_sdk() -> None:
    """The SDK builds its context from our JSON: input text, ids and history events."""
    history = [
        p.encode_event(
            p.event(EventType.ORCHESTRATOR_STARTED, p.format_timestamp(T0)), played=True
        ),
        p.encode_event(started('{"a": 1}'), played=True),
    ]
    text = p.build_context(
        instance_id="abc",
        parent_instance_id=None,
        input_text='{"a": 1}',
        encoded_history=history,
        maximum_short_timer=timedelta(days=6),
        long_timer_interval=timedelta(days=3),
    )
    context = DurableOrchestrationContext.from_json(text)
    assert context.instance_id == "abc"
    assert context.get_input() == {"a": 1}
    assert context.current_utc_datetime == T0
    assert json.loads(text)["upperSchemaVersionNew"] == 2


def test_encode_event_sets_is_played() -> None:
    """Played and new events differ only in IsPlayed."""
    item = p.event(EventType.TIMER_FIRED, "t", TimerId=3)
    assert json.loads(p.encode_event(item, played=True))["IsPlayed"] is True
    assert json.loads(p.encode_event(item, played=False)) == {**item, "IsPlayed": False}


def test_flatten_numbers_compound_actions_depth_first() -> None:
    """WhenAll/WhenAny children are listed depth-first, in the order the SDK numbers them."""
    groups = [
        [
            {"actionType": 0, "functionName": "a", "input": "1"},
            {
                "actionType": 11,
                "compoundActions": [
                    {"actionType": 5, "fireAt": "2024-01-01T00:00:01.000000Z", "isCanceled": False},
                    {
                        "actionType": 12,
                        "compoundActions": [{"actionType": 6, "externalEventName": "x"}],
                    },
                ],
            },
        ]
    ]
    kinds = [a.kind for a in p.flatten_actions(groups)]
    assert kinds == [
        ActionType.CALL_ACTIVITY,
        ActionType.CREATE_TIMER,
        ActionType.WAIT_FOR_EXTERNAL_EVENT,
    ]


def test_v1_action_groups_flatten_alike() -> None:
    """The V1 form (a list per yield) gives the same leaves."""
    groups = [[{"actionType": 0, "functionName": "a"}], [{"actionType": 0, "functionName": "b"}]]
    assert [a.name for a in p.flatten_actions(groups)] == ["a", "b"]


def test_parse_reply_reads_retry_options_and_timers() -> None:
    """Retry options and a naive fireAt (the SDK's format) are read as UTC values."""
    state = {
        "isDone": False,
        "schemaVersion": 2,
        "actions": [
            [
                {
                    "actionType": 1,
                    "functionName": "f",
                    "input": "null",
                    "retryOptions": {
                        "firstRetryIntervalInMilliseconds": 500,
                        "maxNumberOfAttempts": 4,
                    },
                },
                {"actionType": 5, "fireAt": "2024-01-01T01:00:06.000000Z", "isCanceled": True},
            ]
        ],
    }
    retry, timer = p.parse_reply(json.dumps(state)).actions
    assert retry.retry == p.Retry(500, 4)
    assert timer.fire_at == T0 + timedelta(hours=1, seconds=6)
    assert timer.is_canceled


def test_unknown_action_type_is_a_protocol_error() -> None:
    """An action type the engine does not know is reported, not silently skipped."""
    state = {"isDone": False, "actions": [[{"actionType": 99}]]}
    with pytest.raises(p.ProtocolError, match="cannot read"):
        p.parse_reply(json.dumps(state))


def test_parse_failure_reads_the_state_after_the_marker() -> None:
    """A failed orchestrator's exception carries its state after $OutOfProcData$."""
    state = {"isDone": False, "actions": [[]], "error": "boom", "customStatus": "s"}
    reply = p.parse_failure(Exception(f"boom\n\n$OutOfProcData$:{json.dumps(state)}"))
    assert reply.error == "boom"
    assert reply.custom_status == "s"


def test_parse_failure_without_marker_keeps_the_message() -> None:
    """Any other exception becomes the error text."""
    assert p.parse_failure(ValueError("bad")).error == "bad"


def test_continue_as_new_is_the_last_action_of_a_done_reply() -> None:
    """isDone with a trailing ContinueAsNew means a new execution, not completion."""
    state = {"isDone": True, "actions": [[{"actionType": 4, "input": '{"gen": 1}'}]]}
    reply = p.parse_reply(json.dumps(state))
    assert reply.continue_as_new is not None
    assert reply.continue_as_new.input == '{"gen": 1}'


def test_timestamps_round_trip_in_utc() -> None:
    """Formatted timestamps end in Z and parse back to the same moment."""
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    text = p.format_timestamp(moment)
    assert text == "2024-05-06T07:08:09.123456Z"
    assert p.parse_timestamp(text) == moment


def greet(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity("hello", "Tokyo"))


def test_first_episode_schedules_the_activity_with_number_zero() -> None:
    """The first call_activity gets task number 0 and a TaskScheduled event."""
    inst = make_instance()
    result = run_episode(inst, df.Orchestrator.create(greet), [started()], T0)
    assert result.outcome is ep.Outcome.RUNNING
    assert result.work.activities == [(0, "hello", '"Tokyo"')]
    kinds = [e["EventType"] for e in result.new_events]
    assert kinds == [
        EventType.ORCHESTRATOR_STARTED,
        EventType.EXECUTION_STARTED,
        EventType.TASK_SCHEDULED,
        EventType.ORCHESTRATOR_COMPLETED,
    ]


def test_completion_episode_completes_with_the_result() -> None:
    """Delivering TaskCompleted(0) completes the orchestration with the activity's result."""
    inst = make_instance()
    handle = df.Orchestrator.create(greet)
    run_episode(inst, handle, [started()], T0)
    done = p.event(
        EventType.TASK_COMPLETED, p.format_timestamp(T0), TaskScheduledId=0, Result='"Hello Tokyo"'
    )
    result = run_episode(inst, handle, [done], T0 + timedelta(seconds=1))
    assert result.outcome is ep.Outcome.COMPLETED
    assert result.output == "Hello Tokyo"


def retried(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield ctx.call_activity("hello", "a")
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    second = yield ctx.call_activity_with_retry("flaky", options, "b")
    return [first, second]


def test_retry_takes_a_timer_number_then_a_new_attempt_number() -> None:
    """A failed attempt gets retry timer n+1 and the next attempt n+2, as the SDK expects (§5)."""
    inst = make_instance()
    handle = df.Orchestrator.create(retried)
    run_episode(inst, handle, [started()], T0)
    ok = p.event(EventType.TASK_COMPLETED, p.format_timestamp(T0), TaskScheduledId=0, Result='"A"')
    assert run_episode(inst, handle, [ok], T0).work.activities == [(1, "flaky", '"b"')]
    after_fail = run_episode(inst, handle, [failed(1)], T0)
    assert [t for t, _ in after_fail.work.timers] == [2]
    assert run_episode(inst, handle, [fired(2)], T0).work.activities == [(3, "flaky", '"b"')]
    run_episode(inst, handle, [failed(3)], T0)
    final = run_episode(inst, handle, [fired(4)], T0)
    assert final.outcome is ep.Outcome.FAILED
    assert "r \n d" in str(final.output)


def test_replay_that_calls_another_activity_is_reported() -> None:
    """A replay whose first action differs from history fails with a non-determinism message."""
    inst = make_instance()
    run_episode(inst, df.Orchestrator.create(greet), [started()], T0)

    def other(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity("flaky", "x"))

    done = p.event(
        EventType.TASK_COMPLETED, p.format_timestamp(T0), TaskScheduledId=0, Result='"x"'
    )
    result = run_episode(inst, df.Orchestrator.create(other), [done], T0)
    assert result.outcome is ep.Outcome.FAILED
    assert "Non-deterministic workflow detected" in str(result.output)


@pytest.mark.parametrize("kind", [ActionType.CALL_ENTITY, ActionType.CALL_HTTP])
def test_unsupported_actions_have_a_clear_error(kind: ActionType) -> None:
    """Entities and durable HTTP are refused with a message naming the feature."""
    assert "not supported by devhost" in ep.UNSUPPORTED[kind]


def test_execution_state_survives_a_round_trip_through_json() -> None:
    """The per-execution bookkeeping reads back exactly as written (integer keys included)."""
    state = ExecutionState(
        execution_id="x", version="1.0", next_id=5, signatures=["CALL_ACTIVITY:a"]
    )
    state.activities[3] = OpenActivity("a", '"in"')
    state.timers[4] = "2024-01-01T00:00:00.000000Z"
    state.suborchestrations[2] = "x:2"
    state.retries[1] = RetryState("activity", "a", None, 100, 3, attempt=2)
    state.retry_of_task[3] = 1
    state.retry_of_timer[4] = 1
    assert ExecutionState.from_json(state.to_json()) == state


def cancel_then_wait(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=5))
    go = ctx.wait_for_external_event("go")
    winner = yield ctx.task_any([timer, go])
    if winner == go:
        timer.cancel()
    ctx.set_custom_status("waiting for end")
    return (yield ctx.wait_for_external_event("end"))


def test_a_cancelled_timer_stays_armed() -> None:
    """A timer cancelled after losing its race keeps its timer: Azure still fires it."""
    inst = make_instance()
    handle = df.Orchestrator.create(cancel_then_wait)
    first = run_episode(inst, handle, [started()], T0)
    assert [t for t, _ in first.work.timers] == [0]
    run_episode(inst, handle, [raised("go", '"g"')], T0)
    assert 0 in inst.execution.timers


def test_the_sdk_tolerates_a_cancelled_timer_firing_later() -> None:
    """The cancelled timer's TimerFired, alone in a later episode, resumes nothing; the
    orchestration then completes on its event (SDK: WhenAnyTask ignores a late child)."""
    inst = make_instance()
    handle = df.Orchestrator.create(cancel_then_wait)
    run_episode(inst, handle, [started()], T0)
    run_episode(inst, handle, [raised("go", '"g"')], T0)
    late = run_episode(inst, handle, [fired(0, T0 + timedelta(seconds=5))], T0)
    assert late.outcome is ep.Outcome.RUNNING and not late.work.activities
    assert late.custom_status == "waiting for end"
    done = run_episode(inst, handle, [raised("end", '"bye"')], T0 + timedelta(seconds=6))
    assert done.outcome is ep.Outcome.COMPLETED and done.output == "bye"


def test_the_sdk_tolerates_a_cancelled_timer_in_the_batch_that_cancels_it() -> None:
    """[EventRaised(go), TimerFired] together: go wins, the timer is cancelled and then read."""
    inst = make_instance()
    handle = df.Orchestrator.create(cancel_then_wait)
    run_episode(inst, handle, [started()], T0)
    both = run_episode(inst, handle, [raised("go", '"g"'), fired(0)], T0 + timedelta(seconds=5))
    assert both.outcome is ep.Outcome.RUNNING
    done = run_episode(inst, handle, [raised("end", '"bye"')], T0 + timedelta(seconds=6))
    assert done.output == "bye"


def test_the_context_carries_the_extensions_long_timer_settings() -> None:
    """As OrchestrationTriggerAttributeBindingProvider sends them: TimeSpan text, Azure
    Storage's 6 and 3 days (AzureStorageDurabilityProvider), and the SDK reads them as V3."""
    context, _ = ep.begin(make_instance(), [started()], T0)
    sent = json.loads(context)
    assert sent["maximumShortTimerDuration"] == "6.00:00:00"
    assert sent["longRunningTimerIntervalDuration"] == "3.00:00:00"
    assert (sent["upperSchemaVersion"], sent["upperSchemaVersionNew"]) == (1, 2)
    sdk = DurableOrchestrationContext.from_json(context)
    assert sdk._maximum_short_timer_duration == timedelta(days=6)
    assert sdk._long_timer_interval_duration == timedelta(days=3)
    assert sdk._replay_schema is ReplaySchema.V3


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=3), "3.00:00:00"),
        (timedelta(seconds=2), "00:00:02"),
        (timedelta(milliseconds=500), "00:00:00.5000000"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5), "1.02:03:04.0000050"),
    ],
)
def test_timespans_are_written_as_dotnet_writes_them(span: timedelta, text: str) -> None:
    """TimeSpan "c" text, which the SDK's parser (exactly 7 fraction digits) reads back."""
    assert p.format_timespan(span) == text
    assert parse_timespan_attrib(text) == span


def five_second_timer(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    yield ctx.create_timer(T0 + timedelta(seconds=5))
    return ctx.current_utc_datetime.isoformat()


def test_a_long_timer_runs_as_successive_timers() -> None:
    """With max 2 s / interval 1 s, a 5 s timer is timers of 1 s until 2 s remain, then one to
    its deadline (the SDK's LongTimerTask); each is numbered and fired, and the code resumes
    only at the deadline."""
    settings = DurableSettings(
        maximum_short_timer=timedelta(seconds=2), long_timer_interval=timedelta(seconds=1)
    )
    inst, handle = make_instance(), df.Orchestrator.create(five_second_timer)
    result = run_episode(inst, handle, [started()], T0, settings)
    fire_times = []
    while result.work.timers:
        [(timer_id, fire_at)] = result.work.timers
        fire_times.append(fire_at)
        result = run_episode(inst, handle, [fired(timer_id, fire_at)], fire_at, settings)
    assert [(t - T0).total_seconds() for t in fire_times] == [1, 2, 3, 5]
    assert result.outcome is ep.Outcome.COMPLETED
    assert datetime.fromisoformat(result.output) == T0 + timedelta(seconds=5)
