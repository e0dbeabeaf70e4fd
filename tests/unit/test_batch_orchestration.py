"""The batch orchestrator, driven with a fake context against a simulated storage side.

The simulation answers `batch_round` as shared/batchops.py does (pending copies end after a
few seconds, the listing hands out as many names as slots are free) and `batch_abort` by
aborting every pending copy, so the orchestrator's decisions are pinned without I/O.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from shared.batch_orchestration import batch_orchestration
from shared.batchstate import BatchPlan
from tests.unit.fakedurable import FakeContext, drive, names


@dataclass
class SimBatch:
    """A source of `blobs` names; each copy takes `seconds` to end, or `fails` those named."""

    blobs: int = 10
    seconds: float = 3.0
    fails: set[str] = field(default_factory=set)
    abort_at: float | None = None
    abort_payload: Any = '{"reason": "stop it"}'
    activity_seconds: float = 0.05
    started: dict[str, float] = field(default_factory=dict)
    aborted: set[str] = field(default_factory=set)
    most_pending: int = 0
    rounds: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def elapsed(self, ctx: FakeContext) -> float:
        from tests.unit.fakedurable import T0

        return (ctx.now - T0).total_seconds()

    def activity(self, name: str, payload: dict[str, Any], t: float) -> Any:
        if name == "batch_round":
            self.rounds.append((t, payload))
            return self.round(payload, t)
        if name == "batch_abort":
            self.aborted |= {p["name"] for p in payload["pending"]}
            return {"ok": True}
        if name == "read_abort_request":
            return {"ok": True, "requested": False}
        return {"ok": True}

    def round(self, job: dict[str, Any], t: float) -> dict[str, Any]:
        tally = {"listed": 0, "succeeded": 0, "failed": 0, "aborted": 0, "skipped": 0}
        tally["bytes_copied"] = 0
        pending: list[dict[str, Any]] = []
        errors: dict[str, int] = {}
        limit = job["request"].get("blob_timeout_seconds")
        for blob in job["pending"]:
            name = blob["name"]
            if name in self.aborted:
                tally["aborted"] += 1
            elif limit and t - self.started[name] >= limit:  # as batchops: Timeout, by asked_at
                tally["failed"] += 1
                errors["Timeout"] = errors.get("Timeout", 0) + 1
            elif t - self.started[name] < self.seconds:
                pending.append(blob)
            elif name in self.fails:
                tally["failed"] += 1
            else:
                tally["succeeded"] += 1
                tally["bytes_copied"] += 100
        start = int(job["marker"] or 0)
        free = job["request"]["max_concurrency"] - len(pending) if job["fill"] else 0
        new = [f"p/{i:04d}" for i in range(start, min(start + free, self.blobs))]
        for name in new:
            self.started[name] = t
            blob = {"name": name, "copy_id": f"c-{name}", "size": 100, "md5": None}
            pending.append({**blob, "started_at": job["asked_at"]} if limit else blob)
        tally["listed"] = len(new)
        self.most_pending = max(self.most_pending, len(pending))
        following = start + len(new)
        exhausted = following >= self.blobs
        return {
            "ok": True,
            "pending": pending,
            "marker": None if exhausted else str(following),
            "exhausted": exhausted,
            "tally": tally,
            "pending_bytes_copied": 0,
            "pending_bytes_total": 100 * len(pending),
            "report_length": job["report_length"] + 10 * (sum(tally.values()) - len(new)),
            "errors": errors or ({"CopyFailed": tally["failed"]} if tally["failed"] else {}),
        }


def plan(**request: Any) -> dict[str, Any]:
    body = {
        "kind": "batch",
        "source": {"url": "https://a.blob.core.windows.net/src", "prefix": "p/"},
        "destination": {"url": "https://b.blob.core.windows.net/dst", "prefix": "q/"},
        "max_concurrency": request.pop("max_concurrency", 4),
        **request,
    }
    rounds = request.pop("rounds", 100)
    tuning = {k: request.pop(k) for k in ("poll_max", "lease_seconds") if k in request}
    body = {k: v for k, v in body.items() if k not in tuning}
    return BatchPlan(
        id="batch-1",
        request=body,
        fingerprint="fp",
        created="2026-01-01T00:00:00.000000Z",
        report_url="https://b.blob.core.windows.net/blobcopy-reports/batch-1.jsonl",
        polls_per_execution=rounds,
        **tuning,
    ).to_input()


def run(raw: dict[str, Any], sim: SimBatch) -> tuple[Any, FakeContext]:
    ctx = FakeContext(raw)
    return drive(batch_orchestration(ctx), ctx, sim), ctx


def test_every_blob_is_copied_never_more_than_max_concurrency_at_once() -> None:
    """Ten blobs, four at a time: the batch succeeds with every blob counted once, and no
    round ever holds more than four copies pending."""
    sim = SimBatch(blobs=10)
    doc, _ = run(plan(max_concurrency=4), sim)
    assert doc["state"] == "succeeded" and doc["kind"] == "batch"
    assert doc["counts"] == {
        "listed": 10,
        "pending": 0,
        "running": 0,
        "succeeded": 10,
        "failed": 0,
        "aborted": 0,
        "skipped": 0,
    }
    assert sim.most_pending == 4 and doc["listing_complete"]
    assert doc["progress"]["bytes_copied"] == 1000
    assert doc["report"] == {
        "url": "https://b.blob.core.windows.net/blobcopy-reports/batch-1.jsonl"
    }


def test_one_activity_a_round_far_fewer_than_one_per_blob() -> None:
    """A batch costs rounds, not blobs: 40 blobs at 20 at a time take a handful of rounds."""
    sim = SimBatch(blobs=40, seconds=1.0)
    _, ctx = run(plan(max_concurrency=20), sim)
    calls = names(ctx)
    assert calls.count("batch_round") <= 8
    assert len(calls) <= 0.25 * 40


def test_a_failed_blob_fails_the_batch_and_is_counted() -> None:
    """Blobs that fail are counted and named by code; the batch ends failed, saying how many."""
    sim = SimBatch(blobs=5, fails={"p/0002"})
    doc, _ = run(plan(), sim)
    assert doc["state"] == "failed" and doc["error"]["code"] == "BlobsFailed"
    assert doc["counts"]["failed"] == 1 and doc["counts"]["succeeded"] == 4
    assert doc["errors"] == {"CopyFailed": 1}


def test_blobs_aborted_by_someone_else_fail_the_batch() -> None:
    """A copy aborted outside the batch (the batch was not stopping) is not a success."""
    sim = SimBatch(blobs=4, aborted={"p/0001"})
    doc, _ = run(plan(), sim)
    assert doc["state"] == "failed" and doc["error"]["code"] == "BlobsFailed"
    assert doc["counts"]["aborted"] == 1 and doc["counts"]["succeeded"] == 3


def test_abort_starts_no_more_copies_and_aborts_the_pending_ones() -> None:
    """An abort mid-batch: no round after it lists more blobs, the pending copies are
    aborted, and the batch ends aborted with the caller's reason."""
    sim = SimBatch(blobs=20, seconds=5.0, abort_at=2.0)
    doc, ctx = run(plan(max_concurrency=4), sim)
    assert doc["state"] == "aborted" and doc["error"]["message"] == "stop it"
    after = [job for t, job in sim.rounds if t > 2.0]
    assert after and not any(job["fill"] for job in after)
    assert "batch_abort" in names(ctx) and names(ctx)[-1] == "forget_abort_request"
    assert doc["counts"]["aborted"] == 4 and doc["counts"]["listed"] == 4


