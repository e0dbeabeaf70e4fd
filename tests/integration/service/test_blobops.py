"""shared/blobops.py against the real storage stack through the real SDK: SAS, lease, copy."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient
from azure.storage.queue import QueueClient

from devhost.storage.stack import ACCOUNTS, StorageStack
from shared import copy_activities
from shared.blobops import BlobOps
from shared.contracts import CopyStatus, StartCopyJob
from shared.control import AbortRequests
from shared.errors import (
    CopyFailed,
    DestinationExists,
    LeaseConflict,
    PermanentStorageError,
    SourceUnreadable,
    TransientStorageError,
)
from shared.timestamps import iso

pytestmark = pytest.mark.integration

SOURCE_ACCOUNT = ACCOUNTS[1]
DEADLINE = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def request(source: str, destination: str, **extra: Any) -> dict[str, Any]:
    """A copy request as the orchestrator passes it to start_copy."""
    return {"source": {"url": source}, "destination": {"url": destination}, **extra}


def put(container: ContainerClient, name: str, size: int = 512 * 1024) -> tuple[BlobClient, bytes]:
    """Upload random bytes and return the blob and its content."""
    data = os.urandom(size)
    container.upload_blob(name, data)
    return container.get_blob_client(name), data


def wait_for(ops: BlobOps, url: str, copy_id: str | None) -> CopyStatus:
    """Poll check_copy until the copy is no longer pending (pytest-timeout bounds it)."""
    while True:
        seen = ops.check_copy(url, copy_id)
        if seen.status != "pending":
            return seen
        time.sleep(0.05)


def test_source_sas_reads_one_blob_and_nothing_more(ops: BlobOps, src: ContainerClient) -> None:
    """The source SAS can read its blob but not write it."""
    blob, data = put(src, "a.bin", 1000)
    url = ops.readable_source(blob.url, DEADLINE)
    assert "sig=" in url and "sp=r&" in url
    assert BlobClient.from_blob_url(url).download_blob().readall() == data
    with pytest.raises(HttpResponseError):
        BlobClient.from_blob_url(url).upload_blob(b"x", overwrite=True)


def test_source_that_carries_a_sas_is_used_as_given(ops: BlobOps) -> None:
    """A source URL that already has a SAS, or an external URL, is not re-signed."""
    given = "http://127.0.0.1:1/x/c/b?sv=1&sig=abc"
    assert ops.readable_source(given, DEADLINE) == given
    assert ops.readable_source("https://example.com/f.bin", DEADLINE) == "https://example.com/f.bin"


def test_lease_acquire_renew_release(ops: BlobOps, src: ContainerClient) -> None:
    """The source lease is taken, renewed, and released again."""
    blob, _ = put(src, "a.bin", 10)
    ops.acquire_lease(blob.url, "11111111-1111-1111-1111-111111111111", 15)
    assert blob.get_blob_properties().lease.state == "leased"
    ops.renew_lease(blob.url, "11111111-1111-1111-1111-111111111111", 15)
    ops.release_lease(blob.url, "11111111-1111-1111-1111-111111111111")
    assert blob.get_blob_properties().lease.state == "available"


def test_a_broken_lease_is_not_taken_back_on_renewal(ops: BlobOps, src: ContainerClient) -> None:
    """Renewing a lease someone broke raises LeaseConflict and leaves the blob unleased."""
    blob, _ = put(src, "a.bin", 10)
    lease_id = "33333333-3333-3333-3333-333333333333"
    ops.acquire_lease(blob.url, lease_id, 15)
    BlobLeaseClient(blob).break_lease(lease_break_period=0)
    with pytest.raises(LeaseConflict):
        ops.renew_lease(blob.url, lease_id, 15)
    assert blob.get_blob_properties().lease.state == "broken"
    ops.release_lease(blob.url, lease_id)


def test_acquiring_twice_with_the_same_id_is_idempotent(ops: BlobOps, src: ContainerClient) -> None:
    """A retried acquire with our own lease id succeeds and the lease stays ours (activities may
    run twice)."""
    blob, _ = put(src, "a.bin", 10)
    lease_id = "22222222-2222-2222-2222-222222222222"
    ops.acquire_lease(blob.url, lease_id, 15)
    ops.acquire_lease(blob.url, lease_id, 15)
    lease = blob.get_blob_properties().lease
    assert (lease.state, lease.status, lease.duration) == ("leased", "locked", "fixed")
    BlobLeaseClient(blob, lease_id=lease_id).renew()  # the server still knows our id
    with pytest.raises(HttpResponseError) as caught:
        BlobLeaseClient(blob).acquire(15)
    assert getattr(caught.value, "error_code", None) == "LeaseAlreadyPresent"
    ops.release_lease(blob.url, lease_id)
    assert blob.get_blob_properties().lease.state == "available"


def test_someone_elses_lease_is_a_lease_conflict(ops: BlobOps, src: ContainerClient) -> None:
    """A source leased by another client refuses our lease with LeaseConflict."""
    blob, _ = put(src, "a.bin", 10)
    other = BlobLeaseClient(blob)
    other.acquire(15)
    try:
        with pytest.raises(LeaseConflict):
            ops.acquire_lease(blob.url, "33333333-3333-3333-3333-333333333333", 15)
    finally:
        other.release()


def test_leasing_a_missing_source_fails_as_copy_blob_does(
    ops: BlobOps, src: ContainerClient
) -> None:
    """Leasing a source that does not exist raises SourceUnreadable CannotVerifyCopySource."""
    with pytest.raises(SourceUnreadable) as caught:
        ops.acquire_lease(
            src.get_blob_client("missing.bin").url, "44444444-4444-4444-4444-444444444444", 15
        )
    assert caught.value.code == "CannotVerifyCopySource"


def test_cross_account_copy_is_pending_then_succeeds(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A copy from the other account starts pending, shows progress, then succeeds."""
    blob, data = put(src, "a.bin")
    target = dest.get_blob_client("a.bin")
    storage_stack.faults.hold_copies()
    started = ops.start_copy(request(blob.url, target.url), DEADLINE)
    assert started.status == "pending" and started.copy_id
    held = ops.check_copy(target.url, started.copy_id)
    assert held.status == "pending" and held.total_bytes == len(data)
    storage_stack.faults.release_copies()
    done = wait_for(ops, target.url, started.copy_id)
    assert (done.status, done.bytes_copied) == ("success", len(data))
    assert target.download_blob().readall() == data


