"""How often the copy orchestrator reads a copy's status: the timers it sets, read off a fake
context (the decisions themselves are shared/polling.py's, tested in test_polling.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.copystate import CopyPlan
from shared.orchestration import copy_orchestration
from tests.unit.fakedurable import T0, FakeContext, SimCopy, drive, names

SOURCE = "https://src.blob.core.windows.net/c/a.bin"
DEST = "https://dst.blob.core.windows.net/c/b.bin"
TOTAL = 1000


def plan() -> dict[str, Any]:
    """A copy without a lease (no renewal timers), polled from 1 s up."""
    body = {"source": {"url": SOURCE}, "destination": {"url": DEST}}
    return CopyPlan(
        id="copy-1", request=body, fingerprint="fp", created="2026-01-01T00:00:00.000000Z"
    ).to_input()


def scripted_reads(*copied: int) -> SimCopy:
    """A copy whose status reads show `copied` bytes in turn (pending), then success."""
    reads = iter(copied)

    def check_copy(payload: dict[str, Any], t: float) -> dict[str, Any]:
        done = next(reads, None)
        return {
            "ok": True,
            "status": "pending" if done is not None else "success",
            "copy_id": "c1",
            "bytes_copied": TOTAL if done is None else done,
            "total_bytes": TOTAL,
        }

    # Activities take no simulated time, so each timer's delay is exactly the planned one.
    return SimCopy(total=TOTAL, activity_seconds=0.0, overrides={"check_copy": check_copy})


def poll_delays(ctx: FakeContext) -> list[float]:
    """Seconds from each status read (start_copy included) to the timer set after it."""
    fire_times = [timer.info["fire_at"] for timer in ctx.timers]
    read_times = [T0, *fire_times[:-1]]
    return [
        (fire - read) / dt.timedelta(seconds=1)
        for fire, read in zip(fire_times, read_times, strict=True)
    ]


def test_a_copy_that_shows_no_progress_is_read_ever_more_rarely() -> None:
    """Status reads that show no bytes copied double the wait each time, from poll_min."""
    ctx = FakeContext(plan())
    doc = drive(copy_orchestration(ctx), ctx, scripted_reads(0, 0, 0, 0, 0))
    assert doc["state"] == "succeeded"
    assert names(ctx).count("check_copy") == 6
    assert poll_delays(ctx) == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_a_copy_that_stalls_after_progress_backs_off_too() -> None:
    """Once bytes stop moving, the rate seen before no longer plans the reads: each read that
    shows the same count doubles the wait again."""
    ctx = FakeContext(plan())
    doc = drive(copy_orchestration(ctx), ctx, scripted_reads(100, 100, 100, 100))
    assert doc["state"] == "succeeded"
    assert poll_delays(ctx)[2:] == [2.0, 4.0, 8.0]
