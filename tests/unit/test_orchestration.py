"""The copy orchestrator, driven through every path with a fake context (no I/O)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from typing import Any

from shared.copystate import CopyPlan
from shared.orchestration import copy_orchestration
from shared.outcomes import failure_from_exception
from tests.unit.fakedurable import FakeContext, SimCopy, drive, names

SOURCE = "https://src.blob.core.windows.net/c/a.bin?sv=2025-01-01&sig=SECRETSIG"
DEST = "https://dst.blob.core.windows.net/c/b.bin"


def make_plan(lease: str = "renewed", **request: Any) -> dict[str, Any]:
    """An orchestration input with the given request options."""
    body = {"source": {"url": SOURCE}, "destination": {"url": DEST}, **request}
    extra = {k: request.pop(k) for k in ("timeout_seconds",) if k in request}
    return CopyPlan(
        id="copy-1",
        request=body,
        fingerprint="fp",
        created="2026-01-01T00:00:00.000000Z",
        lease=lease,
        lease_seconds=60,
        polls_per_execution=request.pop("polls", 100) if "polls" in request else 100,
        **extra,
    ).to_input()


def run(plan: dict[str, Any], sim: SimCopy) -> tuple[Any, FakeContext]:
    """Run one execution of the orchestrator to its end."""
    ctx = FakeContext(plan)
    return drive(copy_orchestration(ctx), ctx, sim), ctx


def test_copy_that_succeeds_at_once_never_polls_and_releases_the_lease() -> None:
    """A synchronous (same-account) copy ends succeeded with no timer and the lease released."""
    doc, ctx = run(make_plan(), SimCopy(start_status="success"))
    assert doc["state"] == "succeeded"
    assert names(ctx) == ["acquire_source_lease", "start_copy", "release_source_lease"]
    assert ctx.timers == []
    assert doc["progress"]["bytes_copied"] == 1000


def test_pending_copy_is_polled_until_it_succeeds() -> None:
    """A pending copy is read until success, then the lease is released and progress is full."""
    doc, ctx = run(make_plan(), SimCopy(duration=10.0))
    assert doc["state"] == "succeeded"
    assert doc["progress"] == {
        "bytes_copied": 1000,
        "total_bytes": 1000,
        "percent": 100.0,
        "eta_seconds": None,
        "estimated_finish": None,
    }
    assert names(ctx)[-1] == "release_source_lease"
    assert 1 <= names(ctx).count("check_copy") <= 8


def test_custom_status_shows_progress_while_running() -> None:
    """Custom status is the running status document, with progress and an ETA."""
    _, ctx = run(make_plan(), SimCopy(duration=100.0))
    running = [s for s in ctx.statuses if s["state"] == "running"]
    assert any(s["progress"]["percent"] and s["progress"]["eta_seconds"] for s in running)
    assert ctx.statuses[-1]["state"] == "succeeded"


def test_no_signature_reaches_custom_status_or_output() -> None:
    """The caller's SAS signature never appears in custom status or the result."""
    doc, ctx = run(make_plan(notify={"queue": "copy-results"}), SimCopy())
    published = [p for n, p in ctx.calls if n == "publish_result"]
    assert "SECRETSIG" not in json.dumps([doc, ctx.statuses, published])
    assert doc["source"].endswith("sig=REDACTED")


def test_failed_copy_reports_failed_with_description() -> None:
    """A copy the service fails ends failed with CopyFailed and the service's description."""
    doc, ctx = run(make_plan(), SimCopy(end_status="failed"))
    assert doc["state"] == "failed"
    assert doc["error"] == {"code": "CopyFailed", "message": "source gone"}
    assert names(ctx)[-1] == "release_source_lease"


def test_permanent_start_error_fails_with_the_storage_code() -> None:
    """A permanent storage error at start ends the copy failed with that code, lease released."""
    refused = {"ok": False, "error": {"code": "CannotVerifyCopySource", "message": "no"}}
    doc, ctx = run(make_plan(), SimCopy(overrides={"start_copy": lambda p, t: refused}))
    assert doc["state"] == "failed" and doc["error"]["code"] == "CannotVerifyCopySource"
    assert names(ctx) == ["acquire_source_lease", "start_copy", "release_source_lease"]


def test_lease_conflict_at_acquire_fails_without_starting() -> None:
    """If the source is leased by someone else, the copy fails before it starts."""
    taken = {"ok": False, "error": {"code": "LeaseAlreadyPresent", "message": "taken"}}
    doc, ctx = run(make_plan(), SimCopy(overrides={"acquire_source_lease": lambda p, t: taken}))
    assert doc["error"]["code"] == "LeaseAlreadyPresent"
    assert "start_copy" not in names(ctx) and "release_source_lease" not in names(ctx)


