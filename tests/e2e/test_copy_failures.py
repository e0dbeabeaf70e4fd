"""Copies that cannot succeed: missing sources, forbidden destinations, deadlines, faults."""

from __future__ import annotations

import os
import re

import pytest
from azure.storage.blob import BlobLeaseClient

from devhost.storage.stack import StorageStack
from tests.e2e.e2e_helpers import (
    DEST_ACCOUNT,
    FAST_POLL,
    SOURCE_ACCOUNT,
    CopyApi,
    ExternalFiles,
    TestBlobs,
)

pytestmark = pytest.mark.e2e

KIB = 1024


def test_missing_source_fails_with_cannot_verify_copy_source(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """A source blob that does not exist ends the copy failed with CannotVerifyCopySource."""
    dest = blobs.destination()
    copy_id = copies.start(
        {"source": {"url": blobs.missing_source()}, "destination": {"url": dest.url}}
    )
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"] == "CannotVerifyCopySource", doc
    assert not dest.exists()


def test_missing_external_file_fails_with_cannot_verify_copy_source(
    copies: CopyApi, blobs: TestBlobs, external_files: ExternalFiles
) -> None:
    """An external URL that answers 404 ends the copy failed with CannotVerifyCopySource."""
    dest = blobs.destination()
    missing = f"{external_files.base_url}/files/nothing-here.bin"
    copy_id = copies.start({"source": {"url": missing}, "destination": {"url": dest.url}})
    doc = copies.wait_final(copy_id)
    assert (doc["state"], doc["error"]["code"]) == ("failed", "CannotVerifyCopySource"), doc


def test_existing_destination_with_overwrite_never_fails(copies: CopyApi, blobs: TestBlobs) -> None:
    """overwrite=never on an existing destination ends failed and keeps its content."""
    source = blobs.source(os.urandom(64 * KIB))
    dest = blobs.destination()
    dest.upload_blob(b"keep me")
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "overwrite": "never"}
    )
    doc = copies.wait_final(copy_id)
    assert (doc["state"], doc["error"]["code"]) == ("failed", "DestinationExists"), doc
    assert dest.download_blob().readall() == b"keep me"


def test_source_leased_by_someone_else_fails_and_keeps_their_lease(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """A source another client holds a lease on ends the copy failed with a lease error,
    and that client's lease is left as it was."""
    source = blobs.source(os.urandom(64 * KIB))
    theirs = BlobLeaseClient(blobs.sources[-1])
    theirs.acquire(lease_duration=15)
    try:
        copy_id = copies.start(
            {"source": {"url": source}, "destination": {"url": blobs.destination().url}}
        )
        doc = copies.wait_final(copy_id)
        assert (doc["state"], doc["error"]["code"]) == ("failed", "LeaseAlreadyPresent"), doc
        assert blobs.sources[-1].get_blob_properties().lease.state == "leased"
    finally:
        theirs.release()


def test_destination_outside_the_allowlist_is_403(copies: CopyApi, blobs: TestBlobs) -> None:
    """A destination in an account the allowlist does not name answers 403 and copies nothing."""
    source = blobs.source(os.urandom(16 * KIB), account=DEST_ACCOUNT)
    dest = blobs.destination(account=SOURCE_ACCOUNT)
    reply = copies.post({"source": {"url": source}, "destination": {"url": dest.url}})
    assert reply.status == 403, reply.body
    assert reply.json()["error"]["fields"] == [
        {"field": "destination.url", "message": "outside the allowlist"}
    ]
    assert not dest.exists()


def test_unconfigured_destination_account_is_403(copies: CopyApi, blobs: TestBlobs) -> None:
    """A destination that is no configured storage account at all answers 403."""
    source = blobs.source(os.urandom(16 * KIB))
    reply = copies.post(
        {"source": {"url": source}, "destination": {"url": "https://elsewhere.example/c/b.bin"}}
    )
    assert reply.status == 403, reply.body


def test_deadline_ends_timed_out_and_aborts_the_storage_copy(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """A copy still pending at its timeout ends timed_out, with the storage copy aborted,
    the destination empty and the source lease released."""
    source = blobs.source(os.urandom(512 * KIB))
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {
            "source": {"url": source},
            "destination": {"url": dest.url},
            "timeout_seconds": 2,
            "poll": FAST_POLL,
        }
    )
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "timed_out", doc
    assert doc["error"]["code"] == "Timeout"
    props = dest.get_blob_properties()
    assert (props.copy.status, props.size) == ("aborted", 0)
    assert blobs.leased_sources() == []


def test_source_changed_mid_copy_fails(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack, external_files: ExternalFiles
) -> None:
    """An external source whose content changes while it is copied ends the copy failed."""
    data = os.urandom(512 * KIB)
    url = external_files.serve(data, "moving.bin")
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": url}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    copies.wait_pending(copy_id)
    external_files.replace(url, os.urandom(512 * KIB))  # a new ETag
    e2e_stack.faults.release_copies()
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"] == "CopyFailed"
    assert "412" in doc["error"]["message"]


def test_transient_error_on_copy_start_is_retried_to_success(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """One 503 ServerBusy on Copy Blob is retried by the orchestrator and the copy succeeds."""
    data = os.urandom(64 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    rule = e2e_stack.faults.fail(
        status=503,
        code="ServerBusy",
        method="PUT",
        path=re.escape(f"/{dest.container_name}/"),
        header="x-ms-copy-source",
        times=1,
    )
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    doc = copies.wait_final(copy_id)
    assert not e2e_stack.faults.active(rule), "the injected 503 was never hit"
    assert doc["state"] == "succeeded", doc
    assert dest.download_blob().readall() == data
