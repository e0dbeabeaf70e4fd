"""BlobOps on accounts given by URL only (managed identity): user delegation SAS, real stack."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.storage.credentials import FakeAzureADCredential
from devhost.storage.stack import ACCOUNTS, StorageStack
from shared.blobops import BlobOps
from shared.settings import settings_from_env

pytestmark = pytest.mark.integration

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS


def test_user_delegation_sas_copies_across_accounts(storage_stack_https: StorageStack) -> None:
    """Without an account key, the source SAS is a user delegation SAS and the copy succeeds."""
    stack = storage_stack_https
    env = {"BLOBCOPY_ACCOUNTS": "dst,src"}
    env["BLOBCOPY_ACCOUNT_DST_URL"] = stack.blob_endpoint(DEST_ACCOUNT)
    env["BLOBCOPY_ACCOUNT_SRC_URL"] = stack.blob_endpoint(SOURCE_ACCOUNT)
    verify = str(stack.ca_cert_path)
    ops = BlobOps(settings_from_env(env), connection_verify=verify, retry_total=0)
    credential = FakeAzureADCredential()
    ops._token_credential = credential  # stands in for DefaultAzureCredential
    assert not any(a.uses_key for a in ops.settings.registry.accounts)

    name = f"mi{uuid.uuid4().hex[:10]}"
    src_service = BlobServiceClient(
        stack.blob_endpoint(SOURCE_ACCOUNT), credential=credential, connection_verify=verify
    )
    dst_service = BlobServiceClient(
        stack.blob_endpoint(DEST_ACCOUNT), credential=credential, connection_verify=verify
    )
    source = src_service.create_container(name).get_blob_client("a.bin")
    data = os.urandom(300_000)
    source.upload_blob(data)
    target = dst_service.create_container(name).get_blob_client("a.bin")
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)

    readable = ops.readable_source(source.url, deadline)
    assert "skoid=" in readable and "sp=r" in readable  # a user delegation SAS, read-only
    started = ops.start_copy(
        {"source": {"url": source.url}, "destination": {"url": target.url}}, deadline
    )
    seen = started
    while seen["status"] == "pending":
        time.sleep(0.05)
        seen = ops.check_copy(target.url, started["copy_id"])
    assert seen["status"] == "success"
    assert target.download_blob().readall() == data


def test_snapshot_restore_works_with_an_identity_alone(storage_stack_https: StorageStack) -> None:
    """With Entra ID credentials only, a destination snapshot is restored and then dropped."""
    stack = storage_stack_https
    env = {
        "BLOBCOPY_ACCOUNTS": "dst",
        "BLOBCOPY_ACCOUNT_DST_URL": stack.blob_endpoint(DEST_ACCOUNT),
    }
    verify = str(stack.ca_cert_path)
    ops = BlobOps(settings_from_env(env), connection_verify=verify, retry_total=0)
    credential = FakeAzureADCredential()
    ops._token_credential = credential  # stands in for DefaultAzureCredential
    service = BlobServiceClient(
        stack.blob_endpoint(DEST_ACCOUNT), credential=credential, connection_verify=verify
    )
    container = service.create_container(f"snap{uuid.uuid4().hex[:10]}")
    target = container.get_blob_client("a.bin")
    target.upload_blob(b"the old content")
    snapshot = ops.snapshot_destination(target.url)
    assert snapshot
    target.upload_blob(b"what an aborted copy left", overwrite=True)
    ops.finish_snapshot(target.url, snapshot, restore=True)
    assert target.download_blob().readall() == b"the old content"
    assert [b.snapshot for b in container.list_blobs(include=["snapshots"])] == [None]
