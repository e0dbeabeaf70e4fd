"""Aborting copies over the HTTP API: what the destination and the source look like after."""

from __future__ import annotations

import os
import re

import pytest
from azure.storage.blob import BlobClient

from devhost.storage.stack import StorageStack
from tests.e2e.e2e_helpers import DEST_ACCOUNT, FAST_POLL, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _lease_state(url: str, blobs: TestBlobs) -> str:
    source = next(b for b in blobs.sources if b.url == url)
    return str(source.get_blob_properties().lease.state)


def _held_copy(
    copies: CopyApi, blobs: TestBlobs, stack: StorageStack, dest: BlobClient, **extra: object
) -> tuple[str, str]:
    """Start a copy that the engine holds pending; its id and source URL once it is pending."""
    source = blobs.source(os.urandom(1024 * KIB))
    stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL, **extra}
    )
    copies.wait_pending(copy_id)
    return copy_id, source


def test_abort_leaves_an_empty_destination_and_a_free_source(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """Aborting a running copy ends it aborted with the caller's reason, a zero-length
    destination whose copy status is aborted, and the source lease released."""
    dest = blobs.destination()
    copy_id, source = _held_copy(copies, blobs, e2e_stack, dest)
    assert _lease_state(source, blobs) == "leased"
    accepted = copies.abort(copy_id, reason="changed my mind")
    assert accepted.status == 202, accepted.body
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "aborted", doc
    assert doc["error"] == {"code": "Aborted", "message": "changed my mind"}
    props = dest.get_blob_properties()
    assert (props.size, props.copy.status) == (0, "aborted")
    assert _lease_state(source, blobs) != "leased"


def test_abort_right_after_the_start_is_not_lost(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """An abort sent at once after the copy was accepted (before the storage copy may have
    started) still ends the copy aborted with an empty destination."""
    source = blobs.source(os.urandom(512 * KIB))
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    assert copies.abort(copy_id).status == 202
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "aborted", doc
    if dest.exists():  # the copy had started: it was aborted, not left to finish
        props = dest.get_blob_properties()
        assert (props.size, props.copy.status) == (0, "aborted")


def test_abort_restores_the_snapshotted_destination(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """With snapshot_destination, aborting a copy puts the destination's old content back."""
    dest = blobs.destination()
    dest.upload_blob(b"the old destination content", metadata={"version": "old"})
    copy_id, source = _held_copy(copies, blobs, e2e_stack, dest, snapshot_destination=True)
    assert copies.abort(copy_id).status == 202
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "aborted", doc
    assert dest.download_blob().readall() == b"the old destination content"
    container = blobs.container(DEST_ACCOUNT)
    snapshots = [b for b in container.list_blobs(include=["snapshots"]) if b.snapshot]
    assert snapshots == []  # the snapshot taken for the restore is dropped afterwards
    assert _lease_state(source, blobs) != "leased"


def test_snapshot_of_a_new_destination_leaves_nothing_after_abort(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """With snapshot_destination and no destination before the copy, an abort removes the
    empty blob the aborted copy left."""
    dest = blobs.destination()
    copy_id, _ = _held_copy(copies, blobs, e2e_stack, dest, snapshot_destination=True)
    assert copies.abort(copy_id).status == 202
    assert copies.wait_final(copy_id)["state"] == "aborted"
    assert not dest.exists()


def test_abort_of_a_finished_copy_is_409(copies: CopyApi, blobs: TestBlobs) -> None:
    """Aborting a copy that already succeeded answers 409 and the copy stays succeeded."""
    source = blobs.source(os.urandom(64 * KIB))
    dest = blobs.destination()
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    refused = copies.abort(copy_id)
    assert refused.status == 409, refused.body
    assert refused.json()["copy"]["state"] == "succeeded"
    assert copies.document(copy_id)["state"] == "succeeded"


def test_abort_of_an_unknown_copy_is_404(copies: CopyApi) -> None:
    """Aborting a copy that was never started answers 404."""
    assert copies.abort("e2e-never-started").status == 404
