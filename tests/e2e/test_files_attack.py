"""Hostile review of issue 14's Azure Files sources on the whole local stack: edge cases of
the file itself and of the destination it is copied onto."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from urllib.parse import quote

import pytest
from azure.storage.blob import BlobType
from azure.storage.fileshare import FileSasPermissions, generate_file_sas

from devhost.storage.stack import StorageStack
from devhost.testing import wait_for
from tests.e2e.e2e_helpers import SOURCE_ACCOUNT, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _file(stack: StorageStack, blobs: TestBlobs, path: str, data: bytes) -> str:
    """Put a file on the source account's share (the container of the share's name)."""
    share = blobs.container(SOURCE_ACCOUNT)
    share.upload_blob(path, data, overwrite=True, metadata={"kind": "file"})
    return f"{stack.file_endpoint(SOURCE_ACCOUNT)}/{share.container_name}/{path}"


def test_a_zero_length_file_copies_to_an_empty_block_blob(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """An empty file (no range to read) makes an empty block blob."""
    source = _file(e2e_stack, blobs, "empty.txt", b"")
    dest = blobs.destination(name="empty.txt")
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    )
    assert doc["state"] == "succeeded", doc["error"]
    assert dest.get_blob_properties().size == 0


def test_a_file_onto_an_existing_page_blob_fails_and_leaves_it(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """README: an existing destination of another type fails the copy (InvalidBlobType); Copy
    Blob makes block blobs only from a file, so an existing page blob must stay one."""
    source = _file(e2e_stack, blobs, "over-page.bin", os.urandom(4 * KIB))
    dest = blobs.destination(name="disk.vhd")
    dest.create_page_blob(8 * KIB)
    doc = copies.wait_final(
        copies.start(
            {"source": {"url": source}, "destination": {"url": dest.url, "blob_type": "BlockBlob"}}
        )
    )
    assert doc["state"] == "failed" and doc["error"]["code"] == "InvalidBlobType", doc
    props = dest.get_blob_properties()
    assert props.blob_type == BlobType.PAGEBLOB and props.size == 8 * KIB


# Was a break, now fixed (BlobOps.verify reads a file source): verify: true read nothing of a
# file source, only the copy's own length, so a file rewritten mid-copy (README: mixed content
# possible) was 'succeeded' and 'verified' with a torn blob.
def test_a_file_changed_during_its_copy_does_not_succeed_with_torn_content(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    old, new = os.urandom(1024 * KIB), os.urandom(1024 * KIB)
    source = _file(e2e_stack, blobs, "moving.bin", old)
    dest = blobs.destination(name="moving.bin")
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "verify": True}
    )
    copies.wait_pending(copy_id)
    e2e_stack.faults.allow_chunks(1)
    wait_for(
        lambda: copies.document(copy_id)["progress"]["bytes_copied"] or None,
        what="a first chunk copied",
    )
    time.sleep(1.1)  # Last-Modified has whole seconds: a write in the start's second passes
    _file(e2e_stack, blobs, "moving.bin", new)  # the file is rewritten mid-copy
    e2e_stack.faults.release_copies()
    doc = copies.wait_final(copy_id)
    torn = dest.download_blob().readall() not in (old, new)
    assert doc["state"] == "failed" and doc["error"]["code"] == "VerificationFailed", (doc, torn)
    said = doc["error"]["message"]  # the MD5 says it when the file has one (here it does)
    assert "MD5 differs" in said or "written during the copy" in said, said


def test_a_file_url_with_a_forged_sas_fails_without_showing_it(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """The caller's own file SAS, signed with a wrong key: the copy fails with the File
    service's refusal and neither the document nor its error carries the signature."""
    source = _file(e2e_stack, blobs, "forged.bin", b"secret stuff")
    share = blobs.container(SOURCE_ACCOUNT).container_name
    sas = generate_file_sas(
        SOURCE_ACCOUNT,
        share,
        ["forged.bin"],
        account_key="d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=",
        permission=FileSasPermissions(read=True, write=True, delete=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
    dest = blobs.destination(name="forged.bin")
    reply = copies.post({"source": {"url": f"{source}?{sas}"}, "destination": {"url": dest.url}})
    assert reply.status in (200, 201, 202), reply.body
    copies.started.append(reply.json()["id"])
    doc = copies.wait_final(reply.json()["id"])
    assert doc["state"] == "failed", doc
    assert signature not in str(doc) and signature not in reply.body.decode()
    assert not dest.exists()


@pytest.mark.parametrize(
    ("source_path", "destination", "field"),
    [
        ("{share}/%2e%2e/other/f.bin", {}, "source.url"),
        ("{share}/dir/..%2F..%2Fother/f.bin", {}, "source.url"),
        ("{share}%2Fother/f.bin", {}, "source.url"),
        ("{share}/dir\\..\\..\\f.bin", {}, "source.url"),
        ("{share}/", {}, "source.url"),
        ("{share}/f.bin", {"blob_type": "blockblob"}, "destination.blob_type"),
        ("{share}/f.bin", {"blob_type": 5}, "destination.blob_type"),
        ("{share}/f.bin", {"blob_type": ["BlockBlob"]}, "destination.blob_type"),
    ],
)
def test_hostile_file_requests_are_400s_naming_the_field(
    e2e_stack: StorageStack,
    copies: CopyApi,
    blobs: TestBlobs,
    source_path: str,
    destination: dict[str, object],
    field: str,
) -> None:
    """Over HTTP: never a 500, the field named, no file read."""
    share = blobs.container(SOURCE_ACCOUNT).container_name
    source = f"{e2e_stack.file_endpoint(SOURCE_ACCOUNT)}/{source_path.format(share=share)}"
    reads = e2e_stack.file_reads()
    dest = blobs.destination(name="hostile.bin")
    reply = copies.post(
        {"source": {"url": source}, "destination": {"url": dest.url, **destination}}
    )
    assert reply.status == 400, reply.body
    fields = {f["field"] for f in reply.json()["error"]["fields"]}
    assert field in fields, reply.body
    assert e2e_stack.file_reads() == reads


def test_a_file_whose_name_needs_percent_encoding_is_signed_and_copied(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """Spaces, '+', '%', '&', '=' and non-ASCII in the directory and file names: the SAS the
    service signs covers the decoded path, and the URL it sends spells it as the File service
    reads it. Found: the engine's Files endpoint requoted its read of a name with & or =
    (403 from Azurite), fixed there."""
    name = "dir with space/na+me%&x=1 é.txt"
    data = os.urandom(3 * KIB)
    share = blobs.container(SOURCE_ACCOUNT)
    share.upload_blob(name, data)
    source = (
        f"{e2e_stack.file_endpoint(SOURCE_ACCOUNT)}/{share.container_name}/{quote(name, safe='/')}"
    )
    dest = blobs.destination(name="encoded.txt")
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    )
    assert doc["state"] == "succeeded", doc["error"]
    assert dest.download_blob().readall() == data
