"""Hostile review of `git log 3df3c4f..d405390` against real Azurite (and the engine's Files
endpoint): the blob type check before Copy Blob, and verify reading a file source.

Each test marked "Was a break, now fixed" was a break found on the code as merged (fixed in
the same change); the others are attacks that held."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.storage.blob import ContainerClient
from azure.storage.fileshare import FileSasPermissions, generate_file_sas

from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import ACCOUNTS, StorageStack
from shared.blobops import BlobOps
from shared.errors import CopyFailed, StorageError
from shared.timestamps import iso
from tests.integration.service.test_blobops import put, request, wait_for

pytestmark = pytest.mark.integration

SOURCE_ACCOUNT = ACCOUNTS[1]
DEADLINE = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def _code(ops: BlobOps, asked: dict[str, object]) -> str:
    with pytest.raises(StorageError) as refused:
        ops.start_copy(asked, DEADLINE)
    return refused.value.code


# Was a break, now fixed: check_source_type's Get Blob Properties of a missing source raises
# BlobNotFound (with the SDK's 'Operation returned an invalid status' message), while the same
# request without destination.blob_type fails CannotVerifyCopySource, the code docs/errors.md and
# acquire_lease give a missing source whatever the options: the error code depends on an unrelated
# field
def test_a_missing_source_fails_alike_with_or_without_a_blob_type(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    missing = src.get_blob_client("nope.bin").url
    target = dest.get_blob_client("out.bin").url
    plain = _code(ops, request(missing, target))
    typed = request(missing, target)
    typed["destination"]["blob_type"] = "BlockBlob"
    assert plain == "CannotVerifyCopySource"
    assert _code(ops, typed) == plain


def test_the_type_check_reads_the_snapshot_named_not_its_base(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """Held: a snapshot source is checked as itself (a block blob's snapshot is a block blob),
    the message names no SAS, and a matching type copies."""
    blob, _ = put(src, "b.bin", 1000)
    snapshot = blob.create_snapshot()["snapshot"]
    source = f"{blob.url}?snapshot={snapshot}"
    target = dest.get_blob_client("out.bin")
    asked = request(source, target.url)
    asked["destination"]["blob_type"] = "AppendBlob"
    with pytest.raises(CopyFailed) as refused:
        ops.start_copy(asked, DEADLINE)
    assert refused.value.code == "InvalidBlobType" and "sig=" not in str(refused.value)
    asked["destination"]["blob_type"] = "BlockBlob"
    started = ops.start_copy(asked, DEADLINE)
    assert wait_for(ops, target.url, started.copy_id).status == "success"


def test_a_page_blob_source_makes_a_page_blob_when_asked(
    ops: BlobOps, src: ContainerClient, dest: ContainerClient
) -> None:
    """Held: the value the SDK gives (a BlobType enum) is compared by its wire name."""
    page = src.get_blob_client("p.bin")
    page.create_page_blob(1024)
    target = dest.get_blob_client("p.bin")
    asked = request(page.url, target.url)
    asked["destination"]["blob_type"] = "PageBlob"
    started = ops.start_copy(asked, DEADLINE)
    assert wait_for(ops, target.url, started.copy_id).status == "success"
    assert target.get_blob_properties().blob_type == "PageBlob"


def _file_url(stack: StorageStack, share: str, path: str, expiry: dt.datetime) -> str:
    sas = generate_file_sas(
        SOURCE_ACCOUNT,
        share,
        path.split("/"),
        account_key=DEV_ACCOUNT_KEY,
        permission=FileSasPermissions(read=True),
        expiry=expiry,
        start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
    )
    return f"{stack.file_endpoint(SOURCE_ACCOUNT)}/{share}/{path}?{sas}"


# Was a break, now fixed: verify reads a file source through the caller's own SAS, which Copy Blob
# only needed while it copied: one that lapsed after the copy ended (before the next status read
# and verify) fails a good copy with AuthenticationFailed; a blob source with the caller's SAS is
# verified with the service's own credential, and a file of a keyed account could be too (before
# this change such a copy verified its length and succeeded)
def test_a_file_copy_whose_callers_sas_lapsed_after_the_copy_still_verifies(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    src.upload_blob("f.bin", b"file bytes")
    lapsed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    file_url = _file_url(storage_stack, src.container_name, "f.bin", lapsed)
    target = dest.get_blob_client("f.bin")
    target.upload_blob(b"file bytes")  # what the copy made, while the SAS still held
    later = iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    try:
        checks = ops.verify(file_url, target.url, 10, later)
    except StorageError as exc:
        assert "sig=" not in str(exc) and "sig=" not in exc.message  # held: no SAS leaks
        raise
    assert "length" in checks


def test_a_file_read_through_the_callers_valid_sas_verifies(
    ops: BlobOps, storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Held: the caller's SAS is re-encoded intact (a signature with `+`, `/`, `=`), and a
    file written after the start was asked still fails with no SAS in the message."""
    src.upload_blob("d/f f.bin", b"file bytes")
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    file_url = _file_url(storage_stack, src.container_name, "d/f f.bin", expiry)
    target = dest.get_blob_client("f.bin")
    target.upload_blob(b"file bytes")
    later = iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    assert ops.verify(file_url, target.url, 10, later) == ["length", "md5", "unchanged"]
    before = iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
    with pytest.raises(CopyFailed) as refused:
        ops.verify(file_url, target.url, 10, before)
    assert refused.value.code == "VerificationFailed" and "sig=" not in str(refused.value)