def test_abort_while_pending_aborts_the_copy_and_cancels_the_timer() -> None:
    """An abort raised during a pending copy aborts it; the reason comes from the JSON text."""
    doc, ctx = run(make_plan(), SimCopy(duration=100.0, abort_at=5.0))
    assert doc["state"] == "aborted"
    assert doc["error"] == {"code": "Aborted", "message": "user asked"}
    assert "abort_copy" in names(ctx)
    assert names(ctx)[-2:] == ["release_source_lease", "forget_abort_request"]
    assert ctx.timers[-1].cancelled


def test_abort_payload_given_as_a_dict_is_read_too() -> None:
    """An abort payload that arrives already decoded is read the same way."""
    doc, _ = run(make_plan(), SimCopy(duration=100.0, abort_at=5.0, abort_payload={"reason": "x"}))
    assert doc["error"]["message"] == "x"


def test_abort_after_the_copy_ended_reports_the_true_final_state() -> None:
    """A copy aborted after it succeeded reports succeeded, not aborted."""
    sim = SimCopy(duration=100.0, abort_at=50.0)
    sim.overrides["abort_copy"] = lambda p, t: {**sim.observation(1e9), "status": "success"}
    doc, _ = run(make_plan(), sim)
    assert doc["state"] == "succeeded" and doc["error"] is None


def test_abort_raised_before_the_copy_starts_aborts_it_at_the_first_race() -> None:
    """An abort raised while the lease is taken is parked, then aborts the copy once started."""
    doc, ctx = run(make_plan(), SimCopy(duration=100.0, abort_at=0.0, activity_seconds=1.0))
    assert doc["state"] == "aborted"
    assert names(ctx) == [
        "acquire_source_lease",
        "start_copy",
        "abort_copy",
        "release_source_lease",
        "forget_abort_request",
    ]


def test_abort_wait_is_created_once_per_execution() -> None:
    """The orchestrator creates the abort wait once and races it against every timer."""
    _, ctx = run(make_plan(), SimCopy(duration=300.0))
    assert len(ctx.events) == 1 and len(ctx.timers) > 3


def test_deadline_aborts_the_copy_as_timed_out() -> None:
    """A copy still pending at its deadline is aborted and reported timed_out."""
    doc, ctx = run(make_plan(timeout_seconds=30), SimCopy(duration=1000.0))
    assert doc["state"] == "timed_out" and doc["error"]["code"] == "Timeout"
    assert "abort_copy" in names(ctx) and names(ctx)[-1] == "release_source_lease"


def test_timer_never_passes_the_deadline() -> None:
    """No timer is set later than the copy's deadline."""
    _, ctx = run(make_plan(timeout_seconds=30), SimCopy(duration=1000.0))
    deadline = ctx.timers[0].info["fire_at"].replace(minute=0, second=30, microsecond=0)
    assert max(t.info["fire_at"] for t in ctx.timers) <= deadline


def test_deadline_reached_after_success_reports_succeeded() -> None:
    """A copy that finished just before the timeout abort reports succeeded."""
    sim = SimCopy(duration=1000.0)
    sim.overrides["abort_copy"] = lambda p, t: {**sim.observation(1e9), "status": "success"}
    doc, _ = run(make_plan(timeout_seconds=30), sim)
    assert doc["state"] == "succeeded"


def test_renewed_lease_is_renewed_before_it_lapses() -> None:
    """A long copy renews its 60 s lease at least every 30 s of orchestration time."""
    _, ctx = run(make_plan(), SimCopy(duration=200.0))
    assert names(ctx).count("renew_source_lease") >= 6
    fires = [t.info["fire_at"] for t in ctx.timers]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    assert gaps and max(gaps) <= 30.5


def test_lease_renew_failure_aborts_and_fails_the_copy() -> None:
    """If renewing the lease fails, the copy is aborted and failed with the code; the lost
    lease is not released (it is no longer ours)."""
    lost = {"ok": False, "error": {"code": "LeaseIdMismatchWithLeaseOperation", "message": "lost"}}
    sim = SimCopy(duration=200.0, overrides={"renew_source_lease": lambda p, t: lost})
    doc, ctx = run(make_plan(), sim)
    assert doc["state"] == "failed"
    assert doc["error"]["code"] == "LeaseIdMismatchWithLeaseOperation"
    assert names(ctx)[-1] == "abort_copy" and "release_source_lease" not in names(ctx)


