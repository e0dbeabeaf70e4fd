"""The copy orchestrator replayed through the real Durable SDK (not a fake): same decisions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Generator
from typing import Any

from shared.copystate import CopyPlan
from shared.orchestration import copy_orchestration
from tests.unit.sdkreplay import Replay

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PENDING = {"ok": True, "status": "pending", "copy_id": "c1", "bytes_copied": 0}
DONE = {"ok": True, "status": "success", "copy_id": "c1", "bytes_copied": 9, "total_bytes": 9}


def orchestrator(context: Any) -> Generator[Any, Any, Any]:
    """The orchestrator as function_app wires it, with activity names."""
    return (yield from copy_orchestration(context))


def replay(lease: str = "none") -> Replay:
    """A fresh replay of a copy from an external URL."""
    plan = CopyPlan(
        id="copy-1",
        request={
            "source": {"url": "https://example.com/a.bin?sig=SECRET"},
            "destination": {"url": "https://dst.blob.core.windows.net/c/a.bin"},
        },
        fingerprint="fp",
        created="2026-01-01T00:00:00.000000Z",
        lease=lease,
    )
    return Replay(orchestrator, plan.to_input(), T0)


def names(new: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """Activity names (or 'timer') of newly requested work."""
    return [a.get("functionName", "timer") for _, a in new]


def test_pending_copy_polled_to_success_under_the_real_sdk() -> None:
    """start -> timer -> check (success) -> done, with a retry policy on every activity."""
    r = replay()
    [(start_id, start)] = r.episode()
    assert start["functionName"] == "start_copy" and start["actionType"] == 1
    [(timer_id, timer)] = r.episode(r.completed(start_id, PENDING))
    assert timer["actionType"] == 5
    r.now += dt.timedelta(seconds=1)
    [(check_id, check)] = r.episode(r.fired(timer_id))
    assert check["functionName"] == "check_copy"
    assert r.episode(r.completed(check_id, DONE)) == []
    assert r.state["isDone"] and r.state["output"]["state"] == "succeeded"
    assert "SECRET" not in str([r.state["output"], r.state["customStatus"]])


def test_abort_event_wins_the_race_and_cancels_the_timer() -> None:
    """An abort raised while waiting aborts the copy; its JSON-text payload's reason is kept."""
    r = replay()
    [(start_id, _)] = r.episode()
    r.episode(r.completed(start_id, PENDING))
    [(abort_id, abort)] = r.episode(r.raised("abort", {"reason": "stop now"}))
    assert abort["functionName"] == "abort_copy"
    timers = [a for a in r.state["actions"][0][1]["compoundActions"] if a["actionType"] == 5]
    assert timers and timers[0]["isCanceled"]
    [(forget_id, forget)] = r.episode(r.completed(abort_id, {**PENDING, "status": "aborted"}))
    assert forget["functionName"] == "forget_abort_request"
    r.episode(r.completed(forget_id, {"ok": True}))
    assert r.state["output"]["state"] == "aborted"
    assert r.state["output"]["error"] == {"code": "Aborted", "message": "stop now"}


def test_abort_raised_during_an_activity_is_not_lost() -> None:
    """An abort that arrives while start_copy runs is seen by the one wait created up front."""
    r = replay(lease="renewed")
    [(lease_id, _)] = r.episode()
    [(start_id, _)] = r.episode(r.completed(lease_id, {"ok": True}))
    new = r.episode(r.raised("abort", {"reason": "early"}), r.completed(start_id, PENDING))
    assert names(new) == ["timer", "abort_copy"]
    [(release_id, release)] = r.episode(r.completed(new[1][0], {**PENDING, "status": "aborted"}))
    assert release["functionName"] == "release_source_lease"
    [(forget_id, _)] = r.episode(r.completed(release_id, {"ok": True}))
    r.episode(r.completed(forget_id, {"ok": True}))
    assert r.state["output"]["state"] == "aborted"


def budget_spent(r: Replay, *also: dict[str, Any]) -> None:
    """Run a one-wake-up execution to the read that spends its budget, delivering `also` in
    the same batch as that read's completion."""
    r.input = r.input.replace('"polls_per_execution": 100', '"polls_per_execution": 1')
    r.history[1]["Input"] = r.input
    [(start_id, _)] = r.episode()
    [(timer_id, _)] = r.episode(r.completed(start_id, PENDING))
    r.now += dt.timedelta(seconds=1)
    [(check_id, _)] = r.episode(r.fired(timer_id))
    r.episode(r.completed(check_id, {**PENDING, "bytes_copied": 3, "total_bytes": 9}), *also)


def test_continue_as_new_carries_the_copy_under_the_real_sdk() -> None:
    """After its wake-up budget the execution ends with continue_as_new carrying the copy id,
    with no extra timer before it."""
    r = replay()
    budget_spent(r)
    last = r.state["actions"][0][-1]
    assert r.state["isDone"] and last["actionType"] == 4
    carried = json.loads(last["input"])["carry"]
    assert (carried["copy_id"], carried["executions"], carried["status_reads"]) == ("c1", 2, 1)


def test_abort_batched_with_the_last_completion_is_dropped_and_read_from_its_record() -> None:
    """As on Azure, an abort in the same batch as the completion that ends an execution is
    never read (the SDK stops at continue_as_new; the shim keeps no unprocessed events), so
    the next execution begins by reading the abort's record, and aborts at once."""
    r = replay()
    budget_spent(r, r.raised("abort", {"reason": "batched"}))
    last = r.state["actions"][0][-1]
    assert r.state["isDone"] and last["actionType"] == 4  # the event was lost with the batch
    nxt = Replay(orchestrator, json.loads(last["input"]), r.now)
    [(read_id, read)] = nxt.episode()
    assert read["functionName"] == "read_abort_request"
    recorded = {"ok": True, "requested": True, "reason": "batched"}
    [(abort_id, abort)] = nxt.episode(nxt.completed(read_id, recorded))
    assert abort["functionName"] == "abort_copy"
    [(forget_id, _)] = nxt.episode(nxt.completed(abort_id, {**PENDING, "status": "aborted"}))
    nxt.episode(nxt.completed(forget_id, {"ok": True}))
    assert nxt.state["output"]["error"] == {"code": "Aborted", "message": "batched"}


def test_abort_batched_with_a_timer_is_acted_on_whichever_comes_first() -> None:
    """An EventRaised delivered with the TimerFired it races (Azure batches them) aborts the
    copy even when the timer is first in the batch and wins the task_any: the status read
    the timer asked for goes out, and the abort follows it, before any further timer."""
    r = replay()
    [(start_id, _)] = r.episode()
    [(timer_id, _)] = r.episode(r.completed(start_id, PENDING))
    r.now += dt.timedelta(seconds=1)
    [(check_id, check)] = r.episode(r.fired(timer_id), r.raised("abort", {"reason": "both"}))
    assert check["functionName"] == "check_copy"
    [(abort_id, abort)] = r.episode(r.completed(check_id, PENDING))
    assert abort["functionName"] == "abort_copy"
    [(forget_id, _)] = r.episode(r.completed(abort_id, {**PENDING, "status": "aborted"}))
    r.episode(r.completed(forget_id, {"ok": True}))
    assert r.state["output"]["error"] == {"code": "Aborted", "message": "both"}
