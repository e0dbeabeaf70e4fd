"""Durable timers as Azure runs them: late, never early, and long ones split into pieces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from durable_harness import Harness, running

from devhost.durable.protocol import parse_timestamp
from devhost.settings import DurableSettings, TimerDelay

pytestmark = pytest.mark.integration
TIMER_CREATED, TIMER_FIRED, ORCHESTRATOR_STARTED = 10, 11, 12


@pytest.fixture
async def late(tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness whose timers fire 0.2 to 0.4 s after their deadline."""
    settings = DurableSettings(timer_delay=TimerDelay(low=0.2, high=0.4))
    async with running(tmp_path / "durable.db", settings=settings) as harness:
        yield harness


@pytest.fixture
async def short_timers(tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness that splits timers longer than 1 s into 0.5 s pieces (Azure: 6 and 3 days)."""
    settings = DurableSettings(
        maximum_short_timer=timedelta(seconds=1), long_timer_interval=timedelta(seconds=0.5)
    )
    async with running(tmp_path / "durable.db", settings=settings) as harness:
        yield harness


async def test_a_long_timer_fires_through_successive_timers(short_timers: Harness) -> None:
    """A 3 s timer runs as TimerCreated/TimerFired pairs of 0.5 s, the last one at its deadline
    (the SDK's LongTimerTask, fed maximumShortTimerDuration and longRunningTimerIntervalDuration
    as the extension sends them), and the orchestration resumes at or after that deadline."""
    instance_id = await short_timers.client.start_new("long_timer", client_input=3)
    status = await short_timers.finished(instance_id)
    assert short_timers.engine is not None
    history = short_timers.engine.history(instance_id)
    created = [e for e in history if e["EventType"] == TIMER_CREATED]
    fired = [e for e in history if e["EventType"] == TIMER_FIRED]
    assert len(created) == len(fired) >= 4
    assert [e["TimerId"] for e in fired] == [e["EventId"] for e in created]
    fire_at, resumed = (parse_timestamp(t) for t in status.output)
    assert parse_timestamp(created[-1]["FireAt"]) == fire_at
    assert all(parse_timestamp(e["FireAt"]) < fire_at for e in created[:-1])
    assert resumed >= fire_at
    assert parse_timestamp(history[-1]["Timestamp"]) >= fire_at  # ExecutionCompleted


async def test_late_timers_fire_after_their_deadline(late: Harness) -> None:
    """With a delay, each TimerFired is recorded at least the smallest delay after its fireAt,
    and the episode that reads it (so current_utc_datetime) is never before fireAt."""
    instance_id = await late.client.start_new("two_timers")
    status = await late.finished(instance_id)
    assert late.engine is not None
    history = late.engine.history(instance_id)
    fired = [(i, e) for i, e in enumerate(history) if e["EventType"] == TIMER_FIRED]
    assert len(fired) == 2
    for index, event in fired:
        fire_at = parse_timestamp(event["FireAt"])
        assert parse_timestamp(event["Timestamp"]) >= fire_at + timedelta(seconds=0.2)
        started = [e for e in history[:index] if e["EventType"] == ORCHESTRATOR_STARTED][-1]
        assert parse_timestamp(started["Timestamp"]) >= fire_at
    last_fire_at = parse_timestamp(fired[-1][1]["FireAt"])
    assert parse_timestamp(status.output) >= last_fire_at
