"""Copies racing other requests on their destination: a second copy, deletes, a late abort.

Fault rules make the races deterministic: a rule that delays one request holds it inside the
engine, and the rule leaving the fault table (used up) says the request has reached that point.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, ContainerClient

from devhost.storage.stack import StorageStack
from tests.integration.storage.storage_helpers import sas_url, service, wait_finished

pytestmark = pytest.mark.integration

CHUNK = 256 * 1024  # the session stack's copy chunk (see tests/conftest.py)
HOLD_S = 5.0  # how long a delayed request stays inside the engine while the race is run


def _wait_taken(stack: StorageStack, rule_id: int) -> None:
    """Wait until a `times=1` fault rule was used: its request is now being held."""
    while stack.faults.active(rule_id):
        time.sleep(0.01)


def _source(src: ContainerClient, name: str, data: bytes) -> str:
    return sas_url(src.upload_blob(name, data))


def test_second_copy_while_the_first_is_starting_is_refused(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A Copy Blob arriving while another to the same blob is still starting gets 409."""
    first_url = _source(src, "a.bin", b"a" * 1000)
    second_url = _source(src, "b.bin", b"b" * 1000)
    target = dest.get_blob_client("twice.bin")
    # The first copy is held while it (re)creates its destination, before anything is recorded.
    rule = storage_stack.faults.delay(
        HOLD_S, target="destination", method="PUT", path=r"/twice\.bin$", times=1
    )
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(target.start_copy_from_url, first_url)
        _wait_taken(storage_stack, rule)
        with pytest.raises(ResourceExistsError) as err:
            target.start_copy_from_url(second_url)
        started = first.result()
    assert (err.value.status_code, err.value.error_code) == (409, "PendingCopyOperation")  # type: ignore[attr-defined]  # azure.storage sets error_code
    assert started["copy_status"] == "pending"
    done = wait_finished(target)
    assert (done.copy.id, done.copy.status) == (started["copy_id"], "success")
    assert target.download_blob().readall() == b"a" * 1000


def test_refused_delete_leaves_the_pending_copy_running(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A Delete Blob that Azurite refuses (no credentials) does not stop the blob's copy."""
    data = os.urandom(4 * CHUNK)
    url = _source(src, "src.bin", data)
    target = dest.get_blob_client("kept.bin")
    storage_stack.faults.hold_copies()
    started = target.start_copy_from_url(url)
    anonymous = BlobClient.from_blob_url(target.url, retry_total=0)
    with pytest.raises(HttpResponseError):
        anonymous.delete_blob()
    assert target.get_blob_properties().copy.status == "pending"
    storage_stack.faults.release_copies()
    done = wait_finished(target)
    assert (done.copy.id, done.copy.status) == (started["copy_id"], "success")
    assert target.download_blob().readall() == data


def test_deleting_only_the_snapshots_leaves_the_pending_copy_running(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Delete Blob with x-ms-delete-snapshots: only keeps the base blob, so its copy goes on."""
    data = os.urandom(4 * CHUNK)
    url = _source(src, "src.bin", data)
    target = dest.get_blob_client("snapshots-only.bin")
    storage_stack.faults.hold_copies()
    started = target.start_copy_from_url(url)
    target.delete_blob(delete_snapshots="only")
    assert target.get_blob_properties().copy.status == "pending"
    storage_stack.faults.release_copies()
    done = wait_finished(target)
    assert (done.copy.id, done.copy.status) == (started["copy_id"], "success")
    assert target.download_blob().readall() == data


def test_abort_that_outlasts_the_copy_answers_no_pending_copy(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """An abort whose lease check ends after the copy succeeded gets 409 and keeps the copy."""
    data = os.urandom(1000)
    url = _source(src, "src.bin", data)
    target = dest.get_blob_client("late-abort.bin")
    target.upload_blob(b"")
    lease = target.acquire_lease(lease_duration=-1)
    storage_stack.faults.hold_copies()
    started: dict[str, Any] = target.start_copy_from_url(url, destination_lease=lease)
    # The abort is held at its lease check (a renew on the destination) while the copy ends.
    rule = storage_stack.faults.delay(
        HOLD_S, target="destination", method="PUT", query="comp=lease", times=1
    )
    with ThreadPoolExecutor(1) as pool:
        abort = pool.submit(target.abort_copy, started["copy_id"], lease=lease)
        _wait_taken(storage_stack, rule)
        storage_stack.faults.release_copies()
        assert wait_finished(target).copy.status == "success"
        with pytest.raises(HttpResponseError) as err:
            abort.result()
    assert (err.value.status_code, err.value.error_code) == (409, "NoPendingCopyOperation")  # type: ignore[attr-defined]  # azure.storage sets error_code
    props = target.get_blob_properties()
    assert (props.copy.id, props.copy.status, props.size) == (started["copy_id"], "success", 1000)
    assert target.download_blob().readall() == data
    lease.release()


def test_deleting_the_container_stops_its_copies(
    storage_stack: StorageStack, src: ContainerClient
) -> None:
    """A copy into a deleted container never writes into a container re-created with its name."""
    blobs = service(storage_stack)
    name = f"gone-{uuid.uuid4().hex[:12]}"
    url = _source(src, "src.bin", os.urandom(4 * CHUNK))
    target = blobs.create_container(name).get_blob_client("orphan.bin")
    storage_stack.faults.hold_copies()
    assert target.start_copy_from_url(url)["copy_status"] == "pending"
    blobs.delete_container(name)
    while True:  # Azurite keeps a deleted container's name a moment
        try:
            again = blobs.create_container(name)
            break
        except ResourceExistsError:
            time.sleep(0.05)
    storage_stack.faults.release_copies()
    jobs = storage_stack.engine.copies.jobs
    while any(key[1] == name for key in list(jobs)):
        time.sleep(0.02)
    assert [b.name for b in again.list_blobs(include=["copy"])] == []
    assert not target.exists()
    again.delete_container()
