"""The transaction counter: what the real SDK's calls cost, per operation, account and destination.

The session shares one stack, so every test resets the counter once its fixtures have made their
containers, and asserts exact counts of what it sent afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobLeaseClient,
    ContainerClient,
    ContentSettings,
)

from devhost.storage.credentials import FakeAzureADCredential
from devhost.storage.stack import StorageStack
from devhost.storage.transactions import Transactions, TransactionsClient
from tests.integration.storage.storage_helpers import (
    DEST_ACCOUNT,
    SOURCE_ACCOUNT,
    sas_url,
    service,
    wait_finished,
)

pytestmark = pytest.mark.integration

NOTHING = Transactions(by_operation={}, by_account={}, accepted_copies={}, refused_copies={})


def _path(blob: BlobClient) -> str:
    return f"{blob.account_name}/{blob.container_name}/{blob.blob_name}"


def test_a_copy_session_is_counted_by_operation_account_and_destination(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Upload, lease, copy (accepted, then refused), read, list, abort: each counted once where
    it was sent; the engine's own source reads and destination writes are not counted."""
    storage_stack.reset_transactions()
    source = src.get_blob_client("s.bin")
    source.upload_blob(b"s" * 300_000)
    source.acquire_lease()
    target = dest.get_blob_client("t.bin")
    storage_stack.faults.hold_copies()
    started: dict[str, Any] = target.start_copy_from_url(sas_url(source))
    assert started["copy_status"] == "pending"
    with pytest.raises(ResourceExistsError) as err:
        target.start_copy_from_url(sas_url(source))
    assert err.value.error_code == "PendingCopyOperation"  # type: ignore[attr-defined]  # azure.storage sets error_code
    assert target.get_blob_properties().copy.status == "pending"
    assert [b.name for b in dest.list_blobs(include=["copy"])] == ["t.bin"]
    target.abort_copy(started["copy_id"])

    counts = storage_stack.transactions()
    assert counts.by_account == {
        SOURCE_ACCOUNT: {"Put Blob": 1, "Lease Blob": 1},
        DEST_ACCOUNT: {
            "Copy Blob": 2,
            "Get Blob Properties": 1,
            "List Blobs": 1,
            "Abort Copy Blob": 1,
        },
    }
    assert counts.by_operation == {
        "Put Blob": 1,
        "Lease Blob": 1,
        "Copy Blob": 2,
        "Get Blob Properties": 1,
        "List Blobs": 1,
        "Abort Copy Blob": 1,
    }
    assert counts.accepted_copies == {_path(target): 1}
    assert counts.refused_copies == {_path(target): 1}
    storage_stack.reset_transactions()
    assert storage_stack.transactions() == NOTHING