def test_same_account_copy_succeeds_at_once(ops: BlobOps, dest: ContainerClient) -> None:
    """A copy inside one account answers success straight away, with its size."""
    blob, data = put(dest, "a.bin", 1000)
    started = ops.start_copy(request(blob.url, blob.url.replace("a.bin", "b.bin")), DEADLINE)
    assert started.status == "success" and started.total_bytes == len(data)


def test_abort_of_a_pending_copy_aborts_it(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """abort_copy on a pending copy leaves it aborted."""
    blob, _ = put(src, "a.bin")
    target = dest.get_blob_client("a.bin")
    storage_stack.faults.hold_copies()
    started = ops.start_copy(request(blob.url, target.url), DEADLINE)
    assert ops.abort_copy(target.url, started.copy_id).status == "aborted"
    assert target.get_blob_properties().copy.status == "aborted"


def test_abort_after_success_reports_success(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """abort_copy of a copy that already ended reports its true final state."""
    blob, _ = put(src, "a.bin", 1000)
    target = dest.get_blob_client("a.bin")
    started = ops.start_copy(request(blob.url, target.url), DEADLINE)
    wait_for(ops, target.url, started.copy_id)
    assert ops.abort_copy(target.url, started.copy_id).status == "success"


def test_overwrite_never_refuses_an_existing_destination(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """overwrite=never and an existing destination raise DestinationExists."""
    blob, _ = put(src, "a.bin", 10)
    existing, _ = put(dest, "a.bin", 10)
    with pytest.raises(DestinationExists):
        ops.start_copy(request(blob.url, existing.url, overwrite="never"), DEADLINE)


def test_retried_start_with_overwrite_never_adopts_its_own_first_attempt(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """A start retried after its first attempt got through reports that copy, not a conflict."""
    blob, data = put(src, "a.bin", 1000)
    target = dest.get_blob_client("a.bin")
    asked = dt.datetime.now(dt.UTC)
    first = ops.start_copy(request(blob.url, target.url, overwrite="never"), DEADLINE, asked)
    assert wait_for(ops, target.url, first.copy_id).status == "success"
    again = ops.start_copy(request(blob.url, target.url, overwrite="never"), DEADLINE, asked)
    assert again.status == "success"
    assert again.copy_id == first.copy_id
    assert target.download_blob().readall() == data


@pytest.mark.parametrize("overwrite", ["always", "if_newer"])
def test_retried_start_adopts_its_own_first_attempt_and_copies_once(
    ops: BlobOps,
    src: ContainerClient,
    dest: ContainerClient,
    storage_stack: StorageStack,
    overwrite: str,
) -> None:
    """A start whose first attempt got through (its answer lost: the status read after it
    failed, or the host died) reports that copy: no second accepted Copy Blob (the chaos run
    counted two), and if_newer does not read its own copy as a newer destination."""
    blob, data = put(src, "a.bin", 1000)
    target = dest.get_blob_client("a.bin")
    storage_stack.reset_transactions()
    asked = dt.datetime.now(dt.UTC)
    first = ops.start_copy(request(blob.url, target.url, overwrite=overwrite), DEADLINE, asked)
    assert wait_for(ops, target.url, first.copy_id).status == "success"
    again = ops.start_copy(request(blob.url, target.url, overwrite=overwrite), DEADLINE, asked)
    assert (again.status, again.copy_id, again.skipped) == ("success", first.copy_id, False)
    accepted = storage_stack.transactions().accepted_copies
    assert accepted == {f"{dest.account_name}/{dest.container_name}/a.bin": 1}
    assert target.download_blob().readall() == data


def test_a_new_start_copies_over_an_older_copy_of_the_same_source(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """Adoption is only of copies made since the start was asked for: an earlier copy of the
    same source is copied over (overwrite=always), with a new copy id."""
    blob, _ = put(src, "a.bin", 1000)
    target = dest.get_blob_client("a.bin")
    earlier = ops.start_copy(request(blob.url, target.url), DEADLINE)
    wait_for(ops, target.url, earlier.copy_id)
    time.sleep(1.1)  # last-modified times have one-second precision
    later = ops.start_copy(request(blob.url, target.url), DEADLINE, dt.datetime.now(dt.UTC))
    assert later.copy_id != earlier.copy_id


def test_overwrite_never_refuses_an_older_copy_of_the_same_source(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """A destination copied from the same source before this copy was asked for is kept."""
    blob, _ = put(src, "a.bin", 1000)
    target = dest.get_blob_client("a.bin")
    earlier = ops.start_copy(request(blob.url, target.url), DEADLINE)
    wait_for(ops, target.url, earlier.copy_id)
    time.sleep(1.1)  # creation times have one-second precision
    asked = dt.datetime.now(dt.UTC)
    with pytest.raises(DestinationExists):
        ops.start_copy(request(blob.url, target.url, overwrite="never"), DEADLINE, asked)


def test_missing_source_is_a_permanent_error_or_a_failed_copy(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """A source that does not exist ends in a permanent error (or a copy reported failed)."""
    missing = src.get_blob_client("nope.bin").url
    target = dest.get_blob_client("a.bin").url
    try:
        started = ops.start_copy(request(missing, target), DEADLINE)
    except PermanentStorageError:
        return
    assert wait_for(ops, target, started.copy_id).status == "failed"


def test_server_busy_is_transient(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A 503 ServerBusy on Copy Blob surfaces as TransientStorageError (to be retried)."""
    blob, _ = put(src, "a.bin", 10)
    storage_stack.faults.fail(status=503, code="ServerBusy", header="x-ms-copy-source")
    with pytest.raises(TransientStorageError) as caught:
        ops.start_copy(request(blob.url, dest.get_blob_client("a.bin").url), DEADLINE)
    assert caught.value.code == "ServerBusy"


def test_copy_from_a_snapshot(ops: BlobOps, src: ContainerClient, dest: ContainerClient) -> None:
    """A source snapshot URL gets a snapshot SAS and copies the snapshot's bytes."""
    blob, data = put(src, "a.bin", 1000)
    snapshot = blob.create_snapshot()["snapshot"]
    blob.upload_blob(b"changed", overwrite=True)
    target = dest.get_blob_client("a.bin")
    started = ops.start_copy(request(f"{blob.url}?snapshot={snapshot}", target.url), DEADLINE)
    assert wait_for(ops, target.url, started.copy_id).status == "success"
    assert target.download_blob().readall() == data


def test_snapshot_restores_the_destination_after_an_abort(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """snapshot_destination + abort + finish_snapshot(restore) gives the old destination back."""
    blob, _ = put(src, "a.bin")
    old, old_data = put(dest, "a.bin", 100)
    snapshot = ops.snapshot_destination(old.url)
    assert snapshot
    storage_stack.faults.hold_copies()
    started = ops.start_copy(request(blob.url, old.url), DEADLINE)
    ops.abort_copy(old.url, started.copy_id)
    storage_stack.faults.release_copies()
    ops.finish_snapshot(old.url, snapshot, restore=True)
    assert old.download_blob().readall() == old_data
    assert [b.snapshot for b in dest.list_blobs(include=["snapshots"]) if b.snapshot] == []


def test_verify_checks_length_and_md5(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """verify passes for a faithful copy and fails on a wrong expected length."""
    blob, _ = put(src, "a.bin", 1000)
    target = dest.get_blob_client("a.bin")
    started = ops.start_copy(request(blob.url, target.url), DEADLINE)
    wait_for(ops, target.url, started.copy_id)
    assert "length" in ops.verify(blob.url, target.url, 1000)
    with pytest.raises(PermanentStorageError):
        ops.verify(blob.url, target.url, 999)


def test_publish_sends_the_document_base64(ops: BlobOps, storage_stack: StorageStack) -> None:
    """publish puts the result document on the queue, base64-encoded as Functions reads it."""
    ops.publish("results-test", {"id": "x", "state": "succeeded"})
    queue = QueueClient.from_connection_string(storage_stack.connection_string(), "results-test")
    [message] = list(queue.receive_messages())
    assert json.loads(base64.b64decode(message.content)) == {"id": "x", "state": "succeeded"}
    queue.delete_queue()


def test_restoring_a_destination_that_did_not_exist_deletes_it(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """An aborted copy into a new destination leaves nothing behind after restore."""
    blob, _ = put(src, "a.bin")
    target = dest.get_blob_client("new.bin")
    assert ops.snapshot_destination(target.url) is None
    storage_stack.faults.hold_copies()
    started = ops.start_copy(request(blob.url, target.url), DEADLINE)
    ops.abort_copy(target.url, started.copy_id)
    ops.finish_snapshot(target.url, "", restore=True)
    assert not target.exists()


@pytest.mark.parametrize("name", ["a?b.txt", "q#1.txt", "50%25.txt", "my file+x.txt"])
def test_blob_names_that_need_encoding_copy_across_accounts(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, name: str
) -> None:
    """Names with ?, #, % or spaces reach the service encoded and copy byte for byte."""
    blob, data = put(src, name, 1000)
    target = dest.get_blob_client(name)
    started = ops.start_copy(request(blob.url, target.url), DEADLINE)
    assert wait_for(ops, target.url, started.copy_id).status == "success"
    assert target.download_blob().readall() == data


def test_abort_after_another_copy_replaced_ours_is_copy_replaced(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """Aborting our copy after another copy replaced it on the destination raises CopyReplaced
    instead of reporting the other copy's success as ours.

    Abort Copy Blob answers 409 NoPendingCopyOperation once nothing is pending, whoever copied
    last (REST Abort Copy Blob; the copy engine answers so in devhost/storage/abort.py), so only
    the destination's x-ms-copy-id tells whose copy is there.
    """
    first, _ = put(src, "a.bin", 1000)
    other, _ = put(src, "b.bin", 1000)
    target = dest.get_blob_client("a.bin")
    ours = ops.start_copy(request(first.url, target.url), DEADLINE)
    assert wait_for(ops, target.url, ours.copy_id).status == "success"
    theirs = target.start_copy_from_url(ops.readable_source(other.url, DEADLINE))
    assert wait_for(ops, target.url, str(theirs["copy_id"])).status == "success"
    with pytest.raises(CopyFailed) as caught:
        ops.abort_copy(target.url, ours.copy_id)
    assert caught.value.code == "CopyReplaced"


def test_an_abort_recorded_after_a_lost_start_is_not_reported_over_a_finished_copy(
    ops: BlobOps,
    src: ContainerClient,
    dest: ContainerClient,
    storage_stack: StorageStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start activity reads a recorded abort first; when an earlier attempt of the start
    already copied (its answer lost), the copy is what it is: done, so the copy succeeded.
    (The chaos run had a copy called aborted over a destination holding every byte.) With no
    earlier copy, the abort stands."""
    records = AbortRequests(storage_stack.connection_string(), None, retry_total=0)
    monkeypatch.setattr(copy_activities, "storage", lambda: ops)
    monkeypatch.setattr(copy_activities, "abort_requests", lambda: records)
    blob, data = put(src, "a.bin", 1000)
    copy_id = f"c-{uuid.uuid4().hex}"
    asked = dt.datetime.now(dt.UTC)
    job = StartCopyJob(copy_id, request(blob.url, f"{dest.url}/a.bin"), iso(DEADLINE), iso(asked))
    ops.start_copy(job.request, DEADLINE, asked)  # the first attempt, whose answer was lost
    records.record(copy_id, "changed my mind")
    answer = copy_activities.start_copy(job.to_wire())
    assert answer["ok"] and answer["status"] == "success"
    untouched = replace(job, request=request(blob.url, f"{dest.url}/b.bin"))
    answer = copy_activities.start_copy(untouched.to_wire())
    assert answer["ok"] and answer["abort_requested"] and answer["reason"] == "changed my mind"
    assert not dest.get_blob_client("b.bin").exists()
    assert dest.get_blob_client("a.bin").download_blob().readall() == data


@pytest.mark.parametrize(("wanted", "copied"), [("PageBlob", False), ("BlockBlob", True)])
def test_a_blob_type_the_source_cannot_make_fails_the_copy_before_copy_blob(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient, wanted: str, copied: bool
) -> None:
    """Copy Blob keeps its source's type: a PageBlob asked for of a block blob used to make a
    block blob silently. Now one Get Blob Properties of the source tells, and the copy fails
    with InvalidBlobType (Azure's own code for a type mismatch) before any Copy Blob."""
    blob, _ = put(src, "block.bin", 1000)
    target = dest.get_blob_client("out.bin")
    asked = request(blob.url, target.url)
    asked["destination"]["blob_type"] = wanted
    if copied:
        started = ops.start_copy(asked, DEADLINE)
        assert wait_for(ops, target.url, started.copy_id).status == "success"
        return
    with pytest.raises(CopyFailed) as refused:
        ops.start_copy(asked, DEADLINE)
    assert refused.value.code == "InvalidBlobType"
    assert "BlockBlob" in str(refused.value) and wanted in str(refused.value)
    assert not target.exists()


def test_verify_reads_a_file_source_and_fails_one_written_since_the_start(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Copy Blob reads a file without any lock, so `verify` reads the file (through a SAS,
    as the copy did): its length and MD5, and whether it was written after the start was
    asked (whole seconds: a write in the start's own second is let through)."""
    src.upload_blob("f.bin", b"file bytes")  # the share's files are its container's blobs
    file_url = f"{storage_stack.file_endpoint(SOURCE_ACCOUNT)}/{src.container_name}/f.bin"
    target = dest.get_blob_client("f.bin")
    target.upload_blob(b"file bytes")
    now = dt.datetime.now(dt.UTC)
    later = iso(now + dt.timedelta(seconds=5))
    assert ops.verify(file_url, target.url, 10, later) == ["length", "md5", "unchanged"]
    with pytest.raises(CopyFailed, match="written during the copy"):
        ops.verify(file_url, target.url, 10, iso(now - dt.timedelta(seconds=10)))
    target.upload_blob(b"torn bytes", overwrite=True)
    with pytest.raises(CopyFailed, match="MD5 differs"):
        ops.verify(file_url, target.url, 10, later)
