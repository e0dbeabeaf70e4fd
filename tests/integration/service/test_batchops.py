"""shared/batchops.py against the real storage stack through the real SDK: rounds of a batch.

Each round is driven here as the orchestrator drives it (pending copies and the listing's
continuation carried from one round to the next), so these tests pin what storage sees.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import replace
from typing import Any

import pytest
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobSasPermissions,
    ContainerClient,
    generate_blob_sas,
)

from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import StorageStack
from shared.batchops import ADOPTION_SKEW, BatchOps
from shared.batchreport import append_lines, report_name
from shared.blobops import BlobOps
from shared.contracts import BatchRound, BatchRoundJob, BatchTally
from shared.timestamps import iso

pytestmark = pytest.mark.integration

DEADLINE = iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


def batch(src: ContainerClient, dest: ContainerClient, **extra: Any) -> dict[str, Any]:
    """A validated batch request between the two containers."""
    body = {
        "kind": "batch",
        "source": {"url": src.url, "prefix": extra.pop("prefix", "p/")},
        "destination": {"url": dest.url, "prefix": extra.pop("dest_prefix", "q/")},
        "include": [],
        "exclude": [],
        "max_concurrency": 4,
        "dry_run": False,
        "id": None,
        "overwrite": "always",
        "metadata": {},
        "tier": None,
        "timeout_seconds": None,
        "verify": False,
        "notify": None,
    }
    return {**body, **extra}


def job(
    request: dict[str, Any], batch_id: str, fill: bool = True, page: int = 5000
) -> BatchRoundJob:
    asked = iso(dt.datetime.now(dt.UTC))
    return BatchRoundJob(batch_id, request, asked, DEADLINE, [], None, fill, 0, page)


def fill(src: ContainerClient, count: int, prefix: str = "p/", size: int = 1024) -> list[str]:
    names = [f"{prefix}{i:04d}.bin" for i in range(count)]
    for name in names:
        src.upload_blob(name, os.urandom(size))
    return names


def run_to_end(
    ops: BlobOps, first: BatchRoundJob, exhausted: bool = False, rounds: int = 200
) -> tuple[BatchTally, int]:
    """Drive rounds as the orchestrator does until nothing is pending and all is listed (the
    orchestrator remembers that the listing is exhausted: a round that does not fill lists
    nothing, so cannot say)."""
    current, tally = first, BatchTally()
    for _ in range(rounds):
        found = BatchOps(ops, current).run_round(current, dt.datetime.now(dt.UTC))
        tally, exhausted = tally.plus(found.tally), exhausted or found.exhausted
        if exhausted and not found.pending:
            return tally, found.report_length
        current = next_job(current, found, exhausted)
        time.sleep(0.02)
    raise AssertionError("the batch did not end")


def next_job(current: BatchRoundJob, found: BatchRound, exhausted: bool) -> BatchRoundJob:
    return replace(
        current,
        asked_at=iso(dt.datetime.now(dt.UTC)),
        pending=found.pending,
        marker=found.marker,
        fill=not exhausted,
        report_length=found.report_length,
    )


def report_lines(ops: BlobOps, dest: ContainerClient, batch_id: str) -> list[dict[str, Any]]:
    location = ops.locate(dest.url)
    assert location is not None
    service = ops.service(location.account)
    blob = service.get_blob_client(ops.settings.report_container, report_name(batch_id))
    return [json.loads(line) for line in blob.download_blob().readall().decode().splitlines()]


def test_every_blob_under_the_prefix_is_copied_and_reported_once(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """Ten blobs, four at a time, small listing pages: each lands byte-identical under the new
    prefix, each is reported once, and a blob outside the prefix is left alone."""
    names = fill(src, 10)
    src.upload_blob("other/x.bin", b"not mine")
    tally, _ = run_to_end(ops, job(batch(src, dest), "b-all", page=3))
    assert (tally.listed, tally.succeeded, tally.failed) == (10, 10, 0)
    for name in names:
        copied = dest.get_blob_client("q/" + name[2:]).download_blob().readall()
        assert copied == src.get_blob_client(name).download_blob().readall()
    assert not dest.get_blob_client("q/x.bin").exists()
    lines = report_lines(ops, dest, "b-all")
    assert sorted(line["name"] for line in lines) == names
    assert {line["state"] for line in lines} == {"succeeded"}


def test_never_more_copies_pending_than_the_free_slots(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """With copies held pending, a round starts only as many copies as slots are free, and the
    next round (none free) starts none: the destination holds just those two."""
    fill(src, 6)
    storage_stack.faults.hold_copies()
    first = job(batch(src, dest, max_concurrency=2), "b-held")
    found = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    assert len(found.pending) == 2 and not found.exhausted
    again = next_job(first, found, False)
    held = BatchOps(ops, again).run_round(again, dt.datetime.now(dt.UTC))
    assert held.pending == found.pending
    assert len(list(dest.list_blobs())) == 2


def test_a_retried_round_adopts_the_copies_its_lost_attempt_started(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """The same round run twice (its first answer lost) starts no second copy: the second
    attempt finds this batch's copies in the destination listing and carries them on."""
    fill(src, 3)
    storage_stack.faults.hold_copies()
    first = job(batch(src, dest), "b-retry")
    lost = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    again = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    assert sorted(b.copy_id for b in again.pending) == sorted(b.copy_id for b in lost.pending)
    assert again.tally.listed == 3


