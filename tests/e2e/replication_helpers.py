"""A test publisher for replication: source and destination containers, rules, the
replication queue, and the events Event Grid would write there for each blob written.

The messages have Event Grid's exact shapes (tests/unit/test_replication_events.py holds the
documented samples): base64 of one event's JSON, as Event Grid writes to a storage queue.
Sequencers grow with each write, as Azure's do for one blob name.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient

from devhost.eventgrid import blob_event, queue_message
from devhost.storage.stack import ACCOUNTS, StorageStack
from tests.e2e.conftest import app_settings

DEST, SOURCE = ACCOUNTS


class Replica:
    """One test's containers, rules and replication queue, and a host listening on it."""

    def __init__(self, stack: StorageStack, deletes: bool = False) -> None:
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
                "deletes": deletes,
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
        return self.event("Microsoft.Storage.BlobCreated", name, etag, len(data))

    def delete(self, name: str) -> dict[str, Any]:
        """Delete a source blob; the BlobDeleted event it raises."""
        self.source.get_blob_client(name).delete_blob()
        event = self.event("Microsoft.Storage.BlobDeleted", name, None, None)
        event["data"]["api"] = "DeleteBlob"
        return event

    def event(
        self, event_type: str, name: str, etag: str | None, length: int | None
    ) -> dict[str, Any]:
        """An event of Event Grid's schema for the next write of `name`."""
        self._sequence += 1
        return blob_event(
            event_type,
            account=SOURCE,
            container=self.source.container_name,
            name=name,
            url=self.source.get_blob_client(name).url,
            etag=etag,
            length=length,
            sequencer=self._sequence,
        )

    def publish(self, payload: Any) -> None:
        """Put one message on the queue as Event Grid does: base64 of the JSON."""
        self.queue.send_message(queue_message(payload))

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
