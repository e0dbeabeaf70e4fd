"""The demo's replication step: new blobs land in a source container and are copied as the
events about them arrive, as Event Grid would deliver them to the app's `blob-events` queue.

There is no Event Grid locally: the demo plays its part with devhost/eventgrid.py, writing
each blob and then putting the `BlobCreated` event Event Grid would write on the queue (its
exact shape, base64). The app's queue trigger does the rest (shared/replication.py); the demo
follows the copies it starts by their ids, which come from the rule and the write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from demo.settings import DESTINATION_ACCOUNT, REPLICATION_RULE, SOURCE_ACCOUNT
from devhost.eventgrid import blob_event, event_time, queue_message
from devhost.storage.stack import StorageStack
from shared.replication import copy_id
from shared.replication_events import BlobEvent
from shared.replication_rules import ReplicationRule

QUEUE = "blob-events"
SOURCE_CONTAINER = REPLICATION_RULE["source"]["container"]
DESTINATION_CONTAINER = REPLICATION_RULE["destination"]["container"]


@dataclass(frozen=True)
class Written:
    """A blob the demo wrote to the source, and the event it published about it."""

    name: str
    data: bytes
    event: dict[str, Any]

    @property
    def copy_id(self) -> str:
        """The id of the copy the app starts for this write (shared/replication.py)."""
        data = self.event["data"]
        event = BlobEvent(
            "created", self.event["id"], SOURCE_ACCOUNT, SOURCE_CONTAINER, self.name,
            data["sequencer"], data["eTag"],
        )  # fmt: skip
        return copy_id(ReplicationRule.model_validate(REPLICATION_RULE), event)


def prepare(stack: StorageStack) -> tuple[str, str]:
    """Create the rule's containers and the queue; the source and destination container URLs."""
    urls = []
    sides = ((SOURCE_ACCOUNT, SOURCE_CONTAINER), (DESTINATION_ACCOUNT, DESTINATION_CONTAINER))
    for account, name in sides:
        with BlobServiceClient.from_connection_string(stack.connection_string(account)) as svc:
            container = svc.get_container_client(name)
            container.create_container()
            urls.append(str(container.url))
    with QueueClient.from_connection_string(stack.connection_string(), QUEUE) as queue:
        queue.create_queue()
    return urls[0], urls[1]


def write_and_publish(stack: StorageStack, blobs: dict[str, bytes]) -> list[Written]:
    """Write each blob to the source, then publish the event Event Grid would write for it."""
    written = []
    source = BlobServiceClient.from_connection_string(stack.connection_string(SOURCE_ACCOUNT))
    with source, QueueClient.from_connection_string(stack.connection_string(), QUEUE) as queue:
        for sequencer, (name, data) in enumerate(blobs.items(), start=1):
            blob = source.get_blob_client(SOURCE_CONTAINER, name)
            etag = blob.upload_blob(data, overwrite=True)["etag"]
            event = blob_event(
                "Microsoft.Storage.BlobCreated",
                account=SOURCE_ACCOUNT,
                container=SOURCE_CONTAINER,
                name=name,
                url=blob.url,
                etag=etag,
                length=len(data),
                sequencer=sequencer,
                time=event_time(dt.datetime.now(dt.UTC)),
            )
            queue.send_message(queue_message(event))
            written.append(Written(name, data, event))
    return written
