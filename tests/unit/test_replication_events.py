"""Event Grid's blob events as it writes them to a storage queue, in both delivery schemas, and
what the `blob-events` handler does with each (shared/replication_events.py, replication.py).

The samples are Microsoft's own, verbatim, fields the service does not use included
(MicrosoftDocs/azure-docs articles/event-grid/event-schema-blob-storage.md).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from shared.replication import copy_id, handle_blob_events, set_aside
from shared.replication_events import BlobEvent, MalformedEvent, OtherEvent, parse_message
from tests.unit.test_api import FakeClient, settings

TOPIC = (
    "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/"
    "storageAccounts/my-storage-account"
)
#: "Microsoft.Storage.BlobCreated event", Event Grid event schema tab.
EVENT_GRID_CREATED: dict[str, Any] = {
    "topic": TOPIC,
    "subject": "/blobServices/default/containers/test-container/blobs/new-file.txt",
    "eventType": "Microsoft.Storage.BlobCreated",
    "eventTime": "2017-06-26T18:41:00.9584103Z",
    "id": "831e1650-001e-001b-66ab-eeb76e069631",
    "data": {
        "api": "PutBlockList",
        "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
        "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
        "eTag": '"0x8D4BCC2E4835CD0"',
        "contentType": "text/plain",
        "contentLength": 524288,
        "blobType": "BlockBlob",
        "url": "https://my-storage-account.blob.core.windows.net/testcontainer/new-file.txt",
        "sequencer": "00000000000004420000000000028963",
        "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
    },
    "dataVersion": "",
    "metadataVersion": "1",
}
#: "Microsoft.Storage.BlobDeleted event", CloudEvents schema tab.
CLOUD_DELETED: dict[str, Any] = {
    "source": TOPIC,
    "subject": "/blobServices/default/containers/testcontainer/blobs/file-to-delete.txt",
    "type": "Microsoft.Storage.BlobDeleted",
    "time": "2017-11-07T20:09:22.5674003Z",
    "id": "4c2359fe-001e-00ba-0e04-58586806d298",
    "data": {
        "api": "DeleteBlob",
        "requestId": "4c2359fe-001e-00ba-0e04-585868000000",
        "contentType": "text/plain",
        "blobType": "BlockBlob",
        "url": "https://my-storage-account.blob.core.windows.net/testcontainer/file-to-delete.txt",
        "sequencer": "0000000000000281000000000002F5CA",
        "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
    },
    "specversion": "1.0",
}


def cloud_created() -> dict[str, Any]:
    """The BlobCreated sample in the CloudEvents schema (same data, CloudEvents envelope)."""
    event = copy.deepcopy(EVENT_GRID_CREATED)
    for old, new in (("topic", "source"), ("eventType", "type"), ("eventTime", "time")):
        event[new] = event.pop(old)
    del event["dataVersion"], event["metadataVersion"]
    return event | {"specversion": "1.0"}


def local(event: dict[str, Any], container: str, name: str) -> dict[str, Any]:
    """The sample as the local source account would raise it for `container/name`."""
    event = copy.deepcopy(event)
    key = "topic" if "topic" in event else "source"
    event[key] = event[key].replace("my-storage-account", "devstoreaccount2")
    event["subject"] = f"/blobServices/default/containers/{container}/blobs/{name}"
    return event


def test_the_documented_blob_created_reads_alike_in_both_schemas() -> None:
    """The docs' BlobCreated, Event Grid schema or CloudEvents, is the same BlobEvent."""
    expected = BlobEvent(
        kind="created",
        event_id="831e1650-001e-001b-66ab-eeb76e069631",
        account="my-storage-account",
        container="test-container",
        name="new-file.txt",
        sequencer="00000000000004420000000000028963",
        etag='"0x8D4BCC2E4835CD0"',
    )
    assert parse_message(json.dumps(EVENT_GRID_CREATED)) == [expected]
    assert parse_message(json.dumps(cloud_created()).encode()) == [expected]


def test_an_array_holds_several_events_and_a_delete_reads_as_one() -> None:
    """A message may be the docs' array; BlobDeleted is read with its own kind."""
    events = parse_message(json.dumps([EVENT_GRID_CREATED, CLOUD_DELETED]))
    assert [e.kind for e in events if isinstance(e, BlobEvent)] == ["created", "deleted"]
    deleted = events[1]
    assert isinstance(deleted, BlobEvent) and deleted.name == "file-to-delete.txt"


def test_a_body_still_in_base64_is_decoded() -> None:
    """Event Grid base64-encodes what it writes; a host that did not decode it still works."""
    text = base64.b64encode(json.dumps(EVENT_GRID_CREATED).encode()).decode()
    (event,) = parse_message(text)
    assert isinstance(event, BlobEvent) and event.name == "new-file.txt"


def test_blob_names_keep_their_slashes_and_a_subject_may_lack_its_leading_slash() -> None:
    """A name with '/' is one blob; CloudEvents samples also show the subject without '/'."""
    event = cloud_created() | {"subject": "blobServices/default/containers/c1/blobs/a/b/c.txt"}
    (parsed,) = parse_message(json.dumps(event))
    assert isinstance(parsed, BlobEvent) and (parsed.container, parsed.name) == ("c1", "a/b/c.txt")


def test_other_event_types_are_not_malformed() -> None:
    """BlobTierChanged and the like are read, then left alone."""
    event = EVENT_GRID_CREATED | {"eventType": "Microsoft.Storage.BlobTierChanged"}
    assert parse_message(json.dumps(event)) == [
        OtherEvent("Microsoft.Storage.BlobTierChanged", EVENT_GRID_CREATED["id"])
    ]


