"""Fixtures for the service's storage operations against the real stack (Azurite + engine)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from devhost.storage.stack import ACCOUNTS, StorageStack
from shared.blobops import BlobOps
from shared.settings import settings_from_env

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS


def _service(stack: StorageStack, account: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.connection_string(account), retry_total=0)


@pytest.fixture
def ops(storage_stack: StorageStack) -> BlobOps:
    """BlobOps configured as the app would be for this stack (SDK retries off: faults surface)."""
    env = {"BLOBCOPY_ACCOUNTS": ",".join(ACCOUNTS), "AzureWebJobsStorage": ""}
    for account in ACCOUNTS:
        env[f"BLOBCOPY_ACCOUNT_{account.upper()}_CONNECTION_STRING"] = (
            storage_stack.connection_string(account)
        )
    env["AzureWebJobsStorage"] = storage_stack.connection_string(DEST_ACCOUNT)
    return BlobOps(settings_from_env(env), retry_total=0)


@pytest.fixture
def dest(storage_stack: StorageStack) -> Iterator[ContainerClient]:
    """A fresh destination container in devstoreaccount1."""
    container = _service(storage_stack, DEST_ACCOUNT).create_container(f"d{uuid.uuid4().hex[:12]}")
    yield container
    storage_stack.faults.release_copies()
    container.delete_container()


@pytest.fixture
def src(storage_stack: StorageStack) -> Iterator[ContainerClient]:
    """A fresh source container in devstoreaccount2."""
    container = _service(storage_stack, SOURCE_ACCOUNT).create_container(
        f"s{uuid.uuid4().hex[:12]}"
    )
    yield container
    container.delete_container()
