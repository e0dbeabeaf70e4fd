"""The demo's side of storage: seed the sources, prepare the destination, check what arrived.

This is the only place the demo touches blob content, and it does so as a user would, with the
storage SDK and the account key. The app itself never reads a byte (docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devhost.storage.stack import StorageStack

UPLOAD_CONCURRENCY = 4


@dataclass(frozen=True)
class Arrival:
    """What a destination blob holds after a copy: its length and the MD5 of its bytes."""

    length: int
    md5: str


def random_bytes(size: int) -> bytes:
    """Incompressible content, so nothing along the way can shortcut the copy."""
    return os.urandom(size)


def md5_of(data: bytes) -> str:
    """Hex MD5 of `data`: what we compare sources and destinations by."""
    return hashlib.md5(data).hexdigest()


def _service(stack: StorageStack, account: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.connection_string(account))


def seed_blob(stack: StorageStack, account: str, container: str, name: str, data: bytes) -> str:
    """Upload `data` as a block blob (creating the container if needed); return the blob's URL."""
    with _service(stack, account) as service:
        container_client = service.get_container_client(container)
        if not container_client.exists():
            container_client.create_container()
        blob = container_client.get_blob_client(name)
        blob.upload_blob(data, overwrite=True, max_concurrency=UPLOAD_CONCURRENCY)
        return str(blob.url)


def create_container(stack: StorageStack, account: str, container: str) -> str:
    """Create a container; return its URL (the service copies into containers that exist)."""
    with _service(stack, account) as service:
        container_client = service.get_container_client(container)
        container_client.create_container()
        return str(container_client.url)


def arrival(stack: StorageStack, account: str, container: str, name: str) -> Arrival | None:
    """Download a destination blob and describe it; None when there is no such blob."""
    with _service(stack, account) as service:
        blob = service.get_blob_client(container, name)
        try:
            data = blob.download_blob(max_concurrency=UPLOAD_CONCURRENCY).readall()
        except ResourceNotFoundError:
            return None
        return Arrival(length=len(data), md5=md5_of(data))
