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
from azure.storage.blob import ContainerClient

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