def test_history_stays_bounded_by_continuing_as_new() -> None:
    """After `polls_per_execution` rounds the execution continues as new, carrying the
    pending copies and the listing's position, not every blob seen."""
    sim = SimBatch(blobs=100, seconds=10.0)
    doc, ctx = run(plan(max_concurrency=4, rounds=3), sim)
    assert doc is None and ctx.continued_with is not None
    carry = ctx.continued_with["carry"]
    assert len(carry["pending"]) <= 4 and carry["marker"] is not None
    assert len(json.dumps(ctx.continued_with)) < 5000
    assert carry["executions"] == 2


def test_a_batch_replays_through_the_real_sdk() -> None:
    """round (two copies pending, listing done) -> timer -> round (both ended) -> the result,
    replayed episode by episode through the SDK's own executor: the same decisions."""
    import datetime as dt

    from tests.unit.sdkreplay import Replay

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    r = Replay(batch_orchestration, plan(), now)
    [(read_id, read)] = r.episode()
    assert read["functionName"] == "read_abort_request"
    [(round_id, first)] = r.episode(r.completed(read_id, {"ok": True, "requested": False}))
    assert first["functionName"] == "batch_round"
    pending = [{"name": "p/a", "copy_id": "c1"}, {"name": "p/b", "copy_id": "c2"}]
    started = {"ok": True, "pending": pending, "exhausted": True, "tally": {"listed": 2}}
    [(timer_id, timer)] = r.episode(r.completed(round_id, started))
    assert timer["actionType"] == 5
    r.now += dt.timedelta(seconds=1)
    [(again_id, again)] = r.episode(r.fired(timer_id))
    assert again["functionName"] == "batch_round"
    ended = {"ok": True, "pending": [], "exhausted": True, "tally": {"succeeded": 2}}
    assert r.episode(r.completed(again_id, {**ended, "report_length": 80})) == []
    assert r.state["isDone"] and r.state["output"]["state"] == "succeeded"
    assert r.state["output"]["counts"]["succeeded"] == 2


