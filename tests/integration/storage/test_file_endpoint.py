"""The copy engine's read-only Azure Files endpoint: SAS-authorised reads as Azure Files answers
them, and a Copy Blob from a file, through the real SDKs."""

from __future__ import annotations

import datetime as dt
import os
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobType, ContainerClient, ContentSettings
from azure.storage.fileshare import FileSasPermissions, generate_file_sas

from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import StorageStack
from tests.integration.storage.storage_helpers import SOURCE_ACCOUNT, copied_bytes, wait_finished

pytestmark = pytest.mark.integration


def _file_url(stack: StorageStack, share: str, path: str, **permissions: bool) -> str:
    """The file's URL on the engine's Files endpoint with a key-signed file SAS."""
    sas = generate_file_sas(
        SOURCE_ACCOUNT,
        share,
        path.split("/"),
        account_key=DEV_ACCOUNT_KEY,
        permission=FileSasPermissions(**(permissions or {"read": True})),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10),
    )
    return f"{stack.file_endpoint(SOURCE_ACCOUNT)}/{share}/{path}?{sas}"


def _get(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def test_a_sas_read_answers_as_get_file_does(
    storage_stack: StorageStack, src: ContainerClient
) -> None:
    """GET with a read SAS gives the bytes, a range gives 206, and the headers are a file's
    (x-ms-type File, no x-ms-blob-type), metadata and content type kept."""
    data = os.urandom(300_000)
    src.upload_blob(
        "dir/report.bin",
        data,
        metadata={"origin": "files"},
        content_settings=ContentSettings(content_type="application/x-report"),
    )
    url = _file_url(storage_stack, src.container_name, "dir/report.bin")
    status, headers, body = _get(url)
    assert status == 200 and body == data
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["x-ms-type"] == "File" and "x-ms-blob-type" not in lowered
    assert lowered["x-ms-meta-origin"] == "files"
    assert lowered["content-type"] == "application/x-report"
    assert lowered["accept-ranges"] == "bytes"
    status, headers, body = _get(url, Range="bytes=10-19")
    assert status == 206 and body == data[10:20]
    status, headers, body = _get(url, "HEAD")
    assert status == 200 and int(headers["Content-Length"]) == len(data)


def test_a_bad_or_missing_sas_is_refused(storage_stack: StorageStack, src: ContainerClient) -> None:
    """No SAS is 401, a tampered signature 403 AuthenticationFailed, a SAS without read 403
    AuthorizationPermissionMismatch, a file that is not there 404 ResourceNotFound."""
    src.upload_blob("f.txt", b"hello")
    good = _file_url(storage_stack, src.container_name, "f.txt")
    assert _get(good.split("?")[0])[0] == 401
    tampered = good.replace("sig=", "sig=AAAA")
    status, headers, _ = _get(tampered)
    assert status == 403 and headers["x-ms-error-code"] == "AuthenticationFailed"
    write_only = _file_url(storage_stack, src.container_name, "f.txt", write=True)
    status, headers, _ = _get(write_only)
    assert status == 403 and headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    missing = _file_url(storage_stack, src.container_name, "nothing.txt")
    status, headers, _ = _get(missing)
    assert status == 404 and headers["x-ms-error-code"] == "ResourceNotFound"
    # a SAS signed for one file does not read another
    other = good.replace("/f.txt?", "/nothing.txt?")
    assert _get(other)[0] == 403


def test_copy_blob_from_a_file_makes_a_block_blob(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Copy Blob from a file URL with a SAS copies the bytes asynchronously into a new block
    blob; onto an existing page blob it is refused (InvalidBlobType), as Azure refuses it."""
    data = os.urandom(700_000)
    src.upload_blob("data/big.bin", data)
    url = _file_url(storage_stack, src.container_name, "data/big.bin")
    target = dest.get_blob_client("from-file.bin")
    started = target.start_copy_from_url(url, requires_sync=False)
    assert started["copy_status"] == "pending"
    props = wait_finished(target)
    assert props.copy.status == "success" and copied_bytes(props) == len(data)
    assert props.blob_type == BlobType.BLOCKBLOB
    assert target.download_blob().readall() == data
    assert "sig=REDACTED" in (props.copy.source or "")
    paged = dest.get_blob_client("paged.bin")
    paged.create_page_blob(512)
    with pytest.raises(HttpResponseError) as refused:
        paged.start_copy_from_url(url, requires_sync=False)
    assert "InvalidBlobType" in str(refused.value)
