"""Fixtures for the storage stack's integration tests: fresh source and destination containers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import ContainerClient

from devhost.storage.stack import StorageStack
from tests.integration.storage.storage_helpers import SOURCE_ACCOUNT, service


@pytest.fixture
def dest(storage_stack: StorageStack) -> Iterator[ContainerClient]:
    """A fresh destination container in devstoreaccount1."""
    container = service(storage_stack).create_container(f"dst-{uuid.uuid4().hex[:12]}")
    yield container
    storage_stack.faults.release_copies()
    container.delete_container()


@pytest.fixture
def src(storage_stack: StorageStack) -> Iterator[ContainerClient]:
    """A fresh source container in the other account, devstoreaccount2."""
    container = service(storage_stack, SOURCE_ACCOUNT).create_container(
        f"src-{uuid.uuid4().hex[:12]}"
    )
    yield container
    container.delete_container()