def test_infinite_lease_is_never_renewed_but_released() -> None:
    """An infinite lease is acquired with duration -1, never renewed, released at the end."""
    _, ctx = run(make_plan(lease="infinite"), SimCopy(duration=200.0))
    acquire = next(p for n, p in ctx.calls if n == "acquire_source_lease")
    assert acquire["duration"] == -1
    assert "renew_source_lease" not in names(ctx) and names(ctx)[-1] == "release_source_lease"


def test_no_lease_means_no_lease_calls() -> None:
    """lease none (or an external source) makes no lease calls at all."""
    _, ctx = run(make_plan(lease="none"), SimCopy())
    assert not [n for n in names(ctx) if "lease" in n]


def test_activities_are_called_with_retry_options() -> None:
    """Every activity call goes through call_activity_with_retry with several attempts."""
    _, ctx = run(make_plan(), SimCopy())
    assert len(ctx.retry_options) == len(ctx.calls)
    assert all(r.max_number_of_attempts >= 2 for r in ctx.retry_options)


def test_transient_error_retried_successfully_is_invisible() -> None:
    """A status read that fails transiently and then succeeds on retry does not end the copy."""
    sim = SimCopy(duration=10.0)
    failures = iter([True])

    def flaky(payload: dict[str, Any], t: float) -> Any:
        next(failures, False)  # the runtime retried inside the task: the task still succeeds
        return sim.observation(t)

    sim.overrides["check_copy"] = flaky
    doc, _ = run(make_plan(), sim)
    assert doc["state"] == "succeeded"


def busy_for(calls: int, then: Callable[[dict[str, Any], float], Any]) -> Any:
    """An activity that runs out of retries `calls` times (an outage), then answers `then`."""
    left = iter(range(calls))

    def answer(payload: dict[str, Any], t: float) -> Any:
        if next(left, None) is not None:
            raise Exception(
                "Activity function 'x' failed: TransientStorageError: [ServerBusy] busy"
            )
        return then(payload, t)

    return answer


def test_an_outage_while_polling_does_not_abort_a_healthy_copy() -> None:
    """Status reads that run out of retries are tried again later; the copy still succeeds
    and is never aborted (issue 16, bug 7)."""
    sim = SimCopy(duration=300.0)
    sim.overrides["check_copy"] = busy_for(5, lambda p, t: sim.observation(t))
    doc, ctx = run(make_plan(), sim)
    assert doc["state"] == "succeeded" and "abort_copy" not in names(ctx)
    assert names(ctx).count("check_copy") >= 6


def test_an_outage_longer_than_the_deadline_times_the_copy_out() -> None:
    """Status reads failing until the deadline end the copy timed out, and it is aborted."""
    sim = SimCopy(duration=10_000.0)
    sim.overrides["check_copy"] = busy_for(10**6, lambda p, t: sim.observation(t))
    doc, ctx = run(make_plan(timeout_seconds=600), sim)
    assert doc["state"] == "timed_out" and "abort_copy" in names(ctx)
    assert names(ctx)[-1] == "release_source_lease"


def test_an_abort_that_fails_is_retried_and_nothing_is_released_meanwhile() -> None:
    """When abort_copy runs out of retries the copy is still pending: the orchestrator keeps
    aborting on timers, and releases the lease only once it is stopped (bug 3)."""
    sim = SimCopy(duration=10_000.0, abort_at=5.0)

    def abort_now(payload: dict[str, Any], t: float) -> Any:
        sim.aborted = True
        return {**sim.observation(t), "status": "aborted"}

    sim.overrides["abort_copy"] = busy_for(3, abort_now)
    doc, ctx = run(make_plan(snapshot_destination=True), sim)
    assert doc["state"] == "aborted" and names(ctx).count("abort_copy") == 4
    first_release = names(ctx).index("release_source_lease")
    assert first_release > max(i for i, n in enumerate(names(ctx)) if n == "abort_copy")
    assert names(ctx).index("finish_snapshot") > first_release


def test_a_refused_abort_of_a_copy_that_ended_reports_its_true_end() -> None:
    """An abort refused outright is followed by a status read; a copy found succeeded is
    reported succeeded, not stuck stopping."""
    sim = SimCopy(duration=100.0, abort_at=5.0)
    denied = {"ok": False, "error": {"code": "AuthorizationFailure", "message": "no"}}
    sim.overrides["abort_copy"] = lambda p, t: denied
    sim.overrides["check_copy"] = lambda p, t: sim.observation(t + 1e6)
    doc, _ = run(make_plan(), sim)
    assert doc["state"] == "succeeded"


