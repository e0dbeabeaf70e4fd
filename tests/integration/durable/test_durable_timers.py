"""Durable timers as Azure runs them: late, never early (DEVHOST_TIMER_DELAY_SECONDS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from durable_harness import Harness

from devhost.durable.protocol import parse_timestamp
from devhost.settings import DurableSettings, TimerDelay

pytestmark = pytest.mark.integration
TIMER_FIRED, ORCHESTRATOR_STARTED = 11, 12


@pytest.fixture
async def late(tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness whose timers fire 0.2 to 0.4 s after their deadline."""
    settings = DurableSettings(timer_delay=TimerDelay(low=0.2, high=0.4))
    harness = Harness(tmp_path / "durable.db", settings=settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


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
