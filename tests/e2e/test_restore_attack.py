"""Hostile review of issue 14's restores on the whole local stack: aborts, failures and
spellings that must leave the base blob as it was (or restore it for real)."""

from __future__ import annotations

import os
import re
from urllib.parse import quote

import pytest
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

from devhost.storage.stack import StorageStack
from devhost.testing import wait_for
from tests.e2e.e2e_helpers import DEST_ACCOUNT, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _two_writes(
    blobs: TestBlobs, name: str, size: int = 200 * KIB
) -> tuple[BlobClient, bytes, str, bytes]:
    """A base blob written twice with a snapshot between: (base, old bytes, snapshot, new)."""
    base = blobs.container(DEST_ACCOUNT).get_blob_client(name)
    old, new = os.urandom(size), os.urandom(size // 2)
    base.upload_blob(old, metadata={"edition": "good"})
    snapshot = str(base.create_snapshot()["snapshot"])
    base.upload_blob(new, overwrite=True, metadata={"edition": "bad-upload"})
    return base, old, snapshot, new


def _snapshots(container: ContainerClient, name: str) -> set[str]:
    listed = container.list_blobs(name_starts_with=name, include=["snapshots"])
    return {str(b.snapshot) for b in listed if b.name == name and b.snapshot}


def _unchanged(blobs: TestBlobs, base: BlobClient, new: bytes, snapshots: set[str]) -> None:
    assert base.download_blob().readall() == new
    props = base.get_blob_properties()
    assert props.metadata == {"edition": "bad-upload"}
    assert props.lease.state == "available"
    assert _snapshots(blobs.container(DEST_ACCOUNT), base.blob_name) == snapshots


def test_a_base_leased_by_someone_else_after_the_check_fails_clearly_and_changes_nothing(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """The lease check passes and the undo snapshot is taken, then someone leases the base
    before Copy Blob reaches it (Copy Blob delayed in the engine): the restore fails, the base
    keeps its bytes, metadata and their lease, and no stray snapshot is left unnamed."""
    base, _, snapshot, new = _two_writes(blobs, "race.txt")
    e2e_stack.faults.delay(
        4.0, path=re.escape(f"/{base.container_name}/race.txt"), header="x-ms-copy-source", times=1
    )
    source = f"{base.url}?snapshot={quote(snapshot)}"
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    wait_for(
        lambda: len(_snapshots(blobs.container(DEST_ACCOUNT), "race.txt")) == 2 or None,
        what="the undo snapshot",
    )
    lease = BlobLeaseClient(base)
    lease.acquire(lease_duration=-1)
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"] in ("DestinationLeased", "LeaseIdMissing"), doc
    assert base.download_blob().readall() == new
    props = base.get_blob_properties()
    assert props.metadata == {"edition": "bad-upload"} and props.lease.state == "leased"
    kept = doc["restore"]["previous_snapshot"]
    assert _snapshots(blobs.container(DEST_ACCOUNT), "race.txt") == {snapshot} | (
        {kept} if kept else set()
    )
    lease.release()


def test_a_restore_of_a_snapshot_that_does_not_exist_fails_and_changes_nothing(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """A made-up snapshot time: the restore fails with the blob service's answer, the base is
    as it was and the snapshot taken to undo it is dropped."""
    base, _, snapshot, new = _two_writes(blobs, "nosnap.txt")
    source = f"{base.url}?snapshot={quote('2001-01-01T00:00:00.0000000Z')}"
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    )
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"], doc
    assert doc["restore"]["previous_snapshot"] is None
    _unchanged(blobs, base, new, {snapshot})


def test_a_version_id_of_another_blob_fails_and_changes_nothing(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """`?versionid=` names a version of *another* blob of the container: it is no version of
    this one, so the restore fails and the base is untouched."""
    container = blobs.container(DEST_ACCOUNT)
    e2e_stack.enable_versioning(DEST_ACCOUNT, container.container_name)
    other = container.get_blob_client("other.txt")
    foreign = other.upload_blob(b"not yours", metadata={"edition": "other"})["version_id"]
    base = container.get_blob_client("mine.txt")
    base.upload_blob(b"first", metadata={"edition": "good"})
    new = os.urandom(10 * KIB)
    base.upload_blob(new, overwrite=True, metadata={"edition": "bad-upload"})
    before = _snapshots(container, "mine.txt")  # the engine keeps versions as snapshots
    source = f"{base.url}?versionid={quote(foreign)}"
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    )
    assert doc["state"] == "failed", doc
    _unchanged(blobs, base, new, before)


@pytest.mark.parametrize("lease", ["renewed", "none"])
def test_a_restore_whose_snapshot_parameter_is_capitalised_restores_or_is_refused(
    copies: CopyApi, blobs: TestBlobs, lease: str
) -> None:
    """Found: the plan read only a lower-case `snapshot`, so with `renewed` the base was
    leased as the source and the copy failed LeaseIdMissing; with `none` it 'succeeded' with
    the base unchanged and no restore block."""
    base, old, snapshot, _ = _two_writes(blobs, f"caps-{lease}.txt")
    source = f"{base.url}?Snapshot={quote(snapshot)}"
    reply = copies.post(
        {"source": {"url": source}, "destination": {"url": base.url}, "lease_source": lease}
    )
    if reply.status == 400:
        return
    assert reply.status in (200, 201, 202), reply.body
    copy_id = reply.json()["id"]
    copies.started.append(copy_id)
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc["error"]
    assert doc["restore"] is not None
    assert base.download_blob().readall() == old


def test_restoring_a_page_blob_snapshot_over_its_base(copies: CopyApi, blobs: TestBlobs) -> None:
    """A page blob's snapshot restored over it: a page blob again, with the snapshot's pages,
    and the replaced pages kept."""
    base = blobs.container(DEST_ACCOUNT).get_blob_client("disk.vhd")
    old, new = os.urandom(64 * KIB), os.urandom(64 * KIB)
    base.create_page_blob(len(old))
    base.upload_page(old, offset=0, length=len(old))
    snapshot = str(base.create_snapshot()["snapshot"])
    base.upload_page(new, offset=0, length=len(new))
    source = f"{base.url}?snapshot={quote(snapshot)}"
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    )
    assert doc["state"] == "succeeded", doc
    assert base.get_blob_properties().blob_type == "PageBlob"
    assert base.download_blob().readall() == old
    kept = blobs.container(DEST_ACCOUNT).get_blob_client(
        "disk.vhd", snapshot=doc["restore"]["previous_snapshot"]
    )
    assert kept.download_blob().readall() == new


# Was a break, now fixed (a restore takes overwrite: always only).
def test_a_restore_with_overwrite_if_newer_is_refused_or_restores(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    base, old, snapshot, _ = _two_writes(blobs, "ifnewer.txt")
    request = {
        "source": {"url": f"{base.url}?snapshot={quote(snapshot)}"},
        "destination": {"url": base.url},
        "overwrite": "if_newer",
    }
    reply = copies.post(request)
    if reply.status == 400:
        assert "overwrite" in reply.body.decode()
        return
    copies.started.append(reply.json()["id"])
    doc = copies.wait_final(reply.json()["id"])
    if doc["skipped"]:
        assert doc["restore"]["previous_snapshot"] is None, doc
        assert _snapshots(blobs.container(DEST_ACCOUNT), "ifnewer.txt") == {snapshot}
    else:
        assert base.download_blob().readall() == old


def test_a_restore_resent_under_its_id_without_its_snapshot_is_a_conflict(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """Found (fixed): a restore that omitted `snapshot_destination` (so snapshotted its base)
    and the same with `false` shared a fingerprint, so the second was answered as a replay.
    Now: the replay of the very request is accepted, the one that plans otherwise is a 409."""
    base, old, snapshot, _ = _two_writes(blobs, "resent.txt")
    copy_id = f"resent-{base.container_name}"
    body = {
        "id": copy_id,
        "source": {"url": f"{base.url}?snapshot={quote(snapshot)}"},
        "destination": {"url": base.url},
    }
    copies.start(body)
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    assert copies.post(body).status in (200, 202)
    assert copies.post({**body, "snapshot_destination": True}).status in (200, 202)
    assert copies.post({**body, "snapshot_destination": False}).status == 409
    assert base.download_blob().readall() == old


def test_a_restore_naming_both_a_snapshot_and_a_version_is_a_400(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """Found (fixed): it was accepted and ran as a restore of the snapshot alone."""
    base, *_ = _two_writes(blobs, "both.txt")
    when = "2026-12-01T10%3A00%3A00.0000000Z"
    source = f"{base.url}?snapshot={when}&versionid={when}"
    reply = copies.post({"source": {"url": source}, "destination": {"url": base.url}})
    assert reply.status == 400, reply.body
    fields = {f["field"]: f["message"] for f in reply.json()["error"]["fields"]}
    assert "source.url" in fields and "not both" in fields["source.url"]


def test_a_version_restore_where_versioning_is_off_fails_and_changes_nothing(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """No versions in this container: a `?versionid=` of the base names nothing, so the
    restore fails; it must not read as a copy of the current base onto itself."""
    base, _, snapshot, new = _two_writes(blobs, "unversioned.txt")
    source = f"{base.url}?versionid={quote('2026-12-01T10:00:00.0000000Z')}"
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    )
    assert doc["state"] == "failed", doc
    _unchanged(blobs, base, new, {snapshot})