def test_copy_replaced_by_another_is_failed_without_aborting_it() -> None:
    """If another copy replaced ours on the destination, we fail without aborting theirs."""
    replaced = {"ok": False, "error": {"code": "CopyReplaced", "message": "another copy"}}
    doc, ctx = run(make_plan(), SimCopy(overrides={"check_copy": lambda p, t: replaced}))
    assert doc["error"]["code"] == "CopyReplaced" and "abort_copy" not in names(ctx)


def test_failure_from_exception_redacts_and_defaults_the_code() -> None:
    """An exception without a [Code] maps to ActivityFailed, with signatures redacted."""
    error = failure_from_exception(Exception("boom at https://x/c/b?sig=abc"))
    assert error == {"code": "ActivityFailed", "message": "boom at https://x/c/b?sig=REDACTED"}


def test_failure_from_exception_keeps_the_storage_message_without_our_type_names() -> None:
    """A retried-out storage error reports its code and its text, not the Python class path."""
    raised = Exception(
        "shared.errors.TransientStorageError: [CannotVerifyCopySource] The copy source did not"
        " answer."
    )
    error = failure_from_exception(raised)
    assert error == {
        "code": "CannotVerifyCopySource",
        "message": "The copy source did not answer.",
    }


def test_malformed_activity_answer_fails_internally_but_releases_the_lease() -> None:
    """A defect inside the orchestrator still ends the copy failed with the lease released."""
    sim = SimCopy(
        overrides={
            "check_copy": lambda p, t: {"ok": True, "status": "pending", "bytes_copied": "x"}
        }
    )
    doc, ctx = run(make_plan(), sim)
    assert doc["state"] == "failed" and doc["error"]["code"] == "InternalError"
    assert names(ctx)[-1] == "release_source_lease"


def test_long_copy_continues_as_new_carrying_its_state() -> None:
    """After N wake-ups the orchestrator continues as new, keeping lease, copy id and deadline."""
    plan = make_plan(polls=3)
    doc, ctx = run(plan, SimCopy(duration=1000.0))
    assert doc is None and ctx.continued_with is not None
    carry = ctx.continued_with["carry"]
    assert carry["copy_id"] == "c1" and carry["lease_id"] and carry["executions"] == 2
    # 3 poll timers and nothing else: a lost abort is read from its record by the next one
    assert "release_source_lease" not in names(ctx) and len(ctx.timers) == 3


def test_next_executions_finish_the_copy_and_release_the_lease() -> None:
    """Continued executions poll on without restarting the copy, then release the lease."""
    sim = SimCopy(duration=100.0)
    doc, ctx = run(make_plan(polls=2), sim)
    later: list[FakeContext] = []
    while doc is None:
        nxt = FakeContext(ctx.continued_with, now=ctx.now)
        doc, ctx = drive(copy_orchestration(nxt), nxt, sim), nxt
        later.append(nxt)
    assert doc["state"] == "succeeded" and later
    assert all("start_copy" not in names(c) and len(c.events) == 1 for c in later)
    assert names(ctx)[-1] == "release_source_lease"


def test_each_continued_execution_republishes_progress_at_once() -> None:
    """A new execution's first status carries the copy id and progress (custom status resets)."""
    sim = SimCopy(duration=100.0)
    _, ctx = run(make_plan(polls=2), sim)
    nxt = FakeContext(ctx.continued_with, now=ctx.now)
    gen = copy_orchestration(nxt)
    next(gen)  # the first yield: the execution has published before waiting on anything
    first = nxt.statuses[0]
    assert first["copy_id"] == "c1" and first["progress"]["bytes_copied"]
    assert first["state"] == "running"


def test_abort_lost_at_continue_as_new_is_read_from_its_record() -> None:
    """An abort whose event was dropped with the last batch (Azure's continue_as_new keeps no
    unprocessed events) is read from its record when the next execution begins, and aborts
    the copy at once, before any timer (issue 16, bug 1)."""
    sim = SimCopy(duration=1000.0)
    _, ctx1 = run(make_plan(polls=2), sim)
    recorded = {"ok": True, "requested": True, "reason": "stop it"}
    sim.overrides["read_abort_request"] = lambda p, t: recorded
    ctx2 = FakeContext(ctx1.continued_with, now=ctx1.now)
    doc = drive(copy_orchestration(ctx2), ctx2, sim)  # no event reaches ctx2
    assert doc["state"] == "aborted" and doc["error"]["message"] == "stop it"
    assert names(ctx2)[:2] == ["read_abort_request", "abort_copy"] and ctx2.timers == []


