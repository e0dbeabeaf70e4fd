"""Episodes take every message that has arrived, as a work item of the Durable extension does.

DurableTask.Core `TaskOrchestrationDispatcher` runs one work item over all of its new messages,
so an EventRaised and the TimerFired it races can reach the SDK in one episode (protocol §6).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import pytest
from durable_harness import Harness, episodes, event_queued, held, until_status

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus
TIMER_FIRED, EVENT_RAISED = 11, 15


def delivered(history: list[dict[str, Any]]) -> list[list[int]]:
    """Per episode, the timers and events it delivered."""
    return [[t for t in e if t in (TIMER_FIRED, EVENT_RAISED)] for e in episodes(history)]


async def test_timer_and_event_in_one_episode_the_timer_first(durable: Harness) -> None:
    """TimerFired then EventRaised in one batch: the timer wins, and the SDK reads the event
    in the same episode (the orchestrator, awaiting it next, ends at once)."""
    instance_id = await durable.client.start_new("timer_or_event")
    await until_status(durable, instance_id, Status.Running)
    await held(durable, instance_id)
    await event_queued(durable, instance_id, TIMER_FIRED)
    await durable.client.raise_event(instance_id, "x", "late")
    await durable.client.resume(instance_id, "deliver both")
    status = await durable.finished(instance_id)
    assert status.output == ["timer", '"late"']
    assert durable.engine is not None
    assert [TIMER_FIRED, EVENT_RAISED] in delivered(durable.engine.history(instance_id))


async def test_timer_and_event_in_one_episode_the_event_first(durable: Harness) -> None:
    """EventRaised then TimerFired in one batch: the event wins the race."""
    instance_id = await durable.client.start_new("timer_or_event")
    await until_status(durable, instance_id, Status.Running)
    await held(durable, instance_id)
    await durable.client.raise_event(instance_id, "x", "first")
    await event_queued(durable, instance_id, TIMER_FIRED)
    await durable.client.resume(instance_id, "deliver both")
    status = await durable.finished(instance_id)
    assert status.output == ["event", '"first"']
    assert durable.engine is not None
    assert [EVENT_RAISED, TIMER_FIRED] in delivered(durable.engine.history(instance_id))
