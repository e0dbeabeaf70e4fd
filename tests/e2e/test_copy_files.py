"""Azure Files sources on the whole local stack: the service recognises a file URL on a
configured account's Files endpoint (the copy engine's, from the connection string's
`FileEndpoint`), signs a read-only file SAS for it, never shows that SAS, and refuses a page or
append destination before any storage call."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from azure.storage.blob import BlobType
from azure.storage.fileshare import FileSasPermissions, generate_file_sas

from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import StorageStack
from devhost.testing import AppHost
from tests.e2e.e2e_helpers import SOURCE_ACCOUNT, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _file(stack: StorageStack, blobs: TestBlobs, path: str, data: bytes) -> tuple[str, str]:
    """Put a file on the source account's share (the engine's Files endpoint serves the
    container of the share's name); its plain URL and its share."""
    share = blobs.container(SOURCE_ACCOUNT)
    share.upload_blob(path, data, metadata={"kind": "file"})
    return f"{stack.file_endpoint(SOURCE_ACCOUNT)}/{share.container_name}/{path}", str(
        share.container_name
    )


def test_a_file_source_copies_to_a_new_block_blob_and_its_sas_is_never_shown(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """A file of a configured account is copied into a new block blob with identical bytes and
    the file's metadata; the service signed the SAS (the plain URL has none), and neither the
    status document nor the destination's recorded copy source shows its signature."""
    data = os.urandom(384 * KIB + 7)
    source, _ = _file(e2e_stack, blobs, "reports/2026/q4.csv", data)
    dest = blobs.destination(name="q4.csv")
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "verify": True}
    )
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert doc["source"] == source  # shown as the caller sent it: no SAS added
    assert doc["progress"]["bytes_copied"] == len(data)
    assert doc["restore"] is None
    props = dest.get_blob_properties()
    assert props.blob_type == BlobType.BLOCKBLOB
    assert props.metadata == {"kind": "file"}
    assert dest.download_blob().readall() == data
    recorded = props.copy.source or ""
    assert recorded.startswith(source + "?") and "sig=REDACTED" in recorded
    assert "sr=f" in recorded and "sp=r" in recorded  # read-only, for that one file


def test_a_file_url_with_the_callers_own_sas_is_used_as_given(
    e2e_stack: StorageStack, own_copy_service: AppHost, blobs: TestBlobs
) -> None:
    """A file URL that carries a SAS is read with it, and shown with `sig` redacted.

    On a service of its own: its list shows `sig=REDACTED`, which tests of the shared
    service's list (no `sig=` at all) must not see."""
    copies = CopyApi(own_copy_service.base_url)
    data = os.urandom(40 * KIB)
    source, share = _file(e2e_stack, blobs, "own-sas.bin", data)
    sas = generate_file_sas(
        SOURCE_ACCOUNT,
        share,
        ["own-sas.bin"],
        account_key=DEV_ACCOUNT_KEY,
        permission=FileSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    dest = blobs.destination(name="own-sas.bin")
    doc = copies.wait_final(
        copies.start({"source": {"url": f"{source}?{sas}"}, "destination": {"url": dest.url}})
    )
    assert doc["state"] == "succeeded", doc
    assert "sig=REDACTED" in doc["source"]
    assert dest.download_blob().readall() == data


@pytest.mark.parametrize("blob_type", ["PageBlob", "AppendBlob"])
def test_a_file_source_to_a_page_or_append_blob_answers_400_with_no_storage_call(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs, blob_type: str
) -> None:
    """Copy Blob copies files to block blobs only: a request that asks for another type is
    refused at the edge, naming `destination.blob_type`, before any blob or file request."""
    source, _ = _file(e2e_stack, blobs, "paged.bin", b"x" * 512)
    dest = blobs.destination(name="paged.bin")
    e2e_stack.reset_transactions()
    reads = e2e_stack.file_reads()
    reply = copies.post(
        {"source": {"url": source}, "destination": {"url": dest.url, "blob_type": blob_type}}
    )
    assert reply.status == 400, reply.body
    fields = {f["field"]: f["message"] for f in reply.json()["error"]["fields"]}
    assert list(fields) == ["destination.blob_type"]
    assert "block blob" in fields["destination.blob_type"]
    assert e2e_stack.transactions().by_account == {}
    assert e2e_stack.file_reads() == reads
    assert not dest.exists()


def test_a_missing_file_fails_the_copy_with_the_file_services_answer(
    e2e_stack: StorageStack, copies: CopyApi, blobs: TestBlobs
) -> None:
    """A file that is not there fails the copy (CannotVerifyCopySource), nothing written."""
    blobs.container(SOURCE_ACCOUNT)
    share = blobs.container(SOURCE_ACCOUNT).container_name
    source = f"{e2e_stack.file_endpoint(SOURCE_ACCOUNT)}/{share}/nothing-here.bin"
    dest = blobs.destination(name="nothing.bin")
    doc = copies.wait_final(
        copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    )
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"] == "CannotVerifyCopySource", doc
    assert not dest.exists()