def test_first_execution_reads_no_record_but_continued_ones_do() -> None:
    """The record costs one read per continued execution and none on a copy that never
    continues as new."""
    _, first = run(make_plan(), SimCopy(duration=10.0))
    assert "read_abort_request" not in names(first)
    sim = SimCopy(duration=1000.0)
    _, ctx1 = run(make_plan(polls=2), sim)
    ctx2 = FakeContext(ctx1.continued_with, now=ctx1.now)
    drive(copy_orchestration(ctx2), ctx2, sim)
    assert names(ctx2).count("read_abort_request") == 1


def test_abort_recorded_before_the_copy_existed_starts_nothing() -> None:
    """A queued abort that came before its copy message is honoured by start_copy: the copy
    ends aborted with no abort call and no restore (issue 16, bug 9)."""
    recorded = {"ok": True, "abort_requested": True, "status": "aborted", "reason": "early"}
    sim = SimCopy(overrides={"start_copy": lambda p, t: recorded})
    doc, ctx = run(make_plan(snapshot_destination=True), sim)
    assert doc["state"] == "aborted" and doc["error"]["message"] == "early"
    assert "abort_copy" not in names(ctx) and "check_copy" not in names(ctx)
    finish = [p for n, p in ctx.calls if n == "finish_snapshot"]
    assert all(not p["restore"] for p in finish)
    start = next(p for n, p in ctx.calls if n == "start_copy")
    assert start["instance_id"] == "copy-1"


def test_pending_abort_is_handled_instead_of_continuing_as_new() -> None:
    """An abort already received when the history budget is spent is acted on, not dropped."""
    sim = SimCopy(duration=1000.0, abort_at=1.7, activity_seconds=0.3)  # during the 1st read
    doc, ctx = run(make_plan(polls=1), sim)
    assert names(ctx).count("check_copy") == 1
    assert ctx.continued_with is None and doc["state"] == "aborted"


def test_snapshot_is_restored_when_the_copy_is_aborted() -> None:
    """With snapshot_destination, an aborted copy restores the destination from the snapshot."""
    _, ctx = run(make_plan(snapshot_destination=True), SimCopy(duration=100.0, abort_at=3.0))
    finish = next(p for n, p in ctx.calls if n == "finish_snapshot")
    assert names(ctx)[0] == "snapshot_destination" and finish["restore"] is True


def test_snapshot_is_dropped_when_the_copy_succeeds() -> None:
    """With snapshot_destination, a successful copy drops the snapshot without restoring."""
    _, ctx = run(make_plan(snapshot_destination=True), SimCopy())
    finish = next(p for n, p in ctx.calls if n == "finish_snapshot")
    assert finish["restore"] is False


def test_failed_verification_fails_the_copy() -> None:
    """verify=true turns a length/MD5 mismatch into a failed copy."""
    bad = {"ok": False, "error": {"code": "VerificationFailed", "message": "MD5 differs"}}
    doc, _ = run(make_plan(verify=True), SimCopy(overrides={"verify_copy": lambda p, t: bad}))
    assert doc["state"] == "failed" and doc["error"]["code"] == "VerificationFailed"


def test_result_is_published_when_notify_is_set() -> None:
    """notify.queue sends the final document to that queue."""
    doc, ctx = run(make_plan(notify={"queue": "copy-results"}), SimCopy())
    published = [p for n, p in ctx.calls if n == "publish_result"]
    assert published == [{"queue": "copy-results", "document": doc}]


def test_notify_without_queue_uses_the_default_results_queue() -> None:
    """notify without a queue sends the final document to the plan's default results queue."""
    doc, ctx = run(make_plan(notify={}), SimCopy())
    published = [p for n, p in ctx.calls if n == "publish_result"]
    assert published == [{"queue": "copy-results", "document": doc}]


def test_a_result_that_cannot_be_published_is_a_warning_in_the_final_document() -> None:
    """A notify queue that refuses the message leaves the copy's outcome alone, but the final
    document (custom status and output, which the caller can still read) says so."""
    refused = {"ok": False, "error": {"code": "QueueNotConfigured", "message": "no queue"}}
    sim = SimCopy(overrides={"publish_result": lambda p, t: refused})
    doc, ctx = run(make_plan(notify={"queue": "results"}), sim)
    assert doc["state"] == "succeeded"
    assert doc["warnings"] == [{"code": "ResultNotPublished", "message": "no queue"}]
    assert ctx.statuses[-1] == doc


