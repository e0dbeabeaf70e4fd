"""`make run`'s prepare step (demo/localrun.py) on a real stack: the README's queues, containers
and example blob exist afterwards, and a second start keeps them as they are."""

from __future__ import annotations

import logging

import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from demo import localrun
from devhost.storage.stack import StorageStack

pytestmark = pytest.mark.integration


def test_prepare_makes_what_the_readme_uses_once(
    storage_stack: StorageStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
    localrun.prepare(storage_stack)
    with QueueServiceClient.from_connection_string(storage_stack.connection_string()) as queues:
        names = {q.name for q in queues.list_queues()}
    assert set(localrun.QUEUES) <= names
    account, container, name = localrun.EXAMPLE
    source = BlobServiceClient.from_connection_string(storage_stack.connection_string(account))
    example = source.get_blob_client(container, name).get_blob_properties()
    assert example.size == localrun.EXAMPLE_BYTES
    for owner, kept in localrun.CONTAINERS:
        service = BlobServiceClient.from_connection_string(storage_stack.connection_string(owner))
        assert service.get_container_client(kept).exists()
    localrun.prepare(storage_stack)  # a restart: nothing made again, the example unchanged
    assert "kept from before" in caplog.records[-1].getMessage()
    again = source.get_blob_client(container, name).get_blob_properties()
    assert again.etag == example.etag