def test_a_faulted_copy_is_a_request_but_not_an_accepted_copy(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A Copy Blob the fault injector answers 503 is billed and refused; the retry is accepted."""
    source = src.get_blob_client("s.bin")
    source.upload_blob(b"s" * 1000)
    target = dest.get_blob_client("faulted.bin")
    storage_stack.reset_transactions()
    storage_stack.faults.fail(status=503, code="ServerBusy", header="x-ms-copy-source")
    with pytest.raises(HttpResponseError) as err:
        target.start_copy_from_url(sas_url(source))
    assert err.value.status_code == 503
    faulted = storage_stack.transactions()
    assert faulted.by_operation == {"Copy Blob": 1}
    assert (faulted.accepted_copies, faulted.refused_copies) == ({}, {_path(target): 1})

    target.start_copy_from_url(sas_url(source))
    assert wait_finished(target).copy.status == "success"
    retried = storage_stack.transactions()
    assert retried.accepted_copies == {_path(target): 1}
    assert retried.refused_copies == {_path(target): 1}


def test_the_peak_of_pending_copies_is_kept_per_destination_container(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """Three copies held pending at once, then released: the peak says 3 for the destination
    container; a reset while one is pending starts the peak again from what is pending."""
    source = src.get_blob_client("s.bin")
    source.upload_blob(b"s" * 1000)
    storage_stack.reset_transactions()
    storage_stack.faults.hold_copies()
    targets = [dest.get_blob_client(f"p{i}.bin") for i in range(3)]
    for target in targets:
        target.start_copy_from_url(sas_url(source))
    container = f"{dest.account_name}/{dest.container_name}"
    assert storage_stack.transactions().peak_pending == {container: 3}
    storage_stack.faults.release_copies()
    for target in targets:
        wait_finished(target)
    assert storage_stack.transactions().peak_pending == {container: 3}
    storage_stack.reset_transactions()
    assert storage_stack.transactions().peak_pending == {}


def test_a_same_account_copy_azurite_runs_is_accepted_too(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """A copy the engine forwards (same account, synchronous in Azurite) counts by its answer."""
    source = dest.get_blob_client("local-src.bin")
    source.upload_blob(b"l" * 100)
    target = dest.get_blob_client("local-dst.bin")
    storage_stack.reset_transactions()
    assert target.start_copy_from_url(source.url)["copy_status"] == "success"
    counts = storage_stack.transactions()
    assert counts.by_account == {DEST_ACCOUNT: {"Copy Blob": 1}}
    assert counts.accepted_copies == {_path(target): 1}
    assert counts.refused_copies == {}


def test_control_api_reads_and_resets_the_counts_without_counting_itself(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """Other processes see the same counts over HTTP; control requests are not transactions."""
    remote = TransactionsClient(storage_stack.control_url)
    remote.reset_transactions()
    dest.upload_blob("ctl.bin", b"c")
    assert remote.transactions() == remote.transactions() == storage_stack.transactions()
    assert remote.transactions().by_account == {DEST_ACCOUNT: {"Put Blob": 1}}
    remote.reset_transactions()
    assert storage_stack.transactions() == NOTHING


def _sdk_steps(
    stack: StorageStack, container: ContainerClient
) -> list[tuple[str, Callable[[], object]]]:
    """(operation, the SDK call that is exactly one request of it), in an order that works."""
    svc = service(stack)
    blob = container.get_blob_client("b.txt")
    blocks = container.get_blob_client("blocks.bin")
    appended = container.get_blob_client("append.log")
    pages = container.get_blob_client("pages.bin")
    lease = BlobLeaseClient(blob)
    return [
        ("Create Container", container.create_container),
        ("List Containers", lambda: list(svc.list_containers(name_starts_with="tx-"))),
        ("Get Container Properties", container.get_container_properties),
        ("Set Container Metadata", lambda: container.set_container_metadata({"k": "v"})),
        ("Get Account Information", svc.get_account_information),
        ("Get Blob Service Properties", svc.get_service_properties),
        ("Put Blob", lambda: blob.upload_blob(b"hello")),
        ("Get Blob", lambda: blob.download_blob().readall()),
        ("Get Blob Properties", blob.get_blob_properties),
        ("Set Blob Metadata", lambda: blob.set_blob_metadata({"k": "v"})),
        ("Set Blob Properties", lambda: blob.set_http_headers(ContentSettings("text/plain"))),
        ("Snapshot Blob", blob.create_snapshot),
        ("Lease Blob", lambda: lease.acquire(15)),
        ("Lease Blob", lease.release),
        ("Put Block", lambda: blocks.stage_block("YQ==", b"abc")),
        ("Put Block List", lambda: blocks.commit_block_list([BlobBlock("YQ==")])),
        ("Get Block List", blocks.get_block_list),
        ("Put Blob", appended.create_append_blob),
        ("Append Block", lambda: appended.append_block(b"line\n")),
        ("Put Blob", lambda: pages.create_page_blob(512)),
        ("Put Page", lambda: pages.upload_page(b"p" * 512, offset=0, length=512)),
        ("Get Page Ranges", lambda: list(pages.list_page_ranges())),
        ("Delete Blob", lambda: blob.delete_blob(delete_snapshots="include")),
        ("Delete Container", container.delete_container),
    ]


def test_each_sdk_call_counts_as_its_rest_operation(storage_stack: StorageStack) -> None:
    """The names are Azure's REST (and billing) names, derived from what the SDK really sends."""
    container = service(storage_stack).get_container_client(f"tx-{dt.datetime.now():%H%M%S%f}")
    for expected, call in _sdk_steps(storage_stack, container):
        storage_stack.reset_transactions()
        call()
        assert storage_stack.transactions().by_operation == {expected: 1}


def test_user_delegation_key_is_counted(storage_stack_https: StorageStack) -> None:
    """Get User Delegation Key (HTTPS + OAuth only) is counted; the client reads it over HTTPS."""
    svc = service(
        storage_stack_https,
        credential=FakeAzureADCredential(),
        connection_verify=str(storage_stack_https.ca_cert_path),
    )
    now = dt.datetime.now(dt.UTC)
    storage_stack_https.reset_transactions()
    svc.get_user_delegation_key(now, now + dt.timedelta(hours=1))
    expected = {DEST_ACCOUNT: {"Get User Delegation Key": 1}}
    assert storage_stack_https.transactions().by_account == expected
    remote = TransactionsClient(
        storage_stack_https.control_url, cafile=storage_stack_https.ca_cert_path
    )
    assert remote.transactions().by_account == expected  # over HTTPS, trusting the stack's CA
