"""Replication on the whole local stack: a test publisher writes blobs to a source container
and puts the events Event Grid would write on the replication queue, each one twice.

The messages have Event Grid's exact shapes (tests/unit/test_replication_events.py holds the
documented samples): base64 of one event's JSON, as Event Grid writes to a storage queue, half
in the Event Grid schema and half in CloudEvents 1.0, a few wrapped in an array.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient

from devhost.storage.stack import ACCOUNTS, StorageStack
from devhost.testing import REPO_ROOT, AppHost, wait_for
from shared.replication import copy_id
from shared.replication_events import BlobEvent
from shared.settings import settings_from_env
from tests.e2e.conftest import app_settings
from tests.e2e.e2e_helpers import CopyApi

pytestmark = pytest.mark.e2e

DEST, SOURCE = ACCOUNTS
TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    f"Microsoft.Storage/storageAccounts/{SOURCE}"
)


class Replica:
    """One test's containers, rules and replication queue, and a host listening on it."""

    def __init__(self, stack: StorageStack) -> None:
        tag = uuid.uuid4().hex[:10]
        self.stack = stack
        self.queue_name = f"blob-events-{tag}"
        self.source = self._container(SOURCE, f"repl-src-{tag}")
        self.plain = self._container(DEST, f"repl-dst-{tag}")
        self.renamed = self._container(DEST, f"repl-ren-{tag}")
        self.rules = [
            {
                "name": "plain",
                "source": {"account": SOURCE, "container": self.source.container_name},
                "destination": {"account": DEST, "container": self.plain.container_name},
            },
            {
                "name": "renamed",
                "source": {
                    "account": SOURCE,
                    "container": self.source.container_name,
                    "prefix": "logs/",
                },
                "destination": {
                    "account": DEST,
                    "container": self.renamed.container_name,
                    "prefix": "logs-copy/",
                },
            },
        ]
        self.env = app_settings(stack) | {
            "BLOBCOPY_REPLICATION_QUEUE": self.queue_name,
            "BLOBCOPY_REPLICATION_RULES": json.dumps(self.rules),
        }
        self.queue = QueueClient.from_connection_string(stack.connection_string(), self.queue_name)
        with contextlib.suppress(ResourceExistsError):
            self.queue.create_queue()
        self._sequence = 0x2000

    def _container(self, account: str, name: str) -> ContainerClient:
        service = BlobServiceClient.from_connection_string(self.stack.connection_string(account))
        container = service.get_container_client(name)
        container.create_container()
        return container

    def write(self, name: str, data: bytes) -> dict[str, Any]:
        """Upload a source blob; the BlobCreated event (Event Grid schema) it raises."""
        blob = self.source.get_blob_client(name)
        etag = blob.upload_blob(data, overwrite=True)["etag"]
        self._sequence += 1
        return {
            "topic": TOPIC,
            "subject": f"/blobServices/default/containers/{self.source.container_name}"
            f"/blobs/{name}",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": "2026-12-01T10:00:00.0000000Z",
            "id": str(uuid.uuid4()),
            "data": {
                "api": "PutBlob",
                "clientRequestId": str(uuid.uuid4()),
                "requestId": str(uuid.uuid4()),
                "eTag": etag,
                "contentType": "application/octet-stream",
                "contentLength": len(data),
                "blobType": "BlockBlob",
                "url": blob.url,
                "sequencer": f"{self._sequence:032X}",
                "storageDiagnostics": {"batchId": str(uuid.uuid4())},
            },
            "dataVersion": "",
            "metadataVersion": "1",
        }

    def publish(self, payload: Any) -> None:
        """Put one message on the queue as Event Grid does: base64 of the JSON."""
        self.queue.send_message(base64.b64encode(json.dumps(payload).encode()).decode())

    def remove(self) -> None:
        for container in (self.source, self.plain, self.renamed):
            with contextlib.suppress(Exception):
                container.delete_container()
        for queue in (self.queue_name, f"{self.queue_name}-rejected"):
            with contextlib.suppress(Exception):
                QueueClient.from_connection_string(
                    self.stack.connection_string(), queue
                ).delete_queue()


def as_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema Event Grid can deliver instead."""
    cloud = {k: v for k, v in event.items() if k not in ("dataVersion", "metadataVersion")}
    for old, new in (("topic", "source"), ("eventType", "type"), ("eventTime", "time")):
        cloud[new] = cloud.pop(old)
    return cloud | {"specversion": "1.0"}


@pytest.fixture
def replica(e2e_stack: StorageStack) -> Iterator[tuple[Replica, AppHost]]:
    made = Replica(e2e_stack)
    try:
        with AppHost(REPO_ROOT, env=made.env) as host:
            yield made, host
    finally:
        made.remove()


def test_every_blob_replicates_once_though_each_event_comes_twice(
    replica: tuple[Replica, AppHost], e2e_stack: StorageStack
) -> None:
    """Blobs written to the source reach both rules' destinations byte-identical (one rule
    renames the prefix); every event delivered twice, in both schemas, gives one copy per
    blob, and an unreadable message is set aside with its reason."""
    made, host = replica
    copies = CopyApi(host.base_url)
    settings = settings_from_env(made.env)
    names = [f"logs/day-{i}.csv" for i in range(8)] + [f"top-{i}.bin" for i in range(6)]
    contents = {name: os.urandom(random.randint(1, 48) * 1024) for name in names}
    e2e_stack.reset_transactions()
    events = [made.write(name, data) for name, data in contents.items()]
    deliveries: list[Any] = []
    for index, event in enumerate(events):
        cloud = as_cloud_event(event)
        first, second = (event, cloud) if index % 2 else (cloud, event)
        deliveries += [first, [second]] if index % 3 == 0 else [first, second]
    random.shuffle(deliveries)
    for payload in deliveries:
        made.publish(payload)
    made.publish({"subject": "not an event"})

    expected: dict[str, tuple[ContainerClient, str, bytes]] = {}
    for event, (name, data) in zip(events, contents.items(), strict=True):
        parsed = BlobEvent(
            "created", event["id"], SOURCE, made.source.container_name, name,
            event["data"]["sequencer"], event["data"]["eTag"],
        )  # fmt: skip
        expected[copy_id(settings.replication_rules[0], parsed)] = (made.plain, name, data)
        if name.startswith("logs/"):
            renamed = "logs-copy/" + name.removeprefix("logs/")
            expected[copy_id(settings.replication_rules[1], parsed)] = (made.renamed, renamed, data)
    for instance_id in expected:
        wait_for(lambda: copies.status(instance_id).status != 404 or None, what=instance_id)  # noqa: B023
        assert copies.wait_final(instance_id, 45)["state"] == "succeeded", instance_id
    for container, name, data in expected.values():
        assert container.get_blob_client(name).download_blob().readall() == data, name

    accepted = e2e_stack.transactions().accepted_copies
    assert accepted == {
        f"{DEST}/{container.container_name}/{name}": 1 for container, name, _ in expected.values()
    }
    listed = [doc["id"] for doc in copies.list_all() if doc["id"].startswith("repl-")]
    assert sorted(listed) == sorted(expected)

    rejected = QueueClient.from_connection_string(
        e2e_stack.connection_string(), f"{made.queue_name}-rejected"
    )
    kept = wait_for(
        lambda: next(iter(rejected.receive_messages(max_messages=1)), None),
        what="the set-aside message",
    )
    doc = json.loads(base64.b64decode(kept.content))
    assert "missing" in doc["reasons"][0]["reason"] and "not an event" in doc["message"]