def test_malformed_messages_and_events_carry_their_reason() -> None:
    """Each unreadable input is a MalformedEvent saying what is wrong."""
    cases = {
        "not json": "not JSON",
        "[]": "empty array",
        "[1]": "must be a JSON object",
        json.dumps({k: v for k, v in EVENT_GRID_CREATED.items() if k != "id"}): "id",
        json.dumps(EVENT_GRID_CREATED | {"topic": "/subscriptions/x"}): "topic is not",
        json.dumps(EVENT_GRID_CREATED | {"subject": "/x/y"}): "subject is not",
        json.dumps(EVENT_GRID_CREATED | {"data": "text"}): "data must be an object",
        json.dumps(cloud_created() | {"specversion": "0.1"}): "specversion",
    }
    for body, reason in cases.items():
        (event,) = parse_message(body)
        assert isinstance(event, MalformedEvent) and reason in event.reason, body


RULES = json.dumps(
    [
        {
            "name": "replica",
            "source": {"account": "devstoreaccount2", "container": "replica-src"},
            "destination": {"account": "devstoreaccount1", "container": "replica-dst"},
        },
        {
            "name": "logs",
            "source": {"account": "devstoreaccount2", "container": "logs", "prefix": "in/"},
            "destination": {
                "account": "devstoreaccount1",
                "container": "logs-copy",
                "prefix": "out/",
            },
        },
    ]
)


async def test_a_created_event_starts_one_copy_and_its_redelivery_none() -> None:
    """The event's copy goes to the rule's destination; the same event again, in either
    schema or inside an array, finds the copy it started."""
    client, config = FakeClient(), settings(BLOBCOPY_REPLICATION_RULES=RULES)
    event = local(EVENT_GRID_CREATED, "logs", "in/2026/a.csv")
    first = await handle_blob_events(client, json.dumps(event), config)
    assert len(first.started) == 1 and first.started[0].startswith("repl-logs-")
    plan = client.started[0][2]
    assert plan["request"]["source"]["url"].endswith("/devstoreaccount2/logs/in/2026/a.csv")
    assert plan["request"]["destination"]["url"].endswith(
        "/devstoreaccount1/logs-copy/out/2026/a.csv"
    )
    assert plan["request"]["overwrite"] == "if_newer"
    again = local(cloud_created(), "logs", "in/2026/a.csv")
    second = await handle_blob_events(client, json.dumps([again, event]), config)
    assert second.started == first.started * 2
    assert len(client.started) == 1


async def test_a_newer_write_of_the_same_blob_is_a_new_copy() -> None:
    """Another sequencer is another version of the blob: its own copy."""
    client, config = FakeClient(), settings(BLOBCOPY_REPLICATION_RULES=RULES)
    old = local(EVENT_GRID_CREATED, "replica-src", "a.bin")
    new = copy.deepcopy(old)
    new["id"], new["data"]["sequencer"] = "other-event", "00000000000004420000000000028999"
    outcome = await handle_blob_events(client, json.dumps([old, new]), config)
    assert len(set(outcome.started)) == 2 == len(client.started)


async def test_unmatched_ignored_and_malformed_events_are_counted_apart() -> None:
    """No rule: dropped and counted; a delete or another type: ignored; unreadable: set
    aside with its reason, and nothing raised, so the message is not retried."""
    client, config = FakeClient(), settings(BLOBCOPY_REPLICATION_RULES=RULES)
    message = [
        local(EVENT_GRID_CREATED, "elsewhere", "a.bin"),
        EVENT_GRID_CREATED,  # my-storage-account: no rule's account
        local(CLOUD_DELETED, "replica-src", "a.bin"),
        EVENT_GRID_CREATED | {"eventType": "Microsoft.Storage.BlobTierChanged"},
        {"subject": "nothing else"},
    ]
    outcome = await handle_blob_events(client, json.dumps(message), config)
    assert (outcome.unmatched, outcome.ignored, outcome.started) == (2, 2, [])
    assert len(outcome.rejected) == 1 and "missing" in outcome.rejected[0]["reason"]
    kept = json.loads(set_aside(json.dumps(message), outcome))
    assert kept["reasons"] == outcome.rejected and "nothing else" in kept["message"]
    assert client.started == []


async def test_a_copy_the_api_refuses_is_set_aside_with_the_answer() -> None:
    """A blob name no copy may take (a '..' segment) is set aside with the API's 400."""
    client, config = FakeClient(), settings(BLOBCOPY_REPLICATION_RULES=RULES)
    event = local(EVENT_GRID_CREATED, "replica-src", "a/../b.bin")
    outcome = await handle_blob_events(client, json.dumps(event), config)
    assert outcome.started == [] and "copy refused: 400" in outcome.rejected[0]["reason"]


def test_the_copy_id_is_a_valid_instance_id_for_any_blob_name() -> None:
    """Whatever the blob's name, the id is short and made of what instance ids take."""
    (rule,) = settings(BLOBCOPY_REPLICATION_RULES=RULES).replication_rules[:1]
    (event,) = parse_message(json.dumps(local(EVENT_GRID_CREATED, "replica-src", "ü/?#" * 200)))
    assert isinstance(event, BlobEvent)
    instance_id = copy_id(rule, event)
    assert len(instance_id) <= 100 and instance_id.replace("-", "").isalnum()
