"""Asynchronous Copy Blob through the copy engine, as Azure runs it, seen through the real SDK."""

from __future__ import annotations

import os
from typing import Any, cast

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, BlobType, ContainerClient, ContentSettings

from devhost.storage.stack import StorageStack
from tests.integration.storage.storage_helpers import (
    copied_bytes,
    sas_url,
    service,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.integration

CHUNK = 256 * 1024  # the session stack's copy chunk (see tests/conftest.py)


def _source_block(src: ContainerClient, name: str = "src.bin", size: int = 4 * CHUNK) -> bytes:
    data = os.urandom(size)
    src.upload_blob(
        name,
        data,
        metadata={"origin": "source"},
        content_settings=ContentSettings(
            content_type="application/x-test", cache_control="no-cache"
        ),
    )
    return data


def test_same_account_copy_succeeds_at_once(dest: ContainerClient) -> None:
    """A copy inside one account is synchronous, as in Azure: 'success' straight away."""
    dest.upload_blob("a.bin", b"abc" * 1000)
    target = dest.get_blob_client("b.bin")
    result = target.start_copy_from_url(dest.get_blob_client("a.bin").url)
    assert result["copy_status"] == "success"
    assert target.get_blob_properties().copy.status == "success"
    assert target.download_blob().readall() == b"abc" * 1000


def test_cross_account_copy_is_pending_then_succeeds_with_growing_progress(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Another account's blob copies in the background: pending, progress grows, bytes equal."""
    data = _source_block(src)
    source_url = sas_url(src.get_blob_client("src.bin"))
    target = dest.get_blob_client("copy.bin")
    storage_stack.faults.hold_copies()

    started = target.start_copy_from_url(source_url)

    assert started["copy_status"] == "pending"
    props = target.get_blob_properties()
    assert props.copy.id == started["copy_id"]
    assert (props.copy.status, props.copy.progress) == ("pending", f"0/{len(data)}")
    assert props.copy.source is not None and "sig=REDACTED" in props.copy.source
    storage_stack.faults.allow_chunks(1)
    one = wait_until(target, lambda p: copied_bytes(p) > 0)
    assert one.copy.progress == f"{CHUNK}/{len(data)}"
    storage_stack.faults.allow_chunks(1)
    two = wait_until(target, lambda p: copied_bytes(p) > CHUNK)
    assert two.copy.progress == f"{2 * CHUNK}/{len(data)}" and two.copy.status == "pending"
    storage_stack.faults.release_copies()
    done = wait_finished(target)
    assert done.copy.status == "success"
    assert done.copy.progress == f"{len(data)}/{len(data)}"
    assert done.copy.completion_time is not None
    assert done.metadata == {"origin": "source"}
    assert done.content_settings.content_type == "application/x-test"
    assert done.content_settings.cache_control == "no-cache"
    assert target.download_blob().readall() == data


def test_copy_properties_persist_and_show_in_listings(
    src: ContainerClient, dest: ContainerClient
) -> None:
    """After the copy, x-ms-copy-* stay on the blob and appear in include=copy listings."""
    _source_block(src, size=1000)
    target = dest.get_blob_client("listed.bin")
    copy_id = target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))["copy_id"]
    wait_finished(target)
    listed = {b.name: b for b in dest.list_blobs(include=["copy"])}
    assert listed["listed.bin"].copy.id == copy_id
    assert listed["listed.bin"].copy.status == "success"
    assert listed["listed.bin"].copy.progress == "1000/1000"
    assert target.get_blob_properties().copy.id == copy_id


def test_overwriting_the_destination_clears_its_copy_properties(
    src: ContainerClient, dest: ContainerClient
) -> None:
    """Put Blob after a finished copy removes the copy properties, as Azure does."""
    _source_block(src, size=100)
    target = dest.get_blob_client("over.bin")
    target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))
    wait_finished(target)
    target.upload_blob(b"new", overwrite=True)
    assert target.get_blob_properties().copy.id is None


def test_request_metadata_replaces_source_metadata(
    src: ContainerClient, dest: ContainerClient
) -> None:
    """Metadata given with Copy Blob replaces the source's, as in Azure."""
    _source_block(src, size=100)
    target = dest.get_blob_client("meta.bin")
    target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")), metadata={"mine": "yes"})
    assert wait_finished(target).metadata == {"mine": "yes"}


