"""A copy pending when the copy engine stops goes on when it starts again on the same state, as a
pending copy in Azure goes on whatever happens to its caller (devhost/storage/resume.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from tests.integration.storage.storage_helpers import sas_url, wait_finished

pytestmark = pytest.mark.integration

DEST, OTHER = ACCOUNTS


def container(stack: StorageStack, account: str, name: str) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(stack.connection_string(account))
    return service.get_container_client(name)


def test_a_pending_copy_goes_on_after_an_engine_restart(tmp_path: Path) -> None:
    """Held pending through a stop, the copy ends `success` with every byte after the start,
    under its copy id, though the engine came back on other ports."""
    data = os.urandom(1024 * 1024 + 3)
    state = tmp_path / "stack"
    with StorageStack(StorageConfig.free_ports(data_dir=state)) as first:
        source = container(first, OTHER, "src")
        source.create_container()
        blob = source.get_blob_client("a.bin")
        blob.upload_blob(data)
        container(first, DEST, "dst").create_container()
        first.faults.hold_copies()
        started = (
            container(first, DEST, "dst")
            .get_blob_client("a.bin")
            .start_copy_from_url(sas_url(blob))
        )
        assert started["copy_status"] == "pending"
    with StorageStack(StorageConfig.free_ports(data_dir=state)) as second:
        target = container(second, DEST, "dst").get_blob_client("a.bin")
        props = wait_finished(target)
        assert (props.copy.status, props.copy.id) == ("success", started["copy_id"])
        assert target.download_blob().readall() == data


def test_a_copy_that_ended_before_the_stop_is_not_copied_again(tmp_path: Path) -> None:
    """Only pending copies have a plan: one that ended keeps its record and is left alone."""
    state = tmp_path / "stack"
    with StorageStack(StorageConfig.free_ports(data_dir=state)) as first:
        source = container(first, OTHER, "src")
        source.create_container()
        blob = source.get_blob_client("a.bin")
        blob.upload_blob(b"small")
        container(first, DEST, "dst").create_container()
        target = container(first, DEST, "dst").get_blob_client("a.bin")
        target.start_copy_from_url(sas_url(blob))
        ended = wait_finished(target)
    with StorageStack(StorageConfig.free_ports(data_dir=state)) as second:
        second.reset_transactions()
        again = container(second, DEST, "dst").get_blob_client("a.bin").get_blob_properties()
        assert (again.copy.status, again.copy.id, again.etag) == (
            "success",
            ended.copy.id,
            ended.etag,
        )
