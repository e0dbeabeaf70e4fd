"""The copy code of the Azure docs sample, unchanged in substance, against the local stack.

Steps of "Copy a blob with asynchronous scheduling using Python" (AzureStorageSnippets
blob-devguide-copy-blob.py): lease the source, user delegation SAS, start_copy_from_url with
requires_sync=False, break the lease, poll get_blob_properties().copy.status, abort_copy.
Run in HTTPS + OAuth mode with a token credential, as the sample runs against Azure.
"""

from __future__ import annotations

import datetime
import os
import uuid

import pytest
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobSasPermissions,
    BlobServiceClient,
    generate_blob_sas,
)

from devhost.storage.credentials import FakeAzureADCredential
from devhost.storage.stack import StorageStack
from tests.integration.storage.storage_helpers import SOURCE_ACCOUNT, wait_finished

pytestmark = pytest.mark.integration


class BlobCopySamples:
    """The docs sample's methods, as the docs show them."""

    def copy_from_source_in_azure_async(
        self,
        source_blob: BlobClient,
        destination_blob: BlobClient,
        blob_service_client: BlobServiceClient,
    ) -> None:
        lease = BlobLeaseClient(client=source_blob)
        sas_token = self.generate_user_delegation_sas(
            blob_service_client=blob_service_client, source_blob=source_blob
        )
        source_blob_sas_url = source_blob.url + "?" + sas_token
        lease.acquire(lease_duration=-1)
        destination_blob.start_copy_from_url(source_url=source_blob_sas_url, requires_sync=False)
        lease.break_lease()

    def generate_user_delegation_sas(
        self, blob_service_client: BlobServiceClient, source_blob: BlobClient
    ) -> str:
        delegation_key_start_time = datetime.datetime.now(datetime.UTC)
        delegation_key_expiry_time = delegation_key_start_time + datetime.timedelta(hours=1)
        key = blob_service_client.get_user_delegation_key(
            key_start_time=delegation_key_start_time, key_expiry_time=delegation_key_expiry_time
        )
        return generate_blob_sas(
            account_name=blob_service_client.account_name,  # type: ignore[arg-type]  # None only without an account URL
            container_name=source_blob.container_name,
            blob_name=source_blob.blob_name,
            account_key=None,
            user_delegation_key=key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
            start=datetime.datetime.now(datetime.UTC),
        )

    def copy_from_external_source_async(
        self, source_url: str, destination_blob: BlobClient
    ) -> None:
        destination_blob.start_copy_from_url(source_url=source_url, requires_sync=False)

    def check_copy_status(self, destination_blob: BlobClient) -> str:
        status: str = destination_blob.get_blob_properties().copy.status  # type: ignore[assignment]  # None only if never a copy destination
        return status

    def abort_copy(self, destination_blob: BlobClient) -> None:
        copy_status = destination_blob.get_blob_properties().copy.status
        copy_id = destination_blob.get_blob_properties().copy.id
        if copy_status == "pending":
            destination_blob.abort_copy(copy_id)  # type: ignore[arg-type]  # a pending copy has an id


def _clients(stack: StorageStack) -> tuple[BlobServiceClient, BlobServiceClient]:
    verify = str(stack.ca_cert_path)
    credential = FakeAzureADCredential()
    src = BlobServiceClient(
        stack.blob_endpoint(SOURCE_ACCOUNT), credential=credential, connection_verify=verify
    )
    dst = BlobServiceClient(stack.blob_endpoint(), credential=credential, connection_verify=verify)
    return src, dst


def test_docs_sample_copies_across_accounts_with_user_delegation_sas(
    storage_stack_https: StorageStack,
) -> None:
    """The sample's cross-account copy starts pending and ends 'success' with equal bytes."""
    src_service, dst_service = _clients(storage_stack_https)
    name = f"docs-{uuid.uuid4().hex[:8]}"
    data = os.urandom(900_000)
    source = src_service.create_container(name).get_blob_client("sample-blob.txt")
    source.upload_blob(data)
    destination = dst_service.create_container(name).get_blob_client("sample-blob.txt")
    sample = BlobCopySamples()
    storage_stack_https.faults.hold_copies()

    sample.copy_from_source_in_azure_async(source, destination, src_service)

    assert sample.check_copy_status(destination) == "pending"
    storage_stack_https.faults.release_copies()
    assert wait_finished(destination).copy.status == "success"
    assert sample.check_copy_status(destination) == "success"
    assert destination.download_blob().readall() == data


def test_docs_sample_abort_copy_aborts_a_pending_copy(storage_stack_https: StorageStack) -> None:
    """The sample's abort_copy finds the pending copy's id and aborts it."""
    src_service, dst_service = _clients(storage_stack_https)
    name = f"docs-{uuid.uuid4().hex[:8]}"
    source = src_service.create_container(name).get_blob_client("sample-blob.txt")
    source.upload_blob(b"abc" * 1000)
    destination = dst_service.create_container(name).get_blob_client("sample-blob.txt")
    sample = BlobCopySamples()
    storage_stack_https.faults.hold_copies()
    sample.copy_from_source_in_azure_async(source, destination, src_service)

    sample.abort_copy(destination)

    assert sample.check_copy_status(destination) == "aborted"
    assert destination.get_blob_properties().size == 0


def test_docs_sample_external_copy(storage_stack_https: StorageStack) -> None:
    """The sample's external-source copy: any readable URL (here a public-read SAS URL)."""
    src_service, dst_service = _clients(storage_stack_https)
    name = f"docs-{uuid.uuid4().hex[:8]}"
    source = src_service.create_container(name).get_blob_client("sample-blob.txt")
    source.upload_blob(b"external" * 100)
    sas = BlobCopySamples().generate_user_delegation_sas(src_service, source)
    destination = dst_service.create_container(name).get_blob_client("external.txt")

    BlobCopySamples().copy_from_external_source_async(f"{source.url}?{sas}", destination)

    assert wait_finished(destination).copy.status == "success"
    assert destination.download_blob().readall() == b"external" * 100
