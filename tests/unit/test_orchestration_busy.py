"""A copy whose destination has another copy pending waits, then starts (shared/replicaops.py
answers `DestinationBusy`; shared/orchestration.py `start` and `poll` act on it)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.unit.fakedurable import SimCopy, names
from tests.unit.test_orchestration import make_plan, run

BUSY = {"ok": True, "destination_busy": True, "copy_id": "other", "status": "busy"}


def busy_then_start(times: int, sim: SimCopy) -> Any:
    """start_copy answers DestinationBusy `times` times, then starts as usual."""
    answers = iter(range(times))

    def answer(payload: dict[str, Any], t: float) -> Any:
        if next(answers, None) is not None:
            return BUSY
        sim.started_at = t
        return {"ok": True, "status": "pending", "copy_id": "c1", "bytes_copied": 0}

    return answer


def test_a_busy_destination_is_waited_for_then_the_copy_starts_and_succeeds() -> None:
    sim = SimCopy(duration=10.0)
    sim.overrides["start_copy"] = busy_then_start(3, sim)
    doc, ctx = run(make_plan(lease="none"), sim)
    assert doc["state"] == "succeeded" and doc["skipped"] is False
    calls = names(ctx)
    assert calls.count("start_copy") == 4
    assert calls.index("check_copy") > max(i for i, c in enumerate(calls) if c == "start_copy")
    assert [w["code"] for w in doc["warnings"]] == ["DestinationBusy"]
    assert "other" in doc["warnings"][0]["message"]


def test_waiting_backs_off_within_the_poll_bounds() -> None:
    """Each wait is longer than the last, never past poll.max_seconds."""
    sim = SimCopy(duration=1.0)
    sim.overrides["start_copy"] = busy_then_start(8, sim)
    _, ctx = run(make_plan(lease="none", poll={"min_seconds": 1, "max_seconds": 20}), sim)
    starts = [t for (n, _), t in zip(ctx.calls, ctx.call_times, strict=True) if n == "start_copy"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 8
    assert gaps == sorted(gaps) and gaps[0] < gaps[-1] <= 20 + 1


def test_an_abort_while_waiting_ends_aborted_without_touching_the_other_copy() -> None:
    sim = SimCopy(duration=10.0, abort_at=30.0)
    sim.overrides["start_copy"] = lambda payload, t: BUSY
    doc, ctx = run(make_plan(lease="none"), sim)
    assert doc["state"] == "aborted"
    aborts = [p for n, p in ctx.calls if n == "abort_copy"]
    assert aborts and all(p["copy_id"] is None for p in aborts)  # never the other copy's id


def test_a_destination_busy_past_the_deadline_times_out() -> None:
    sim = SimCopy(duration=10.0)
    sim.overrides["start_copy"] = lambda payload, t: BUSY
    doc, ctx = run(make_plan(lease="renewed", timeout_seconds=600), sim)
    assert doc["state"] == "timed_out"
    assert names(ctx)[-1] == "release_source_lease"