def test_if_newer_skip_succeeds_without_verifying() -> None:
    """A copy skipped because the destination is newer succeeds and is not verified."""
    skipped = {"ok": True, "status": "success", "copy_id": None, "skipped": True}
    sim = SimCopy(overrides={"start_copy": lambda p, t: skipped})
    doc, ctx = run(make_plan(verify=True, overwrite="if_newer"), sim)
    assert doc["state"] == "succeeded" and doc["copy_id"] is None
    assert "verify_copy" not in names(ctx)


def test_request_poll_bounds_limit_the_wait_between_reads() -> None:
    """poll.max_seconds from the request caps every wait, whatever the ETA says."""
    _, ctx = run(make_plan(lease="none", poll={"max_seconds": 5}), SimCopy(duration=60.0))
    fires = [t.info["fire_at"] for t in ctx.timers]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    assert gaps and max(gaps) <= 5.1 and names(ctx).count("check_copy") >= 10


def test_destination_that_did_not_exist_is_removed_after_an_abort() -> None:
    """With snapshot_destination and no prior destination, an abort deletes what it left."""
    sim = SimCopy(duration=100.0, abort_at=3.0)
    sim.overrides["snapshot_destination"] = lambda p, t: {"ok": True, "snapshot": None}
    _, ctx = run(make_plan(snapshot_destination=True), sim)
    finish = next(p for n, p in ctx.calls if n == "finish_snapshot")
    assert finish["snapshot"] == "" and finish["restore"] is True


def test_destination_that_did_not_exist_is_kept_after_success() -> None:
    """With no prior destination and a successful copy there is nothing to restore or drop."""
    sim = SimCopy(overrides={"snapshot_destination": lambda p, t: {"ok": True, "snapshot": None}})
    _, ctx = run(make_plan(snapshot_destination=True), sim)
    assert "finish_snapshot" not in names(ctx)


def test_destination_is_not_restored_when_the_copy_never_started() -> None:
    """A copy refused at start (overwrite=never) drops its snapshot but leaves the blob alone."""
    refused = {"ok": False, "error": {"code": "DestinationExists", "message": "exists"}}
    sim = SimCopy(overrides={"start_copy": lambda p, t: refused})
    doc, ctx = run(make_plan(snapshot_destination=True, overwrite="never"), sim)
    finish = next(p for n, p in ctx.calls if n == "finish_snapshot")
    assert doc["error"]["code"] == "DestinationExists" and finish["restore"] is False


def test_destination_is_not_restored_over_a_copy_that_replaced_ours() -> None:
    """When another copy replaced ours, restoring the old content would destroy theirs."""
    replaced = {"ok": False, "error": {"code": "CopyReplaced", "message": "another copy"}}
    sim = SimCopy(duration=100.0, overrides={"check_copy": lambda p, t: replaced})
    sim.overrides["abort_copy"] = lambda p, t: replaced
    sim.overrides["snapshot_destination"] = lambda p, t: {"ok": True, "snapshot": None}
    doc, ctx = run(make_plan(snapshot_destination=True), sim)
    assert doc["state"] == "failed" and doc["error"]["code"] == "CopyReplaced"
    assert "finish_snapshot" not in names(ctx)


def lease_gaps(ctx: FakeContext) -> list[float]:
    """Seconds between successive lease calls (acquire or renew), from when each was sent."""
    lease_calls = [
        t
        for (n, _), t in zip(ctx.calls, ctx.call_times, strict=True)
        if n in ("acquire_source_lease", "renew_source_lease")
    ]
    assert lease_calls
    return [(b - a).total_seconds() for a, b in itertools.pairwise(lease_calls)]


def test_slow_activities_do_not_let_a_renewed_lease_lapse() -> None:
    """With every storage call taking 25 s (a hung read), each renewal is still sent within
    the lease's 60 s of the previous one, timed from when it was sent (issue 16, bug 6)."""
    sim = SimCopy(duration=600.0, activity_seconds=25.0)
    doc, ctx = run(make_plan(), sim)
    assert doc["state"] == "succeeded"
    gaps = lease_gaps(ctx)
    assert gaps and max(gaps) < 60.0


def test_late_timers_do_not_let_a_renewed_lease_lapse() -> None:
    """Timers that fire 35 s late (Azure under load) still leave each renewal inside 60 s."""
    sim = SimCopy(duration=600.0)
    plan = make_plan()
    ctx = FakeContext(plan)
    gen = copy_orchestration(ctx)
    original = ctx.create_timer

    def late_timer(fire_at: Any) -> Any:
        return original(fire_at + dt.timedelta(seconds=35))

    ctx.create_timer = late_timer  # type: ignore[method-assign]
    doc = drive(gen, ctx, sim)
    assert doc["state"] == "succeeded" and max(lease_gaps(ctx)) < 60.0


