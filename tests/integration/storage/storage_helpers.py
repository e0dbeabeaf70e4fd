"""Helpers for the storage stack's integration tests: clients, SAS URLs, polling."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any, cast

from azure.storage.blob import (
    BlobClient,
    BlobProperties,
    BlobSasPermissions,
    BlobServiceClient,
    generate_blob_sas,
)

from devhost.storage.stack import ACCOUNTS, DEV_ACCOUNT_KEY, StorageStack

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS


def service(stack: StorageStack, account: str = DEST_ACCOUNT, **kwargs: Any) -> BlobServiceClient:
    """A Shared Key client without retries (injected faults must surface at once)."""
    return BlobServiceClient.from_connection_string(
        stack.connection_string(account), retry_total=0, **kwargs
    )


def sas_url(blob: BlobClient, *, snapshot: str | None = None, **permissions: bool) -> str:
    """The blob's URL with an account-key SAS (read unless told otherwise)."""
    perms = BlobSasPermissions(**(permissions or {"read": True}))
    token = generate_blob_sas(
        cast(str, blob.account_name),
        blob.container_name,
        blob.blob_name,
        snapshot=snapshot,
        account_key=DEV_ACCOUNT_KEY,
        permission=perms,
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    base = blob.url.split("?")[0]
    if snapshot:
        return f"{base}?snapshot={snapshot}&{token}"
    return f"{base}?{token}"


def wait_until(
    blob: BlobClient, done: Callable[[BlobProperties], bool], poll_s: float = 0.02
) -> BlobProperties:
    """Poll the blob's properties until `done` holds (pytest-timeout bounds the wait)."""
    while True:
        props = blob.get_blob_properties()
        if done(props):
            return props
        time.sleep(poll_s)


def wait_finished(blob: BlobClient) -> BlobProperties:
    """Poll until the blob's copy is no longer pending."""
    return wait_until(blob, lambda p: p.copy.status != "pending")


def copied_bytes(props: BlobProperties) -> int:
    return int(cast(str, props.copy.progress).split("/")[0])
