"""The `copy-requests` queue: copies, batches and aborts from event-driven producers.

A message is a copy request (as `POST /api/copies` takes), a batch request with
`"kind": "batch"` (as `POST /api/batches`), or `{"action": "abort", "id", "reason"}` for
either. Invalid messages are logged and dropped, never retried forever.

No `from __future__ import annotations` here: the Functions worker reads the trigger's
annotations at runtime.
"""

import asyncio
import json
import logging

import azure.durable_functions as df
import azure.functions as func

from shared.api import COPIES, start
from shared.batchapi import BATCHES, start_batch
from shared.control import AbortRecorder, abort_requests
from shared.errors import RequestRejected
from shared.instances import DurableClient, exists
from shared.jobapi import ApiResponse, abort, raise_abort
from shared.requests import AbortRequest, decode_json, parse_queue_message
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)
bp = df.Blueprint()


async def handle_queue_message(
    client: DurableClient,
    body: bytes | str,
    settings: Settings,
    message_id: str | None = None,
    records: AbortRecorder | None = None,
) -> str:
    """A `copy-requests` message: start a copy or a batch, or abort one. Bad input is
    described, never raised.

    Queue delivery is at least once: a message without `id` uses `q-<message id>`, which a
    redelivery of the same message repeats, so it finds the copy it already started. Nor is
    it ordered: an abort for a copy not started yet is recorded, and the start honours it.
    """
    default_id = f"q-{message_id}" if message_id else None
    try:
        if _is_batch(body):
            answer = await start_batch(client, decode_json(body), settings, "", None, default_id)
            return _started(answer)
        message = parse_queue_message(body, settings)
    except RequestRejected as exc:
        return f"dropped invalid message: {exc.message}: {json.dumps(exc.fields, sort_keys=True)}"
    if isinstance(message, AbortRequest):
        reason = json.dumps({"reason": message.reason}).encode()
        answer = await abort(client, message.id, reason, "", None, records, kind=COPIES)
        if answer.status == 404:  # not a copy: perhaps a batch (ids are shared)
            answer = await abort(client, message.id, reason, "", None, records, kind=BATCHES)
        if answer.status == 404:
            if records is None:
                return f"abort {message.id}: 404"
            # Raises on a storage error, so the host retries the message rather than lose it.
            await asyncio.to_thread(records.record, message.id, message.reason)
            # The copy message may have been handled meanwhile (messages are handled
            # concurrently): if its start_copy read no record, only the event reaches it now.
            found = await client.get_status(message.id)
            if exists(found):
                kind = BATCHES if found.name == BATCHES.orchestrator else COPIES
                if await raise_abort(client, message.id, message.reason, kind) is not None:
                    await asyncio.to_thread(records.forget, message.id)  # it is over already
                return f"abort {message.id}: recorded as its copy started, and raised"
            return f"abort {message.id}: recorded before its copy started; the start will honour it"
        return f"abort {message.id}: {answer.status}"
    # Only what the producer sent: a default re-sent would read as asked for (a restore
    # snapshots its base unless the request itself says snapshot_destination).
    raw = message.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    return _started(await start(client, raw, settings, "", default_id=default_id))


def _started(answer: ApiResponse) -> str:
    if answer.status >= 400:
        return f"dropped message: {answer.status} {json.dumps(answer.body, sort_keys=True)}"
    return f"started {answer.body['id']}"


def _is_batch(body: bytes | str) -> bool:
    """Whether a message asks for a batch (`"kind": "batch"`); bad JSON is the copy's to name."""
    try:
        raw = decode_json(body)
    except RequestRejected:
        return False
    return isinstance(raw, dict) and raw.get("kind") == "batch"


# --- the trigger (function_app.py registers `bp`) -----------------------------------------


@bp.queue_trigger(arg_name="msg", queue_name="copy-requests", connection="AzureWebJobsStorage")
@bp.durable_client_input(client_name="client")
async def copy_requests_queue(
    msg: func.QueueMessage, client: df.DurableOrchestrationClient
) -> None:
    """`copy-requests`: start or abort; invalid messages are logged and dropped, not retried."""
    outcome = await handle_queue_message(
        client, msg.get_body(), get_settings(), msg.id, abort_requests()
    )
    level = logging.WARNING if outcome.startswith("dropped") else logging.INFO
    log.log(level, "queue message %s: %s", msg.id, outcome)