@dataclass
class FlakyRounds(SimBatch):
    """The first `outages` rounds run out of retries (raise, as an exhausted retry does)."""

    outages: int = 2

    def activity(self, name: str, payload: dict[str, Any], t: float) -> Any:
        if name == "batch_round" and self.outages > 0:
            self.outages -= 1
            self.rounds.append((t, payload))
            raise RuntimeError("[ServerBusy] every retry failed")
        return super().activity(name, payload, t)


def test_a_round_that_ran_out_of_retries_is_tried_again_as_the_same_round() -> None:
    """The next try of a round whose retries ran out keeps its `asked_at` (and marker), so it
    adopts the copies its failed attempts started; the round after it is decided anew. (The
    chaos run saw a new asked_at make batch blobs copy 2 to 7 times.)"""
    sim = FlakyRounds(blobs=6, outages=2)
    doc, _ = run(plan(max_concurrency=3), sim)
    assert doc["state"] == "succeeded" and doc["counts"]["succeeded"] == 6
    jobs = [job for _, job in sim.rounds]
    assert jobs[0]["asked_at"] == jobs[1]["asked_at"] == jobs[2]["asked_at"]
    assert jobs[0]["marker"] == jobs[2]["marker"]
    assert jobs[3]["asked_at"] != jobs[2]["asked_at"]


def round_gaps(sim: SimBatch) -> list[float]:
    times = [t for t, _ in sim.rounds]
    return [b - a for a, b in itertools.pairwise(times)]


def test_rounds_come_often_enough_to_renew_leases_whatever_the_poll_bounds() -> None:
    """lease_source=renewed with 60 s leases: while copies are pending, rounds come at most
    10 s apart (half of a third of the lease's life), though nothing moves and poll_max
    would let the idle back-off grow to an hour; without renewed leases it does grow."""
    slow = {"blobs": 2, "seconds": 300.0}
    sim = SimBatch(**slow)  # type: ignore[arg-type]
    doc, _ = run(plan(lease_source="renewed", poll_max=3600.0, lease_seconds=60), sim)
    assert doc["state"] == "succeeded"
    assert len(sim.rounds) > 25 and max(round_gaps(sim)) <= 10.0 + 0.5
    idle = SimBatch(**slow)  # type: ignore[arg-type]
    run(plan(poll_max=3600.0), idle)
    assert max(round_gaps(idle)) > 60.0


def test_a_round_comes_when_a_blob_times_out_and_the_batch_reports_it() -> None:
    """blob_timeout_seconds=100 with copies that would take 1,000 s and an idle back-off up to
    an hour: a round comes at 100 s (not at 128 s or later), the copy is reported failed with
    Timeout, and the batch ends failed saying so."""
    sim = SimBatch(blobs=1, seconds=1000.0)
    doc, _ = run(plan(blob_timeout_seconds=100, poll_max=3600.0), sim)
    assert doc["state"] == "failed" and doc["errors"] == {"Timeout": 1}
    late = [t for t, _ in sim.rounds if t >= 100.0]
    assert late and late[0] <= 100.0 + 1.0 + 0.5
