"""BlobOps on accounts given by URL only (managed identity): user delegation SAS, real stack."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    generate_blob_sas,
)

from devhost.storage.credentials import FakeAzureADCredential
from devhost.storage.stack import ACCOUNTS, DEV_ACCOUNT_KEY, StorageStack
from shared.blobops import BlobOps
from shared.copylimits import SAS_MARGIN
from shared.errors import CopyFailed, RequestRejected
from shared.requests import parse_copy_request
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
    while seen.status == "pending":
        time.sleep(0.05)
        seen = ops.check_copy(target.url, started.copy_id)
    assert seen.status == "success"
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


def _identity_ops(stack: StorageStack) -> tuple[BlobOps, FakeAzureADCredential]:
    """BlobOps on both accounts by URL only, as in Azure: Entra ID tokens sign no request path."""
    env = {
        "BLOBCOPY_ACCOUNTS": "dst,src",
        "BLOBCOPY_ACCOUNT_DST_URL": stack.blob_endpoint(DEST_ACCOUNT),
        "BLOBCOPY_ACCOUNT_SRC_URL": stack.blob_endpoint(SOURCE_ACCOUNT),
    }
    ops = BlobOps(settings_from_env(env), connection_verify=str(stack.ca_cert_path), retry_total=0)
    credential = FakeAzureADCredential()
    ops._token_credential = credential  # stands in for DefaultAzureCredential
    return ops, credential


@pytest.mark.parametrize("climb", ["..", "%2e%2e", "%2E.", "x%2f..%2f.."])
def test_a_destination_path_that_climbs_out_of_its_container_is_never_written(
    storage_stack_https: StorageStack, climb: str
) -> None:
    """`allowed/../secret/x.bin` is refused by the service and no blob appears in `secret`.

    urllib3 resolves dot segments before sending (the SDK passes the path through), and with a
    bearer token nothing signs the path, so before the fix the copy landed in `secret` while
    the allowlist had checked container `allowed`. With an account key the signature over the
    unresolved path fails instead, which is why this needs the identity stack.
    """
    stack = storage_stack_https
    ops, credential = _identity_ops(stack)
    verify = str(stack.ca_cert_path)
    tag = uuid.uuid4().hex[:8]
    dst = BlobServiceClient(
        stack.blob_endpoint(DEST_ACCOUNT), credential=credential, connection_verify=verify
    )
    secret = dst.create_container(f"secret{tag}")
    dst.create_container(f"allowed{tag}")
    source = (
        BlobServiceClient(
            stack.blob_endpoint(SOURCE_ACCOUNT), credential=credential, connection_verify=verify
        )
        .create_container(f"src{tag}")
        .get_blob_client("a.bin")
    )
    source.upload_blob(os.urandom(1000))
    target = f"{stack.blob_endpoint(DEST_ACCOUNT)}/allowed{tag}/{climb}/secret{tag}/x.bin"
    body = {"source": {"url": source.url}, "destination": {"url": target}}
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)

    with contextlib.suppress(CopyFailed):  # an orchestration started before the edge checked
        ops.start_copy(body, deadline)
    assert [b.name for b in secret.list_blobs()] == []
    with pytest.raises(CopyFailed) as caught:
        ops.start_copy(body, deadline)
    assert caught.value.code == "InvalidBlobPath"
    with pytest.raises(RequestRejected) as refused:
        parse_copy_request(body, ops.settings)
    assert refused.value.status == 400 and "destination.url" in refused.value.fields


def test_a_source_path_that_climbs_out_of_its_container_is_never_leased(
    storage_stack_https: StorageStack,
) -> None:
    """A lease on `public/../private/x.bin` is refused and the private blob stays unleased."""
    stack = storage_stack_https
    ops, credential = _identity_ops(stack)
    tag = uuid.uuid4().hex[:8]
    service = BlobServiceClient(
        stack.blob_endpoint(SOURCE_ACCOUNT),
        credential=credential,
        connection_verify=str(stack.ca_cert_path),
    )
    service.create_container(f"public{tag}")
    private = service.create_container(f"private{tag}").get_blob_client("x.bin")
    private.upload_blob(b"not for copying")
    climbing = f"{stack.blob_endpoint(SOURCE_ACCOUNT)}/public{tag}/../private{tag}/x.bin"

    with pytest.raises(CopyFailed):
        ops.acquire_lease(climbing, "55555555-5555-5555-5555-555555555555", 15)
    assert private.get_blob_properties().lease.state == "available"


def test_the_longest_timeout_accepted_gets_a_sas_that_outlives_its_deadline(
    storage_stack_https: StorageStack,
) -> None:
    """For a managed-identity source, whatever timeout the edge accepts, the user delegation SAS
    the copy gets lasts until the deadline plus the margin (not ~5 min short of it, as when
    the key was capped at its start + 7 days under a 7-day deadline)."""
    stack = storage_stack_https
    ops, credential = _identity_ops(stack)
    tag = uuid.uuid4().hex[:8]
    source = (
        BlobServiceClient(
            stack.blob_endpoint(SOURCE_ACCOUNT),
            credential=credential,
            connection_verify=str(stack.ca_cert_path),
        )
        .create_container(f"long{tag}")
        .get_blob_client("a.bin")
    )
    target = f"{stack.blob_endpoint(DEST_ACCOUNT)}/long{tag}/a.bin"
    accepted = []
    for timeout in (7 * 86400 - 1200, 7 * 86400 - 300, 7 * 86400):
        body = {
            "source": {"url": source.url},
            "destination": {"url": target},
            "timeout_seconds": timeout,
        }
        try:
            parse_copy_request(body, ops.settings)
        except RequestRejected as exc:
            assert list(exc.fields) == ["timeout_seconds"]
            continue
        accepted.append(timeout)
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout)
        query = parse_qs(urlsplit(ops.readable_source(source.url, deadline)).query)
        expiry = dt.datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
        assert expiry >= deadline + SAS_MARGIN - dt.timedelta(seconds=1), timeout
    assert accepted  # the bound leaves room for nearly a week


class NoIdentity:
    """An identity that has no right here: every token request fails, as for a managed
    identity given no role on the source account."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError("this identity has no role on the account")


