"""Blob versions, emulated by the copy engine for a container with versioning on: version ids
on writes, reads of a version, and a same-account Copy Blob from a version, through the SDK."""

from __future__ import annotations

import os

import pytest
from azure.storage.blob import ContainerClient

from devhost.storage.stack import StorageStack

pytestmark = pytest.mark.integration


def test_writes_answer_a_version_id_and_each_version_reads_back(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """Put Blob and Set Blob Metadata each make a new version (x-ms-version-id); reading a
    version id gives that write's bytes and metadata, whatever came after."""
    storage_stack.enable_versioning(dest.account_name or "", dest.container_name)
    blob = dest.get_blob_client("doc.txt")
    first, second = os.urandom(3000), os.urandom(2000)
    v1 = blob.upload_blob(first, metadata={"n": "1"})["version_id"]
    v2 = blob.upload_blob(second, overwrite=True, metadata={"n": "2"})["version_id"]
    v3 = blob.set_blob_metadata({"n": "3"})["version_id"]
    assert v1 and v2 and v3 and len({v1, v2, v3}) == 3
    old = dest.get_blob_client("doc.txt", version_id=v1)
    assert old.download_blob().readall() == first
    assert old.get_blob_properties().metadata == {"n": "1"}
    assert dest.get_blob_client("doc.txt", version_id=v2).download_blob().readall() == second
    assert blob.download_blob().readall() == second
    assert blob.get_blob_properties().metadata == {"n": "3"}


def test_a_copy_from_a_version_over_its_base_restores_it(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """Copy Blob with a version as its source (same account, synchronous) puts that version's
    bytes and metadata at the base, and is itself a new version."""
    storage_stack.enable_versioning(dest.account_name or "", dest.container_name)
    blob = dest.get_blob_client("restore.txt")
    good = os.urandom(4000)
    v1 = blob.upload_blob(good, metadata={"edition": "good"})["version_id"]
    blob.upload_blob(b"bad", overwrite=True, metadata={"edition": "bad"})
    copied = blob.start_copy_from_url(f"{blob.url}?versionid={v1}", requires_sync=False)
    assert copied["copy_status"] == "success"
    assert copied["version_id"] and copied["version_id"] != v1
    assert blob.download_blob().readall() == good
    assert blob.get_blob_properties().metadata == {"edition": "good"}


def test_a_container_without_versioning_answers_no_version_id(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """Versioning is per container: elsewhere writes carry no version id, as Azurite's."""
    assert dest.get_blob_client("plain.txt").upload_blob(b"x").get("version_id") is None
