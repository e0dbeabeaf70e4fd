"""External events: early arrival, the reused abort wait, continue-as-new, payloads."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import pytest
from durable_apps import GATES, HOLDS
from durable_harness import (
    Harness,
    completion_queued,
    episodes,
    held,
    until_status,
    until_waiting,
)

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus


async def test_event_raised_before_the_wait_is_kept(durable: Harness, key: str) -> None:
    """An event that arrives before the orchestrator waits for it is delivered when it does."""
    instance_id = await durable.client.start_new("gate_then_event", client_input=key)
    await GATES.entered_wait(key)
    await durable.client.raise_event(instance_id, "x", {"early": True})
    GATES.open(key)
    status = await durable.finished(instance_id)
    assert status.output == '{"early": true}'


async def test_event_payload_arrives_as_json_text(durable: Harness) -> None:
    """The client encodes event data twice, so the orchestrator receives JSON text (as Azure)."""
    instance_id = await durable.client.start_new("waiting")
    await until_status(durable, instance_id, Status.Running)
    await durable.client.raise_event(instance_id, "go", {"ok": True})
    status = await durable.finished(instance_id)
    assert status.output == '{"ok": true}'
    assert status.custom_status == {"phase": "done"}


async def test_abort_between_timer_races_is_not_lost(durable: Harness, key: str) -> None:
    """An abort raised while an activity runs between two timer races wins the next race."""
    instance_id = await durable.client.start_new("abort_race", client_input=key)
    await GATES.entered_wait(f"{key}:1")
    await durable.client.raise_event(instance_id, "abort", "stop")
    GATES.open(f"{key}:1")
    status = await durable.finished(instance_id)
    assert status.output == {"aborted": '"stop"', "rounds": 1}


async def test_event_after_the_deciding_completion_is_carried_over(
    durable: Harness, key: str
) -> None:
    """[TaskCompleted, EventRaised] in the final batch: the SDK decides continue_as_new at the
    completion and never reads the event; DurableTask.Core, reading it after the shim's
    ContinueAsNew, carries it into the next execution (TaskOrchestrationContext.
    HandleEventRaisedEvent; Azure Storage's EventBehaviourForContinueAsNew is Carryover)."""
    instance_id = await durable.client.start_new("continuing", client_input={"gen": 0, "key": key})
    await GATES.entered_wait(key)
    await held(durable, instance_id)
    GATES.open(key)
    await completion_queued(durable, instance_id)
    await durable.client.raise_event(instance_id, "x", "carried")
    await durable.client.resume(instance_id, "go on")
    status = await durable.finished(instance_id)
    assert status.output == {"gen": 1, "x": '"carried"'}
    assert durable.engine is not None
    history = durable.engine.history(instance_id)
    assert [e["EventType"] for e in history[:3]] == [12, 0, 15]  # in the first episode


async def test_event_before_the_deciding_completion_is_lost(durable: Harness, key: str) -> None:
    """[EventRaised, TaskCompleted] in the final batch: the SDK reads the event (nothing waits
    for it, so it is parked), then continues as new; the shim's ContinueAsNew(action.Input)
    does not preserve unprocessed events (OutOfProcOrchestrationShim.cs), so it is gone."""
    instance_id = await durable.client.start_new("continuing", client_input={"gen": 0, "key": key})
    await GATES.entered_wait(key)
    await held(durable, instance_id)
    await durable.client.raise_event(instance_id, "x", "lost")
    GATES.open(key)
    await completion_queued(durable, instance_id)
    await durable.client.resume(instance_id, "go on")
    assert durable.engine is not None
    await until_waiting(durable, instance_id, '{"gen": 1')
    assert (await durable.client.get_status(instance_id)).runtime_status is Status.Running
    await durable.client.raise_event(instance_id, "x", "second")
    status = await durable.finished(instance_id)
    assert status.output == {"gen": 1, "x": '"second"'}


async def test_event_raised_during_the_final_episode_reaches_the_new_execution(
    durable_threaded: Harness, key: str
) -> None:
    """An event raised after the final episode's batch was taken is a new message: the new
    execution reads it in its second episode (on Azure it waits in the control queue for the
    next work item; DTFx runs the first episode inside the one that continued as new)."""
    harness = durable_threaded
    instance_id = await harness.client.start_new(
        "continuing_held", client_input={"gen": 0, "key": key}
    )
    await asyncio.to_thread(HOLDS.get(HOLDS.entered, key).wait, 20)
    await harness.client.raise_event(instance_id, "x", "after")
    HOLDS.get(HOLDS.released, key).set()
    status = await harness.finished(instance_id)
    assert status.output == {"gen": 1, "x": '"after"'}
    assert harness.engine is not None
    assert episodes(harness.engine.history(instance_id)) == [[0], [15, 1]]  # 15: EventRaised


async def test_raise_event_to_unknown_or_finished_instance_raises(durable: Harness) -> None:
    """Raising to an unknown id or to a finished instance raises like Azure's 404 and 410."""
    with pytest.raises(Exception, match="No instance with ID"):
        await durable.client.raise_event("missing", "x", 1)
    instance_id = await durable.client.start_new("one", client_input=1)
    await durable.finished(instance_id)
    with pytest.raises(Exception, match="is gone"):
        await durable.client.raise_event(instance_id, "x", 1)


async def test_cancelled_timer_still_fires_into_history(durable: Harness) -> None:
    """A timer cancelled after losing its race still gets its TimerFired in history, as on
    Azure (isCanceled cancels only the shim's .NET task: OutOfProcOrchestrationShim.cs), and
    the SDK, already past the race, neither resumes wrongly nor stalls."""
    instance_id = await durable.client.start_new("cancel_timer")
    await until_status(durable, instance_id, Status.Running)
    await durable.client.raise_event(instance_id, "go", 1)
    assert durable.engine is not None
    while not any(e["EventType"] == 11 for e in durable.engine.history(instance_id)):
        await asyncio.sleep(0.01)
    assert (await durable.client.get_status(instance_id)).runtime_status is Status.Running
    await durable.client.raise_event(instance_id, "end", "bye")
    status = await durable.finished(instance_id)
    assert status.output == '"bye"'
    history = durable.engine.history(instance_id)
    kinds = [e["EventType"] for e in history]
    assert kinds.index(15) < kinds.index(11)  # fired after go had won
