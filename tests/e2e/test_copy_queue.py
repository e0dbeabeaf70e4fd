"""Copies requested through the `copy-requests` queue, results read from `copy-results`."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import uuid
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.storage.stack import StorageStack
from devhost.testing import wait_for
from shared.control import AbortRequests
from tests.e2e.e2e_helpers import FAST_POLL, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _queue(stack: StorageStack, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(stack.connection_string(), name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def _send(stack: StorageStack, message: dict[str, Any]) -> str:
    """Enqueue a message as producers must for the Functions host (base64 of the JSON); its id."""
    text = base64.b64encode(json.dumps(message).encode()).decode()
    return str(_queue(stack, "copy-requests").send_message(text).id)


def _result_for(results: QueueClient, copy_id: str) -> dict[str, Any] | None:
    """The result document of `copy_id` on the results queue (deleted once read), if there."""
    for message in results.receive_messages(max_messages=32, visibility_timeout=1):
        doc = json.loads(base64.b64decode(message.content))
        if doc.get("id") == copy_id:
            results.delete_message(message)
            return dict(doc)
    return None


def test_queue_message_copies_and_publishes_the_result(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """A base64 JSON request on copy-requests copies the blob and posts the final status
    document to copy-results."""
    data = os.urandom(512 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    copy_id = f"e2e-q-{dest.container_name}"
    results = _queue(e2e_stack, "copy-results")
    _send(
        e2e_stack,
        {
            "id": copy_id,
            "source": {"url": source},
            "destination": {"url": dest.url},
            "notify": {"queue": "copy-results"},
        },
    )
    copies.started.append(copy_id)
    result = wait_for(lambda: _result_for(results, copy_id), what="the result message")
    assert result["state"] == "succeeded", result
    assert result["progress"]["bytes_copied"] == len(data)
    assert "sig=" not in json.dumps(result)
    assert copies.wait_final(copy_id) == result
    assert dest.download_blob().readall() == data


def test_queue_abort_message_aborts_a_running_copy(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """An `{"action": "abort"}` message on copy-requests aborts the copy it names."""
    source = blobs.source(os.urandom(512 * KIB))
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    copies.wait_pending(copy_id)
    _send(e2e_stack, {"action": "abort", "id": copy_id, "reason": "queued abort"})
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "aborted", doc
    assert doc["error"] == {"code": "Aborted", "message": "queued abort"}
    assert dest.get_blob_properties().size == 0


def test_queue_message_without_id_copies_under_the_message_id(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """A queue request without an id runs as `q-<message id>`, so a redelivery finds it."""
    data = os.urandom(128 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    results = _queue(e2e_stack, "copy-results")
    sent = _send(
        e2e_stack,
        {
            "source": {"url": source},
            "destination": {"url": dest.url},
            "notify": {"queue": "copy-results"},
        },
    )
    copy_id = f"q-{sent}"
    copies.started.append(copy_id)
    result = wait_for(lambda: _result_for(results, copy_id), what="the result message")
    assert (result["state"], result["destination"]) == ("succeeded", dest.url), result
    assert dest.download_blob().readall() == data


def test_message_that_is_not_base64_goes_to_the_poison_queue(e2e_stack: StorageStack) -> None:
    """A copy-requests message that is not base64 never reaches the app: the host moves it
    to copy-requests-poison."""
    marker = f"not-base64-{uuid.uuid4().hex}!"
    poison = _queue(e2e_stack, "copy-requests-poison")
    _queue(e2e_stack, "copy-requests").send_message(marker)

    def poisoned() -> bool | None:
        for message in poison.peek_messages(max_messages=32):
            if message.content == marker:
                return True
        return None

    assert wait_for(poisoned, what="the message on the poison queue")


def test_queued_abort_that_overtakes_its_copy_message_stops_the_copy_before_it_starts(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """Queues do not keep order: an abort that arrives before its copy message is recorded,
    and the copy, once its message comes, ends aborted without writing the destination
    (issue 16, bug 9)."""
    source = blobs.source(os.urandom(64 * KIB))
    dest = blobs.destination()
    copy_id = f"e2e-early-{uuid.uuid4().hex[:8]}"
    records = AbortRequests(e2e_stack.connection_string(), None)
    _send(e2e_stack, {"action": "abort", "id": copy_id, "reason": "changed my mind"})
    wait_for(lambda: records.read(copy_id), what="the abort record")
    _send(e2e_stack, {"id": copy_id, "source": {"url": source}, "destination": {"url": dest.url}})
    copies.started.append(copy_id)
    doc = wait_for(
        lambda: reply.json() if (reply := copies.status(copy_id)).status == 200 else None,
        what="the copy to end",
    )
    assert doc["state"] == "aborted", doc
    assert doc["error"] == {"code": "Aborted", "message": "changed my mind"}
    assert doc["copy_id"] is None and not dest.exists()
    assert records.read(copy_id) is None  # forgotten once the copy it stopped is over