def test_lease_taken_but_unanswered_is_still_released() -> None:
    """An acquire that ran out of retries may have taken the lease: its id was kept before
    the call, so the lease is released (issue 16, bug 5)."""
    sim = SimCopy(overrides={"acquire_source_lease": busy_for(1, lambda p, t: {"ok": True})})
    doc, ctx = run(make_plan(lease="infinite"), sim)
    assert doc["state"] == "failed" and "start_copy" not in names(ctx)
    acquire = next(p for n, p in ctx.calls if n == "acquire_source_lease")
    release = next(p for n, p in ctx.calls if n == "release_source_lease")
    assert release["lease_id"] == acquire["lease_id"]


def test_a_failing_release_is_retried_and_then_reported() -> None:
    """A release that keeps running out of retries is tried on timers, then named in the
    document's warnings; the copy's own outcome stands (issue 16, bug 5)."""
    sim = SimCopy(duration=10.0)
    sim.overrides["release_source_lease"] = busy_for(10**6, lambda p, t: {"ok": True})
    doc, ctx = run(make_plan(lease="infinite"), sim)
    assert doc["state"] == "succeeded"
    assert names(ctx).count("release_source_lease") == 6
    assert [w["code"] for w in doc["warnings"]] == ["LeaseNotReleased"]


def test_a_release_that_recovers_leaves_no_warning() -> None:
    """A release that fails twice and then succeeds is invisible in the document."""
    sim = SimCopy(duration=10.0)
    sim.overrides["release_source_lease"] = busy_for(2, lambda p, t: {"ok": True})
    doc, ctx = run(make_plan(), sim)
    assert doc["warnings"] == [] and names(ctx).count("release_source_lease") == 3


def test_request_poll_bounds_cannot_go_below_the_service_minimum() -> None:
    """`poll.min_seconds: 0.001` is raised to the service's minimum (issue 16, bug 14)."""
    body = make_plan(lease="none", poll={"min_seconds": 0.001, "max_seconds": 0.002})
    body["poll_min"], body["poll_max"] = 30.0, 3600.0
    sim = SimCopy(duration=60.0, total=10)
    _, ctx = run(body, sim)
    waits = [
        (b - a).total_seconds()
        for a, b in itertools.pairwise(t.info["fire_at"] for t in ctx.timers)
    ]
    assert names(ctx).count("check_copy") <= 3
    assert all(w >= 29.0 for w in waits)


def test_verification_runs_while_the_source_is_still_leased() -> None:
    """verify_copy is called before the lease is released, so no writer can change the
    source in between and make a good copy fail verification."""
    _, ctx = run(make_plan(verify=True), SimCopy())
    assert names(ctx).index("verify_copy") < names(ctx).index("release_source_lease")


def test_a_defect_after_the_copy_started_still_aborts_it() -> None:
    """The InternalError path aborts a copy that may still be pending before releasing."""
    sim = SimCopy(
        duration=100.0,
        overrides={
            "check_copy": lambda p, t: {"ok": True, "status": "pending", "bytes_copied": "x"}
        },
    )
    doc, ctx = run(make_plan(), sim)
    assert doc["error"]["code"] == "InternalError"
    assert names(ctx)[-2:] == ["abort_copy", "release_source_lease"]


def test_azure_activity_failure_text_yields_the_code_and_message_not_a_stack_frame() -> None:
    """On Azure the failure is `Activity function 'x' failed: Result: Failure / Exception:
    ... / Stack: ...` plus serialized details (TaskActivityShim.cs): the code and text come
    from the `[Code]` line, never from a stack frame or JSON."""
    text = (
        "Activity function 'check_copy' failed: Result: Failure\n"
        "Exception: TransientStorageError: [ServerBusy] The server is busy.\n"
        'Stack:   File "/home/site/wwwroot/shared/blobops.py", line 12, in check_copy\n'
        ' \n {"$type":"System.Exception","Message":"x","StackTrace":null}'
    )
    assert failure_from_exception(Exception(text)) == {
        "code": "ServerBusy",
        "message": "The server is busy.",
    }
    plain = "Activity function 'x' failed: Result: Failure\nException: KeyError: 'y'\nStack: ..."
    assert failure_from_exception(Exception(plain)) == {"code": "ActivityFailed", "message": "'y'"}


