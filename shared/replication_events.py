"""Blob events as Event Grid writes them to a storage queue, read into `BlobEvent` records.

One queue message holds one event (what Event Grid writes) or a JSON array of them (what its
documentation shows, and what a relay may write). Both delivery schemas are read:

- Event Grid schema: `topic`, `subject`, `eventType`, `eventTime`, `id`, `data`,
  `dataVersion`, `metadataVersion`;
- CloudEvents 1.0: `source`, `subject`, `type`, `time`, `id`, `data`, `specversion`.

The account is the last segment of the topic (`.../providers/Microsoft.Storage/storageAccounts/
<account>`), the container and blob name come from the subject
(`/blobServices/default/containers/<container>/blobs/<name>`). `data.url` is not used to find
the blob: it names the `dfs` endpoint on accounts with a hierarchical namespace, and the copy
reads the account through its configured endpoint anyway.

The Functions host has already decoded the message's base64 (host.json `messageEncoding`);
a body that still is base64 (a host set to `none`) is decoded here. Fields the service does
not use are accepted and ignored. Sources: docs/replication.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
MAX_EVENTS_PER_MESSAGE = 5000
_TOPIC = re.compile(r"/providers/Microsoft\.Storage/storageAccounts/([^/]+)/?$", re.IGNORECASE)
#: `\Z`, not `$`: `$` also matches before a trailing newline, reading another blob's name.
_SUBJECT = re.compile(r"^/?blobServices/default/containers/([^/]+)/blobs/(.+)\Z")


@dataclass(frozen=True)
class BlobEvent:
    """A blob written or deleted, as one Event Grid event says."""

    kind: Literal["created", "deleted"]
    event_id: str
    account: str
    container: str
    name: str
    #: Orders the events of one blob name (compare as strings); "" when the event has none.
    sequencer: str
    etag: str


@dataclass(frozen=True)
class OtherEvent:
    """A well-formed event of a type replication does not act on (BlobTierChanged ...)."""

    event_type: str
    event_id: str


@dataclass(frozen=True)
class MalformedEvent:
    """What could not be read as an event, and why."""

    reason: str
    raw: Any


ParsedEvent = BlobEvent | OtherEvent | MalformedEvent


def _json_of(body: bytes | str) -> Any:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):  # still base64: the host did not decode it
        try:
            stripped = base64.b64decode("".join(stripped.split()), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ValueError("neither JSON nor base64 of JSON") from None
    return json.loads(stripped)


def parse_message(body: bytes | str) -> list[ParsedEvent]:
    """Every event of one queue message; the whole message malformed is one MalformedEvent."""
    try:
        raw = _json_of(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return [MalformedEvent(f"message is not JSON: {exc}", None)]
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        return [MalformedEvent("message is an empty array", raw)]
    if len(items) > MAX_EVENTS_PER_MESSAGE:
        return [MalformedEvent(f"over {MAX_EVENTS_PER_MESSAGE} events in one message", None)]
    return [parse_event(item) for item in items]


def _text(event: dict[str, Any], *names: str) -> str | None:
    """The first of `names` the event carries as a non-empty string."""
    for name in names:
        value = event.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def parse_event(event: Any) -> ParsedEvent:
    """One event of either schema."""
    if not isinstance(event, dict):
        return MalformedEvent("an event must be a JSON object", event)
    cloud = "specversion" in event
    if cloud and event.get("specversion") != "1.0":
        return MalformedEvent(f"specversion {event.get('specversion')!r} is not 1.0", event)
    names = ("type", "source", "time") if cloud else ("eventType", "topic", "eventTime")
    event_type, topic, time = (_text(event, n) for n in names)
    event_id = _text(event, "id")
    missing = [
        n for n, v in zip(("id", *names), (event_id, event_type, topic, time), strict=True) if not v
    ]
    if missing or event_id is None or event_type is None or topic is None:
        return MalformedEvent(f"missing or not a string: {', '.join(missing)}", event)
    if event_type not in (BLOB_CREATED, BLOB_DELETED):
        return OtherEvent(event_type, event_id)
    account = _TOPIC.search(topic)
    if account is None:
        field = "source" if cloud else "topic"
        return MalformedEvent(f"{field} is not a storage account's resource id", event)
    subject = _SUBJECT.match(_text(event, "subject") or "")
    if subject is None:
        return MalformedEvent(
            "subject is not /blobServices/default/containers/<c>/blobs/<b>", event
        )
    try:  # JSON may spell a lone surrogate, which no URL (nor blob name) can hold
        subject.group(0).encode("utf-8")
    except UnicodeEncodeError:
        return MalformedEvent("subject is not valid Unicode", event)
    data = event.get("data")
    if not isinstance(data, dict):
        return MalformedEvent("data must be an object", event)
    return BlobEvent(
        kind="created" if event_type == BLOB_CREATED else "deleted",
        event_id=event_id,
        account=account.group(1),
        container=subject.group(1),
        name=subject.group(2),
        sequencer=_text(data, "sequencer") or "",
        etag=_text(data, "eTag") or "",
    )