def test_page_blob_copies_as_a_page_blob(src: ContainerClient, dest: ContainerClient) -> None:
    """A page blob source makes a page blob destination with the same (sparse) content."""
    page = src.get_blob_client("disk.vhd")
    page.create_page_blob(size=8 * CHUNK)
    written = os.urandom(CHUNK + 512)
    page.upload_page(written, offset=3 * CHUNK, length=len(written))
    target = dest.get_blob_client("disk-copy.vhd")
    assert target.start_copy_from_url(sas_url(page))["copy_status"] == "pending"
    assert wait_finished(target).copy.status == "success"
    props = target.get_blob_properties()
    assert props.blob_type == BlobType.PAGEBLOB and props.size == 8 * CHUNK
    assert target.download_blob().readall() == page.download_blob().readall()


def test_append_blob_copies_as_an_append_blob(src: ContainerClient, dest: ContainerClient) -> None:
    """An append blob source makes an append blob destination with the same blocks' bytes."""
    log = src.get_blob_client("log.txt")
    log.create_append_blob()
    parts = [os.urandom(CHUNK // 2 + i) for i in range(3)]
    for part in parts:
        log.append_block(part)
    target = dest.get_blob_client("log-copy.txt")
    target.start_copy_from_url(sas_url(log))
    assert wait_finished(target).copy.status == "success"
    assert target.get_blob_properties().blob_type == BlobType.APPENDBLOB
    assert target.download_blob().readall() == b"".join(parts)


def test_snapshot_source_copies_the_snapshot(src: ContainerClient, dest: ContainerClient) -> None:
    """A snapshot URL copies the snapshot's bytes, not the base blob's current ones."""
    base = src.get_blob_client("snap.bin")
    base.upload_blob(b"old" * 1000)
    snapshot = cast(str, base.create_snapshot()["snapshot"])
    base.upload_blob(b"new" * 1000, overwrite=True)
    target = dest.get_blob_client("from-snapshot.bin")
    target.start_copy_from_url(sas_url(base, snapshot=snapshot))
    assert wait_finished(target).copy.status == "success"
    assert target.download_blob().readall() == b"old" * 1000


def test_blob_versions_are_not_available_in_azurite(src: ContainerClient) -> None:
    """Azurite 3.37 keeps no blob versions (no x-ms-version-id), so a version cannot be a source."""
    result = src.get_blob_client("versioned.bin").upload_blob(b"v1")
    if result.get("version_id"):
        pytest.fail("Azurite now returns version ids: add a copy-from-version test")


def test_abort_leaves_an_empty_destination_with_its_metadata(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Abort Copy Blob on a pending copy: status aborted, zero length, new metadata kept."""
    _source_block(src)
    target = dest.get_blob_client("aborted.bin")
    storage_stack.faults.hold_copies()
    started: dict[str, Any] = target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))
    target.abort_copy(started["copy_id"])
    props = target.get_blob_properties()
    assert props.copy.status == "aborted"
    assert props.size == 0
    assert props.metadata == {"origin": "source"}
    assert props.copy.completion_time is not None
    with pytest.raises(HttpResponseError) as no_pending:
        target.abort_copy(started["copy_id"])
    assert (no_pending.value.status_code, no_pending.value.error_code) == (  # type: ignore[attr-defined]  # azure.storage sets error_code
        409,
        "NoPendingCopyOperation",
    )


def test_abort_with_another_copy_id_is_refused(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Aborting with a copy id that is not the pending copy's answers 409 CopyIdMismatch."""
    _source_block(src, size=1000)
    target = dest.get_blob_client("mismatch.bin")
    storage_stack.faults.hold_copies()
    target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))
    with pytest.raises(HttpResponseError) as err:
        target.abort_copy("00000000-0000-0000-0000-000000000000")
    assert (err.value.status_code, err.value.error_code) == (409, "CopyIdMismatch")  # type: ignore[attr-defined]  # azure.storage sets error_code
    storage_stack.faults.release_copies()
    assert wait_finished(target).copy.status == "success"


def test_writes_to_a_destination_with_a_pending_copy_are_refused(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Put Blob, Set Metadata and a second copy answer 409 PendingCopyOperation."""
    _source_block(src, size=1000)
    target = dest.get_blob_client("busy.bin")
    storage_stack.faults.hold_copies()
    url = sas_url(src.get_blob_client("src.bin"))
    target.start_copy_from_url(url)
    for attempt in (
        lambda: target.upload_blob(b"x", overwrite=True),
        lambda: target.set_blob_metadata({"a": "b"}),
        lambda: target.start_copy_from_url(url),
    ):
        with pytest.raises(ResourceExistsError) as err:
            attempt()
        assert err.value.error_code == "PendingCopyOperation"  # type: ignore[attr-defined]  # azure.storage sets error_code
    storage_stack.faults.release_copies()
    assert wait_finished(target).copy.status == "success"


def test_source_modified_mid_copy_fails_the_copy(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A source whose ETag changes during the copy makes it 'failed', with a description."""
    _source_block(src)
    target = dest.get_blob_client("changed.bin")
    storage_stack.faults.hold_copies()
    target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))
    storage_stack.faults.allow_chunks(1)
    wait_until(target, lambda p: copied_bytes(p) > 0)
    src.upload_blob("src.bin", b"changed", overwrite=True)
    storage_stack.faults.release_copies()
    props = wait_finished(target)
    assert props.copy.status == "failed"
    assert props.copy.status_description is not None
    assert props.copy.status_description.startswith("412 ")
    assert props.size == 0