def test_a_rerun_with_overwrite_never_copies_nothing_and_counts_skips(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """A second batch over the same blobs with overwrite=never skips every one, from the
    destination listing, without a Copy Blob. (It starts once the first batch's copies are
    older than ADOPTION_SKEW: a round takes younger copies of its source for its own.)"""
    fill(src, 5)
    run_to_end(ops, job(batch(src, dest), "b-first"))
    time.sleep(ADOPTION_SKEW.total_seconds() + 0.5)
    before = {b.name: b.etag for b in dest.list_blobs()}
    tally, _ = run_to_end(ops, job(batch(src, dest, overwrite="never"), "b-again"))
    assert (tally.listed, tally.skipped, tally.succeeded) == (5, 5, 0)
    assert {b.name: b.etag for b in dest.list_blobs()} == before


def test_a_dry_run_touches_no_destination(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """dry_run lists and judges every blob, copies nothing, and reports each verdict."""
    fill(src, 4)
    dest.upload_blob("q/0001.bin", b"already here")
    request = batch(src, dest, dry_run=True, overwrite="never")
    tally, _ = run_to_end(ops, job(request, "b-dry"))
    assert (tally.listed, tally.succeeded, tally.skipped) == (4, 3, 1)
    assert [b.name for b in dest.list_blobs()] == ["q/0001.bin"]
    verdicts = {line["name"]: line["state"] for line in report_lines(ops, dest, "b-dry")}
    assert verdicts["p/0001.bin"] == "would_skip" and verdicts["p/0000.bin"] == "would_copy"


def test_a_dry_run_right_after_a_batch_judges_its_copies_instead_of_adopting_them(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """A dry run never started a copy, so a young copy of the same source is not its own: with
    overwrite=never every blob the first batch copied would be skipped."""
    fill(src, 3)
    run_to_end(ops, job(batch(src, dest), "b-real"))
    tally, _ = run_to_end(ops, job(batch(src, dest, dry_run=True, overwrite="never"), "b-judge"))
    assert (tally.listed, tally.skipped, tally.succeeded) == (3, 3, 0)


def test_include_and_exclude_select_by_the_name_after_the_prefix(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """Globs match the relative name; filtered pages still advance the listing."""
    for name in ("p/a.csv", "p/b.csv", "p/tmp/c.csv", "p/d.txt"):
        src.upload_blob(name, b"x")
    request = batch(src, dest, include=["*.csv"], exclude=["tmp/*"])
    tally, _ = run_to_end(ops, job(request, "b-glob", page=1))
    assert tally.listed == 2
    assert sorted(b.name for b in dest.list_blobs()) == ["q/a.csv", "q/b.csv"]


def test_a_report_append_lost_and_retried_writes_no_line_twice(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """The report's append is conditional on its length: appending the same lines again at the
    old length finds them written and adds only the new ones."""
    fill(src, 1)
    one = {"name": "p/0000.bin", "destination": "q/0000.bin", "state": "succeeded"}
    two = {**one, "name": "p/0001.bin"}
    ops_for = BatchOps(ops, job(batch(src, dest), "b-report"))
    container = ops_for.report_container()
    length = append_lines(container, "b-report", 0, [one])
    again = append_lines(container, "b-report", 0, [one, two])
    assert again > length
    assert [line["name"] for line in report_lines(ops, dest, "b-report")] == [
        "p/0000.bin",
        "p/0001.bin",
    ]


def test_verify_compares_the_listings_and_fails_a_mismatch(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """verify=true checks length and MD5 from the two listings; copies that match pass."""
    for i in range(3):
        src.upload_blob(f"p/{i}.bin", os.urandom(2048))
    tally, _ = run_to_end(ops, job(batch(src, dest, verify=True), "b-verify"))
    assert (tally.succeeded, tally.failed) == (3, 0)


def test_leased_sources_are_held_while_their_copies_run_and_released_after(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """lease_source=infinite: each source is leased while its copy is pending and released once
    the copy ended; a source someone else leased fails with their conflict, lease untouched."""
    names = fill(src, 3)
    theirs = src.get_blob_client(names[2]).acquire_lease(-1)
    storage_stack.faults.hold_copies()
    first = job(batch(src, dest, lease_source="infinite"), "b-lease")
    found = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    assert len(found.pending) == 2 and found.tally.failed == 1
    leases = {n: src.get_blob_client(n).get_blob_properties().lease for n in names}
    assert all(leases[n].state == "leased" and leases[n].duration == "infinite" for n in names)
    storage_stack.faults.release_copies()
    tally, _ = run_to_end(ops, next_job(first, found, True), exhausted=True)
    assert tally.succeeded == 2
    states = [src.get_blob_client(n).get_blob_properties().lease.state for n in names]
    assert states == ["available", "available", "leased"]
    theirs.release()


# --- per-blob timeouts and renewed leases -------------------------------------------------


def at(current: BatchRoundJob, seconds: float) -> BatchRoundJob:
    """The same job decided `seconds` after `current` was (orchestration time)."""
    asked = dt.datetime.fromisoformat(current.asked_at.replace("Z", "+00:00"))
    return replace(current, asked_at=iso(asked + dt.timedelta(seconds=seconds)))


def wait_copied(dest: ContainerClient, names: list[str]) -> None:
    """Wait until the (unheld) copies into these names have succeeded."""
    for _ in range(500):
        if all(
            dest.get_blob_client(n).get_blob_properties().copy.status == "success" for n in names
        ):
            return
        time.sleep(0.02)
    raise AssertionError(f"{names} were not copied")


def sas_url(blob: BlobClient) -> str:
    """A read SAS for a blob in the stack (Azurite's well-known development key)."""
    token = generate_blob_sas(
        str(blob.account_name), blob.container_name, blob.blob_name,
        account_key=DEV_ACCOUNT_KEY, permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )  # fmt: skip
    return f"{blob.url}?{token}"


def lease_of(src: ContainerClient, name: str) -> tuple[str, str | None]:
    lease = src.get_blob_client(name).get_blob_properties().lease
    return str(lease.state), lease.duration


def test_a_copy_past_its_blob_timeout_is_aborted_and_the_batch_goes_on(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """blob_timeout_seconds=30: a held copy is left alone 10 s after it started (orchestration
    time), aborted by the first round past 30 s with one Abort Copy Blob and reported failed
    with Timeout; its lease is released and the other blobs are copied."""
    names = fill(src, 3)
    storage_stack.faults.hold_copies(path=r"/q/0001\.bin")
    request = batch(src, dest, blob_timeout_seconds=30, lease_source="renewed")
    first = job(request, "b-timeout")
    found = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    assert found.exhausted and all(b.started_at == first.asked_at for b in found.pending)
    wait_copied(dest, ["q/0000.bin", "q/0002.bin"])
    early = replace(
        at(first, 10), pending=found.pending, fill=False, report_length=found.report_length
    )
    found = BatchOps(ops, early).run_round(early, dt.datetime.now(dt.UTC))
    assert [b.name for b in found.pending] == ["p/0001.bin"] and not found.errors
    storage_stack.reset_transactions()
    late = replace(
        at(first, 31), pending=found.pending, fill=False, report_length=found.report_length
    )
    ended = BatchOps(ops, late).run_round(late, dt.datetime.now(dt.UTC))
    assert ended.pending == [] and ended.tally.failed == 1 and ended.errors == {"Timeout": 1}
    assert storage_stack.transactions().by_operation.get("Abort Copy Blob") == 1
    assert dest.get_blob_client("q/0001.bin").get_blob_properties().copy.status == "aborted"
    assert [lease_of(src, n)[0] for n in names] == ["available"] * 3
    lines = {line["name"]: line for line in report_lines(ops, dest, "b-timeout")}
    assert (lines["p/0001.bin"]["state"], lines["p/0001.bin"]["error"]) == ("failed", "Timeout")
    assert {lines[n]["state"] for n in ("p/0000.bin", "p/0002.bin")} == {"succeeded"}


def test_a_retried_round_that_timed_a_copy_out_reports_it_once_as_timeout(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """The round that aborted a copy for its timeout, run again (its answer lost), finds the
    copy aborted and still calls it Timeout (not Aborted), and the report holds one line."""
    fill(src, 1)
    storage_stack.faults.hold_copies()
    first = job(batch(src, dest, blob_timeout_seconds=5), "b-timeout-retry")
    found = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    late = replace(
        at(first, 6), pending=found.pending, fill=False, report_length=found.report_length
    )
    BatchOps(ops, late).run_round(late, dt.datetime.now(dt.UTC))
    again = BatchOps(ops, late).run_round(late, dt.datetime.now(dt.UTC))
    assert again.errors == {"Timeout": 1} and again.tally.failed == 1
    lines = report_lines(ops, dest, "b-timeout-retry")
    assert [(line["state"], line["error"]) for line in lines] == [("failed", "Timeout")]


def test_renewed_leases_outlive_their_first_life_while_the_copies_run(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """lease_source=renewed with 15 s leases and copies held for 20 s, rounds every 2 s: the
    sources are still leased past their first life (without renewals they would have
    expired), renewed when a third of the lease has lived rather than every round, and
    released once the copies end."""
    names = fill(src, 2)
    storage_stack.faults.hold_copies()
    current = replace(job(batch(src, dest, lease_source="renewed"), "b-renew"), lease_seconds=15)
    found = BatchOps(ops, current).run_round(current, dt.datetime.now(dt.UTC))
    assert [lease_of(src, n) for n in names] == [("leased", "fixed")] * 2
    storage_stack.reset_transactions()
    began, rounds = time.monotonic(), 0
    while time.monotonic() - began < 20:
        time.sleep(2)
        current = next_job(current, found, True)
        found = BatchOps(ops, current).run_round(current, dt.datetime.now(dt.UTC))
        rounds += 1
    assert len(found.pending) == 2
    assert [lease_of(src, n)[0] for n in names] == ["leased"] * 2
    renewals = storage_stack.transactions().by_account.get("devstoreaccount2", {})
    assert 2 * 3 <= renewals.get("Lease Blob", 0) <= 2 * 5 < 2 * rounds  # every 5-7 s, not 2
    storage_stack.faults.release_copies()
    run_to_end(ops, next_job(current, found, True), exhausted=True)
    assert [lease_of(src, n)[0] for n in names] == ["available"] * 2


def test_a_renewed_lease_someone_breaks_stops_that_copy_only(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """A renewed lease broken by an operator cannot be renewed (Azure's 409
    LeaseIsBrokenAndCannotBeRenewed, which the engine gives as Azure does): the round that
    finds it due aborts that copy and reports it failed with storage's code; the other copy's
    lease is renewed and its copy goes on."""
    names = fill(src, 2)
    storage_stack.faults.hold_copies()
    first = replace(job(batch(src, dest, lease_source="renewed"), "b-broken"), lease_seconds=15)
    found = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    BlobLeaseClient(src.get_blob_client(names[0])).break_lease(0)
    later = next_job(first, found, True)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)  # a third of 15 s has passed
    found = BatchOps(ops, later).run_round(later, due)
    assert [b.name for b in found.pending] == [names[1]] and found.pending[0].leased_at == iso(due)
    assert found.errors == {"LeaseIsBrokenAndCannotBeRenewed": 1}
    assert dest.get_blob_client("q/0000.bin").get_blob_properties().copy.status == "aborted"
    assert lease_of(src, names[1]) == ("leased", "fixed")


def test_someone_elses_pending_copy_of_the_source_is_watched_never_aborted(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, storage_stack: StorageStack
) -> None:
    """A copy of the same source that someone else started (a replica's, during a back-fill)
    is pending on the destination before the round is decided: the round starts no second
    Copy Blob (Azure would refuse it) and watches that copy instead; the batch's abort leaves
    it alone, and the aborting round reports the blob skipped with DestinationBusy."""
    [name] = fill(src, 1)
    storage_stack.faults.hold_copies()
    theirs = dest.get_blob_client("q/0000.bin").start_copy_from_url(
        sas_url(src.get_blob_client(name))
    )
    time.sleep(ADOPTION_SKEW.total_seconds() + 0.5)  # started before the round was decided
    storage_stack.reset_transactions()
    first = job(batch(src, dest, lease_source="renewed", blob_timeout_seconds=1), "b-foreign")
    found = BatchOps(ops, first).run_round(first, dt.datetime.now(dt.UTC))
    assert [(b.copy_id, b.foreign) for b in found.pending] == [(theirs["copy_id"], True)]
    assert "Copy Blob" not in storage_stack.transactions().by_operation
    assert lease_of(src, name)[0] == "available"  # not ours: not leased
    late = replace(
        at(first, 5), pending=found.pending, fill=False, report_length=found.report_length
    )
    assert BatchOps(ops, late).run_round(late, dt.datetime.now(dt.UTC)).pending == found.pending
    BatchOps(ops, late).abort_all(found.pending)
    stopping = replace(late, stopping=True)
    ended = BatchOps(ops, stopping).run_round(stopping, dt.datetime.now(dt.UTC))
    assert ended.pending == [] and ended.errors == {"DestinationBusy": 1}
    assert ended.tally.skipped == 1
    assert dest.get_blob_client("q/0000.bin").get_blob_properties().copy.status == "pending"
    storage_stack.faults.release_copies()
