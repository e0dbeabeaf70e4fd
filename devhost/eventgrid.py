"""The blob events Event Grid writes to a storage queue, built the way Event Grid builds them.

Locally there is no Event Grid: this is its stand-in for whoever plays it, the e2e test
publisher (tests/e2e/replication_helpers.py), the replication benchmark
(bench/bench_replication.py) and `make demo`, so all put the same shapes on the queue: the Event
Grid schema of MicrosoftDocs `event-schema-blob-storage.md` (tests/unit/test_replication_events.py
holds the documented samples), one event's JSON per message, base64 encoded. Nothing here
talks to storage: the caller writes the blob and passes what the write answered.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

#: The system topic's resource id up to the account name (a local subscription of zeros).
TOPIC_PREFIX = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.Storage/storageAccounts/"
)
#: The event time the tests give every event (they never read it).
FIXED_TIME = "2026-12-01T10:00:00.0000000Z"


def topic(account: str) -> str:
    """The Event Grid topic of a storage account (the app reads the account from its end)."""
    return TOPIC_PREFIX + account


def event_time(moment: dt.datetime) -> str:
    """`moment` as Event Grid writes `eventTime`: UTC, seven fraction digits, a `Z`."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def blob_event(
    event_type: str,
    *,
    account: str,
    container: str,
    name: str,
    url: str,
    etag: str | None,
    length: int | None,
    sequencer: int,
    time: str = FIXED_TIME,
) -> dict[str, Any]:
    """One blob event of Event Grid's schema (`data` leaves out the fields that are None, as a
    delete's event has no `eTag` or `contentLength`)."""
    data = {
        "api": "PutBlob",
        "clientRequestId": str(uuid.uuid4()),
        "requestId": str(uuid.uuid4()),
        "eTag": etag,
        "contentType": "application/octet-stream",
        "contentLength": length,
        "blobType": "BlockBlob",
        "url": url,
        "sequencer": f"{sequencer:032X}",
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }
    return {
        "topic": topic(account),
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": event_type,
        "eventTime": time,
        "id": str(uuid.uuid4()),
        "data": {k: v for k, v in data.items() if v is not None},
        "dataVersion": "",
        "metadataVersion": "1",
    }


def queue_message(payload: Any) -> str:
    """The queue message Event Grid writes for `payload` (an event, or a list): base64 JSON."""
    return base64.b64encode(json.dumps(payload).encode()).decode()