def test_bad_sas_answers_cannot_verify_copy_source(
    src: ContainerClient, dest: ContainerClient
) -> None:
    """A source SAS with a wrong signature is refused up front with CannotVerifyCopySource."""
    _source_block(src, size=100)
    good = sas_url(src.get_blob_client("src.bin"))
    bad = good.replace("sig=", "sig=AAAA")
    with pytest.raises(HttpResponseError) as err:
        dest.get_blob_client("never.bin").start_copy_from_url(bad)
    assert err.value.error_code == "CannotVerifyCopySource"  # type: ignore[attr-defined]  # azure.storage sets error_code
    assert err.value.status_code == 403
    assert "AAAA" not in str(err.value)


def test_missing_source_answers_cannot_verify_copy_source_404(
    src: ContainerClient, dest: ContainerClient
) -> None:
    """A source that does not exist answers 404 CannotVerifyCopySource, as Azure does."""
    missing = sas_url(src.get_blob_client("nope.bin"))
    with pytest.raises(HttpResponseError) as err:
        dest.get_blob_client("never.bin").start_copy_from_url(missing)
    assert (err.value.status_code, err.value.error_code) == (404, "CannotVerifyCopySource")  # type: ignore[attr-defined]  # azure.storage sets error_code


def test_destination_lease_is_respected(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A leased destination needs its lease id to start or abort a copy."""
    _source_block(src, size=1000)
    url = sas_url(src.get_blob_client("src.bin"))
    target: BlobClient = dest.get_blob_client("leased.bin")
    target.upload_blob(b"")
    lease = target.acquire_lease(lease_duration=-1)
    with pytest.raises(HttpResponseError) as missing:
        target.start_copy_from_url(url)
    assert (missing.value.status_code, missing.value.error_code) == (412, "LeaseIdMissing")  # type: ignore[attr-defined]  # azure.storage sets error_code
    storage_stack.faults.hold_copies()
    started: dict[str, Any] = target.start_copy_from_url(url, destination_lease=lease)
    with pytest.raises(HttpResponseError) as abort_missing:
        target.abort_copy(started["copy_id"])
    assert abort_missing.value.error_code == "LeaseIdMissing"  # type: ignore[attr-defined]  # azure.storage sets error_code
    target.abort_copy(started["copy_id"], lease=lease)
    assert target.get_blob_properties().copy.status == "aborted"
    lease.release()


def test_copy_onto_a_blob_of_another_type_is_refused(
    src: ContainerClient, dest: ContainerClient
) -> None:
    """An existing destination must have the source's blob type (409 InvalidBlobType)."""
    _source_block(src, size=100)
    target = dest.get_blob_client("typed.bin")
    target.create_append_blob()
    with pytest.raises(HttpResponseError) as err:
        target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))
    assert (err.value.status_code, err.value.error_code) == (409, "InvalidBlobType")  # type: ignore[attr-defined]  # azure.storage sets error_code


def test_copy_into_a_missing_container_answers_container_not_found(
    storage_stack: StorageStack, src: ContainerClient
) -> None:
    """The destination container must exist, as for any write."""
    _source_block(src, size=100)
    target = service(storage_stack).get_blob_client("no-such-container", "x.bin")
    with pytest.raises(HttpResponseError) as err:
        target.start_copy_from_url(sas_url(src.get_blob_client("src.bin")))
    assert (err.value.status_code, err.value.error_code) == (404, "ContainerNotFound")  # type: ignore[attr-defined]  # azure.storage sets error_code
