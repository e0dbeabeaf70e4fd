"""Restoring a blob on the whole local stack: a snapshot copied over its own base blob.

The base blob is the destination, so nothing is leased; the content the restore replaces is
kept as a snapshot named in the status document, and a base blob someone else leases fails the
restore before anything is written.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from urllib.parse import quote

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient
from azure.storage.queue import QueueClient
from click.testing import CliRunner

from blobcopy import exit_codes
from blobcopy.cli import cli
from devhost.storage.stack import StorageStack
from devhost.testing import AppHost, wait_for
from tests.e2e.e2e_helpers import DEST_ACCOUNT, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _two_writes(blobs: TestBlobs, name: str = "doc.txt") -> tuple[BlobClient, bytes, str, bytes]:
    """A base blob written twice with a snapshot between: (base, old bytes, snapshot, new)."""
    base = blobs.container(DEST_ACCOUNT).get_blob_client(name)
    old, new = os.urandom(200 * KIB), os.urandom(150 * KIB)
    base.upload_blob(old, metadata={"edition": "good"})
    snapshot = str(base.create_snapshot()["snapshot"])
    base.upload_blob(new, overwrite=True, metadata={"edition": "bad-upload"})
    return base, old, snapshot, new


def _snapshots(container: ContainerClient, name: str) -> set[str]:
    listed = container.list_blobs(name_starts_with=name, include=["snapshots"])
    return {str(b.snapshot) for b in listed if b.name == name and b.snapshot}


def test_restoring_a_snapshot_over_its_base_blob_brings_its_bytes_and_metadata_back(
    copies: CopyApi, blobs: TestBlobs
) -> None:
    """The base gets the snapshot's bytes and metadata; what it held before is kept in a new
    snapshot that the status document names, so the restore itself can be undone."""
    base, old, snapshot, new = _two_writes(blobs)
    source = f"{base.url}?snapshot={quote(snapshot)}"
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert base.download_blob().readall() == old
    assert base.get_blob_properties().metadata == {"edition": "good"}
    restore = doc["restore"]
    assert restore["snapshot"] == snapshot and restore["version_id"] is None
    kept = restore["previous_snapshot"]
    assert kept and kept != snapshot
    assert _snapshots(blobs.container(DEST_ACCOUNT), "doc.txt") == {snapshot, kept}
    undo = blobs.container(DEST_ACCOUNT).get_blob_client("doc.txt", snapshot=kept)
    assert undo.download_blob().readall() == new
    assert undo.get_blob_properties().metadata == {"edition": "bad-upload"}
    assert base.get_blob_properties().lease.state == "available"  # nothing was leased


def test_a_restore_that_asks_for_no_snapshot_keeps_none(copies: CopyApi, blobs: TestBlobs) -> None:
    """`snapshot_destination: false` is honoured: the base is restored, no snapshot is added,
    and the document says there is nothing to undo with."""
    base, old, snapshot, _ = _two_writes(blobs, "plain.txt")
    source = f"{base.url}?snapshot={quote(snapshot)}"
    doc = copies.wait_final(
        copies.start(
            {
                "source": {"url": source},
                "destination": {"url": base.url},
                "snapshot_destination": False,
            }
        )
    )
    assert doc["state"] == "succeeded", doc
    assert doc["restore"]["previous_snapshot"] is None
    assert base.download_blob().readall() == old
    assert _snapshots(blobs.container(DEST_ACCOUNT), "plain.txt") == {snapshot}


def test_a_restore_onto_a_base_blob_leased_by_someone_else_fails_and_changes_nothing(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """Someone else's lease on the base fails the restore with DestinationLeased, before any
    write: same bytes, same metadata, no new snapshot, their lease untouched."""
    base, _, snapshot, new = _two_writes(blobs, "leased.txt")
    lease = BlobLeaseClient(base)
    lease.acquire(lease_duration=-1)
    e2e_stack.reset_transactions()
    source = f"{base.url}?snapshot={quote(snapshot)}"
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": base.url}})
    )
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"] == "DestinationLeased", doc
    assert "leased by someone else" in doc["error"]["message"]
    assert doc["restore"]["previous_snapshot"] is None
    assert base.download_blob().readall() == new
    props = base.get_blob_properties()
    assert props.metadata == {"edition": "bad-upload"} and props.lease.state == "leased"
    assert _snapshots(blobs.container(DEST_ACCOUNT), "leased.txt") == {snapshot}
    writes = {"Copy Blob", "Snapshot Blob", "Put Blob", "Delete Blob"}
    assert not writes & set(e2e_stack.transactions().by_operation)


def test_a_copy_of_a_blob_onto_itself_is_still_refused(copies: CopyApi, blobs: TestBlobs) -> None:
    """Only a snapshot or a version of the blob is a restore: the plain blob onto itself is a
    400 naming destination.url."""
    base, *_ = _two_writes(blobs, "self.txt")
    reply = copies.post({"source": {"url": base.url}, "destination": {"url": base.url}})
    assert reply.status == 400, reply.body
    fields = {f["field"]: f["message"] for f in reply.json()["error"]["fields"]}
    assert fields == {"destination.url": "must differ from source.url"}


def test_the_cli_restores_a_snapshot_and_waits_for_it(
    copy_service: AppHost, copies: CopyApi, blobs: TestBlobs
) -> None:
    """`blobcopy restore BLOB --snapshot S --wait` exits 0 once the base holds the snapshot's
    bytes, and its table says what was restored and which snapshot keeps the old content."""
    base, old, snapshot, _ = _two_writes(blobs, "cli.txt")
    args = ["--url", copy_service.base_url, "restore", base.url, "--snapshot", snapshot]
    result = CliRunner().invoke(cli, [*args, "--wait", "--json"], catch_exceptions=False)
    assert result.exit_code == exit_codes.OK, result.output
    final = json.loads(result.stdout)
    copies.started.append(final["id"])
    assert final["state"] == "succeeded" and final["restore"]["snapshot"] == snapshot
    assert base.download_blob().readall() == old
    shown = CliRunner().invoke(
        cli, ["--url", copy_service.base_url, "status", final["id"]], catch_exceptions=False
    )
    assert f"from snapshot {snapshot}" in shown.output
    assert f"kept in snapshot {final['restore']['previous_snapshot']}" in shown.output


def test_the_cli_restore_of_a_leased_blob_exits_with_the_failed_code(
    copy_service: AppHost, copies: CopyApi, blobs: TestBlobs
) -> None:
    """With --wait, a restore refused for someone else's lease exits 10 (copy failed) and says
    why."""
    base, _, snapshot, new = _two_writes(blobs, "cli-leased.txt")
    BlobLeaseClient(base).acquire(lease_duration=-1)
    args = ["--url", copy_service.base_url, "restore", base.url, "--snapshot", snapshot]
    result = CliRunner().invoke(cli, [*args, "--wait", "--json"], catch_exceptions=False)
    assert result.exit_code == exit_codes.COPY_FAILED, result.output
    final = json.loads(result.stdout)
    copies.started.append(final["id"])
    assert final["error"]["code"] == "DestinationLeased"
    assert base.download_blob().readall() == new


def test_restoring_a_version_over_its_base_blob_brings_that_version_back(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """With versioning on (the copy engine emulates it), a `?versionid=` source of the blob
    itself restores that version: its bytes and metadata at the base, the replaced content
    kept in the named snapshot, the restore shown as one of a version; `verify` reads the
    version's properties too."""
    container = blobs.container(DEST_ACCOUNT)
    e2e_stack.enable_versioning(DEST_ACCOUNT, container.container_name)
    base = container.get_blob_client("versioned.txt")
    good, bad = os.urandom(120 * KIB), os.urandom(90 * KIB)
    version = base.upload_blob(good, metadata={"edition": "good"})["version_id"]
    base.upload_blob(bad, overwrite=True, metadata={"edition": "bad-upload"})
    source = f"{base.url}?versionid={quote(version)}"
    request = {"source": {"url": source}, "destination": {"url": base.url}, "verify": True}
    doc = copies.wait_final(copies.start(request))
    assert doc["state"] == "succeeded", doc
    assert doc["restore"]["version_id"] == version and doc["restore"]["snapshot"] is None
    assert base.download_blob().readall() == good
    assert base.get_blob_properties().metadata == {"edition": "good"}
    kept = doc["restore"]["previous_snapshot"]
    undo = container.get_blob_client("versioned.txt", snapshot=kept)
    assert undo.download_blob().readall() == bad


def test_a_restore_sent_on_the_queue_restores_the_blob(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """The copy-requests queue takes the same restore request: the base gets its snapshot's
    bytes back, and the status document shows the restore."""
    base, old, snapshot, _ = _two_writes(blobs, "queued.txt")
    queue = QueueClient.from_connection_string(e2e_stack.connection_string(), "copy-requests")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    copy_id = f"e2e-restore-q-{base.container_name}"
    request = {
        "id": copy_id,
        "source": {"url": f"{base.url}?snapshot={quote(snapshot)}"},
        "destination": {"url": base.url},
    }
    queue.send_message(base64.b64encode(json.dumps(request).encode()).decode())
    copies.started.append(copy_id)
    wait_for(lambda: copies.status(copy_id).status != 404 or None, what="the queued restore")
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert doc["restore"]["snapshot"] == snapshot and doc["restore"]["previous_snapshot"]
    assert base.download_blob().readall() == old