def test_a_bracketed_word_that_is_not_our_error_is_no_code() -> None:
    """Issue 17 item 12: `[name]` in a stack frame or another library's message made the copy
    fail with code "name". Only our storage errors carry a code; the rest is ActivityFailed."""
    azure = (
        "Activity function 'start_copy' failed: Result: Failure\n"
        "Exception: ValueError: Please specify a container name and blob name.\n"
        "Stack: File x, line 1, in [name]"
    )
    assert failure_from_exception(Exception(azure)) == {
        "code": "ActivityFailed",
        "message": "Please specify a container name and blob name.",
    }
    assert failure_from_exception(Exception("KeyError: [name] was missing"))["code"] == (
        "ActivityFailed"
    )


def test_stopping_gives_up_after_hours_of_refusals_and_says_so() -> None:
    """A destination that refuses every abort and every status read (permanently) does not
    keep the copy stopping, and the source leased, for ever: after STOP_ATTEMPTS it ends with
    the wanted outcome and a CopyNotAborted warning, and the lease is released."""
    denied = {"ok": False, "error": {"code": "AuthorizationFailure", "message": "denied"}}
    sim = SimCopy(duration=10**7, abort_at=5.0)
    sim.overrides["abort_copy"] = lambda p, t: denied
    sim.overrides["check_copy"] = lambda p, t: sim.observation(t) if t < 5 else denied
    doc, contexts = run_through_continues(make_plan(), sim)
    calls = [n for c in contexts for n in names(c)]
    assert doc["state"] == "aborted"
    assert "CopyNotAborted" in [w["code"] for w in doc["warnings"]]
    assert calls.count("abort_copy") == 24 and calls[-2] == "release_source_lease"


def test_a_lease_lost_while_stopping_is_not_renewed_again() -> None:
    """A renewal refused permanently (the lease was broken) while the copy is being stopped
    drops the lease: no renewal loop, and no release of a lease we no longer hold."""
    lost = {"ok": False, "error": {"code": "LeaseLost", "message": "broken"}}
    sim = SimCopy(duration=10**6, abort_at=5.0)
    sim.overrides["abort_copy"] = busy_for(6, lambda p, t: {"ok": True, "status": "aborted"})
    sim.overrides["renew_source_lease"] = lambda p, t: lost
    doc, ctx = run(make_plan(), sim)
    assert doc["state"] == "aborted"
    assert names(ctx).count("renew_source_lease") == 1
    assert "release_source_lease" not in names(ctx)


def test_an_abort_that_lost_the_race_to_success_is_forgotten() -> None:
    """An abort event received while the last status read ran (the copy then succeeded) was
    recorded too: its record is dropped, or it would abort a later copy under this id."""
    sim = SimCopy(duration=10.0, activity_seconds=0.3)
    sim.abort_at = 9.9  # raised while the read that sees success is running
    _, ctx = run(make_plan(lease="none", poll={"min_seconds": 1}), sim)
    assert "forget_abort_request" in names(ctx)


def run_through_continues(
    plan: dict[str, Any], sim: SimCopy, executions: int = 20
) -> tuple[Any, list[FakeContext]]:
    """Run execution after execution (following continue_as_new) until the copy ends."""
    doc, ctx = run(plan, sim)
    contexts = [ctx]
    while doc is None and len(contexts) < executions:
        nxt = FakeContext(ctx.continued_with, now=ctx.now)
        doc, ctx = drive(copy_orchestration(nxt), nxt, sim), nxt
        contexts.append(ctx)
    return doc, contexts


def test_a_stalled_huge_copy_estimates_no_finish_past_what_a_date_can_hold() -> None:
    """Two reads days apart showing a few MiB of an 8 TiB copy give an ETA of ~1e12 s: the
    estimate is capped, not a crash into the InternalError path (found by an attack)."""
    day = 86400.0
    reads = iter([(0, 0), (4 << 20, 0), (8 << 20, 0)])

    def slow(payload: dict[str, Any], t: float) -> Any:
        copied, _ = next(reads, (1 << 43, 0))
        state = "success" if copied == 1 << 43 else "pending"
        return {
            "ok": True,
            "status": state,
            "copy_id": "c1",
            "bytes_copied": copied,
            "total_bytes": 1 << 43,
        }

    sim = SimCopy(overrides={"check_copy": slow}, activity_seconds=6.4 * day)
    doc, _ = run(make_plan(lease="none", timeout_seconds=30 * 86400), sim)
    assert doc["state"] == "succeeded"
