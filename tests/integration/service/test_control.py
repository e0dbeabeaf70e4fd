"""Abort records (shared/control.py) in the host's storage, on real Azurite."""

from __future__ import annotations

import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.storage.stack import StorageStack
from shared.control import CONTAINER, AbortRequests
from shared.errors import StorageError

pytestmark = pytest.mark.integration


def _records(stack: StorageStack) -> AbortRequests:
    return AbortRequests(stack.connection_string(), None, retry_total=0)


def test_an_abort_is_recorded_read_and_forgotten(storage_stack: StorageStack) -> None:
    """A recorded abort is read back with its reason, and is gone once forgotten."""
    records, copy_id = _records(storage_stack), f"c-{uuid.uuid4().hex}"
    assert records.read(copy_id) is None
    records.record(copy_id, "operator asked")
    found = records.read(copy_id)
    assert found is not None and found.reason == "operator asked" and found.requested
    records.forget(copy_id)
    assert records.read(copy_id) is None
    records.forget(copy_id)  # forgetting twice is harmless


def test_the_control_container_is_made_on_the_first_abort(storage_stack: StorageStack) -> None:
    """With no control container yet (a new host storage), the first record creates it."""
    service = BlobServiceClient.from_connection_string(storage_stack.connection_string())
    container = service.get_container_client(CONTAINER)
    if container.exists():
        container.delete_container()
    _records(storage_stack).record("first", None)
    assert container.exists()
    found = _records(storage_stack).read("first")
    assert found is not None and found.reason is None


def test_ids_with_slashes_or_odd_characters_stay_one_blob(storage_stack: StorageStack) -> None:
    """A copy id is percent-encoded into one blob name: `a/../b` cannot reach another record."""
    records = _records(storage_stack)
    records.record("a/../b", "odd")
    assert records.read("b") is None
    found = records.read("a/../b")
    assert found is not None and found.reason == "odd"


def test_an_unreachable_host_storage_raises_our_error() -> None:
    """A storage failure surfaces as a StorageError (the API then still raises the event)."""
    records = AbortRequests(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;",
        None,
        retry_total=0,
        connection_timeout=1,
    )
    with pytest.raises(StorageError):
        records.record("x", None)