def keyless_source_with_sas(
    stack: StorageStack, prefix: str
) -> tuple[BlobClient, str, ContainerClient, BlobOps]:
    """A 2,000-byte source on an account configured by URL only (no key), the caller's
    read-only SAS for it, an empty destination container, and our ops for both accounts."""
    verify = str(stack.ca_cert_path)
    keyed = BlobServiceClient.from_connection_string(
        stack.connection_string(SOURCE_ACCOUNT), connection_verify=verify
    )
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    source = keyed.create_container(name).get_blob_client("a.bin")
    source.upload_blob(os.urandom(2000))
    sas = generate_blob_sas(
        SOURCE_ACCOUNT,
        name,
        "a.bin",
        account_key=DEV_ACCOUNT_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    dest = BlobServiceClient.from_connection_string(
        stack.connection_string(DEST_ACCOUNT), connection_verify=verify
    ).create_container(name)
    env = {
        "BLOBCOPY_ACCOUNTS": "dst,src",
        "BLOBCOPY_ACCOUNT_DST_CONNECTION_STRING": stack.connection_string(DEST_ACCOUNT),
        "BLOBCOPY_ACCOUNT_SRC_URL": stack.blob_endpoint(SOURCE_ACCOUNT),
    }
    ops = BlobOps(settings_from_env(env), connection_verify=verify, retry_total=0)
    return source, sas, dest, ops


def test_a_keyless_source_with_the_callers_sas_is_read_through_that_sas(
    storage_stack_https: StorageStack,
) -> None:
    """Was a review note, now fixed: a source of a keyless account that carries the caller's
    SAS was type-checked and verified with our own identity, which may have no right there
    (the copy itself reads through the caller's SAS). Both now read through that SAS, as a
    file source's verify does (shared/blobaccess.py `source_reader`)."""
    source, sas, dest, ops = keyless_source_with_sas(storage_stack_https, "sas")
    dest.get_blob_client("a.bin").start_copy_from_url(f"{source.url}?{sas}", requires_sync=True)
    ops._token_credential = NoIdentity()  # stands in for DefaultAzureCredential
    request = {
        "source": {"url": f"{source.url}?{sas}"},
        "destination": {"url": f"{dest.url}/a.bin", "blob_type": "BlockBlob"},
    }
    ops.check_source_type(request)  # no AccessDenied: read through the caller's SAS
    checked = ops.verify(request["source"]["url"], f"{dest.url}/a.bin", 2000)
    assert checked == ["length", "md5"]
    with pytest.raises(CopyFailed) as caught:
        ops.check_source_type(
            {**request, "destination": {**request["destination"], "blob_type": "PageBlob"}}
        )
    assert caught.value.code == "InvalidBlobType"


# Was a break (found by a review of 4385123), now fixed: a keyless source whose URL carries the
# caller's SAS plus any parameter the SDK does not know as a SAS one is copied fine, but
# source_reader's client takes that query for an account key: verify and the blob type check
# fail with InvalidAuthenticationInfo, though our identity may read the source (it did before
# 4385123) and the copy read through that very URL
def test_a_copy_through_a_sas_url_with_an_extra_parameter_verifies(
    storage_stack_https: StorageStack,
) -> None:
    source, sas, dest, ops = keyless_source_with_sas(storage_stack_https, "rv")
    ops._token_credential = FakeAzureADCredential()  # an identity that may read the source
    url = f"{source.url}?{sas}&foo=bar"  # the service ignores a parameter it does not know
    target = f"{dest.url}/a.bin"
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    seen = ops.start_copy({"source": {"url": url}, "destination": {"url": target}}, deadline)
    while seen.status == "pending":
        time.sleep(0.05)
        seen = ops.check_copy(target, seen.copy_id)
    assert seen.status == "success"  # the copy read through the URL as given
    assert ops.verify(url, target, 2000) == ["length", "md5"]
    ops.check_source_type(
        {"source": {"url": url}, "destination": {"url": target, "blob_type": "BlockBlob"}}
    )
