"""What `make run` prepares before the app starts, so the README's commands work as written.

In Azure the infrastructure makes the app's queues (infra/) and the caller owns the containers.
Locally nothing exists on a fresh stack, so `make run` (`devhost up . --prepare
demo.localrun:prepare`) makes them once, and says so:

- the queues the app reads and writes: `copy-requests`, its `-poison` queue, `copy-results`,
  and the replication queue `blob-events` with its `-rejected` and `-poison` queues;
- the README's example source `devstoreaccount2/src/big.bin` (64 MiB) and the containers its
  examples copy into (`devstoreaccount1/dst`);
- the containers of the local replication rule (`devstoreaccount2/replica-src` ->
  `devstoreaccount1/replica-dst`, local.settings.json.example), so events put on `blob-events`
  replicate at once.

Everything is kept when it exists already (the stack's data persists under `.devhost/`), so a
restart changes nothing.
"""

from __future__ import annotations

import logging
import os

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.storage.stack import ACCOUNTS, StorageStack

log = logging.getLogger("devhost")

DEST, SOURCE = ACCOUNTS
QUEUES = (
    "copy-requests",
    "copy-requests-poison",
    "copy-results",
    "blob-events",
    "blob-events-rejected",
    "blob-events-poison",
)
EXAMPLE = (SOURCE, "src", "big.bin")
EXAMPLE_BYTES = 64 * 1024 * 1024
CONTAINERS = ((SOURCE, "src"), (DEST, "dst"), (SOURCE, "replica-src"), (DEST, "replica-dst"))


def prepare(stack: StorageStack) -> None:
    """Make the queues, containers and example blob the README uses, unless they exist."""
    made = [*_queues(stack), *_containers(stack), *_example(stack)]
    if made:
        log.info("Prepared for the README's examples: %s", ", ".join(made))
    else:
        log.info("The README's queues, containers and example blob are ready (kept from before)")


def _queues(stack: StorageStack) -> list[str]:
    made = []
    with QueueServiceClient.from_connection_string(stack.connection_string()) as service:
        for name in QUEUES:
            try:
                service.create_queue(name)
            except ResourceExistsError:
                continue
            made.append(f"queue {name}")
    return made


def _service(stack: StorageStack, account: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.connection_string(account))


def _containers(stack: StorageStack) -> list[str]:
    made = []
    for account, name in CONTAINERS:
        with _service(stack, account) as service:
            try:
                service.create_container(name)
            except ResourceExistsError:
                continue
            made.append(f"container {account}/{name}")
    return made


def _example(stack: StorageStack) -> list[str]:
    account, container, name = EXAMPLE
    with _service(stack, account) as service:
        blob = service.get_blob_client(container, name)
        if blob.exists():
            return []
        blob.upload_blob(os.urandom(EXAMPLE_BYTES), max_concurrency=4)
    return [f"blob {account}/{container}/{name} (64 MiB)"]
