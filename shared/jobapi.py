"""What the API answers for any kind of long-running job (copies, batches): start one once,
read its status, abort it, list them; the error body; where to poll and when.

The handlers take decoded input and a `DurableClient` (shared/instances.py Protocols) and give
an `ApiResponse`, so tests drive them with fakes and no Functions runtime; a `Resource` says
which kind of job (its orchestrator, its route, how its instance reads as a document). The
copy API (shared/api.py) and the batch API (shared/batchapi.py) are these handlers with their
own `Resource`; shared/httpserve.py serves them over HTTP. Status codes follow the async
pattern Logic Apps speaks: 202 + Location + Retry-After while a job runs, 200 once it is over.
The list reads `InstancePages` instead of `get_status_all`, which stops at the first page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from shared import status
from shared.control import AbortRecorder
from shared.errors import RequestRejected, StorageError
from shared.instances import (
    DurableClient,
    EventSender,
    InstancePages,
    InstanceReader,
    InstanceStatus,
    InvalidContinuation,
    collect,
    exists,
    input_of,
    list_cursor,
    list_limit,
)
from shared.requests import decode_json, is_copy_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiResponse:
    """What a trigger encodes: status code, JSON body, headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def rejected(exc: RequestRejected) -> ApiResponse:
    """The error body: `{"error": {"code", "message", "fields": [{"field", "message"}]}}`."""
    fields = [{"field": k, "message": v} for k, v in sorted(exc.fields.items())]
    code = {400: "InvalidRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}
    error = {"code": code.get(exc.status, "Error"), "message": exc.message, "fields": fields}
    return ApiResponse(exc.status, {"error": error})


def status_url(
    base_url: str, instance_id: str, code: str | None = None, path: str = "copies"
) -> str:
    """The status URL of a copy or batch (keeps the caller's function key so Logic Apps can
    poll)."""
    url = f"{base_url.rstrip('/')}/api/{path}/{quote(instance_id, safe='')}"
    return f"{url}?code={quote(code, safe='')}" if code else url


def retry_after(doc: dict[str, Any], now: dt.datetime | None = None) -> str:
    """Seconds until a poll is worth it: until the estimated finish, in [1, 60]; 2 if unknown.

    Counted from the absolute estimate, so a document published long ago (the orchestrator
    sleeps until its next read) gives the time truly left, not the ETA it had then.
    """
    finish = (doc.get("progress") or {}).get("estimated_finish")
    left = status.seconds_left(finish, now or dt.datetime.now(dt.UTC))
    if left is None:
        return "2"
    return str(math.ceil(min(max(left, 1.0), 60.0)))


@dataclass(frozen=True)
class Resource:
    """A kind of long-running job the API serves (copies, batches): where it lives, which
    orchestrator runs it, how its instance reads as a status document."""

    noun: str  # "copy": in messages and the 409 body
    path: str  # "copies": the route, and the list's key
    orchestrator: str
    describe: Callable[[InstanceStatus], dict[str, Any]]

    def owns(self, found: InstanceStatus) -> bool:
        """Whether an instance is one of ours (instance ids are shared by every kind)."""
        return getattr(found, "name", self.orchestrator) in (None, self.orchestrator)

    def unknown(self) -> ApiResponse:
        return rejected(RequestRejected(404, f"no such {self.noun}", {"id": "unknown"}))


async def start_instance(
    client: DurableClient, kind: Resource, instance_id: str, plan: Any, fingerprint: str
) -> None:
    """Start the instance, or find the one this same request started (same fingerprint): a
    request retried, or redelivered, starts nothing twice. 409 for an id used otherwise."""
    existing = await client.get_status(instance_id, show_input=True)
    if not exists(existing):
        try:
            await client.start_new(kind.orchestrator, instance_id, plan)
        except Exception:
            existing = await client.get_status(instance_id, show_input=True)  # lost a race?
            if not exists(existing):
                raise
    if exists(existing) and input_of(existing).get("fingerprint") != fingerprint:
        raise RequestRejected(409, "id already used for a different request", {"id": "in use"})


def accepted(
    base_url: str, instance_id: str, code: str | None, kind: Resource, retry: str
) -> ApiResponse:
    """202 for a job started (or an abort asked): where to read its status, and when."""
    location = status_url(base_url, instance_id, code, kind.path)
    body = {"id": instance_id, "status_url": location}
    return ApiResponse(202, body, {"Location": location, "Retry-After": retry})


async def get(
    client: InstanceReader,
    instance_id: str,
    base_url: str,
    code: str | None = None,
    *,
    kind: Resource,
) -> ApiResponse:
    """GET /api/copies/{id}: 202 + Retry-After while running, 200 when over, 404 unknown."""
    if not is_copy_id(instance_id):
        return kind.unknown()
    found = await client.get_status(instance_id, show_input=True)
    if not exists(found) or not kind.owns(found):
        return kind.unknown()
    doc = status.as_of(kind.describe(found), dt.datetime.now(dt.UTC))
    if doc["state"] in status.FINAL_STATES:
        return ApiResponse(200, doc)
    location = status_url(base_url, instance_id, code, kind.path)
    return ApiResponse(202, doc, {"Location": location, "Retry-After": retry_after(doc)})


async def record_abort(records: AbortRecorder | None, instance_id: str, reason: str | None) -> bool:
    """Write the abort where every execution of the copy reads it (shared/control.py).

    False if it could not be written: the event still goes out, and only an abort that
    coincides with continue_as_new could then be lost, so the caller is not failed for it.
    """
    if records is None:
        return False
    try:
        await asyncio.to_thread(records.record, instance_id, reason)
    except StorageError as exc:
        log.warning("abort of %s not recorded (%s); raising the event only", instance_id, exc)
        return False
    return True


def _already_over(doc: dict[str, Any], kind: Resource) -> ApiResponse:
    """409 for an abort of a job that has ended: the body carries its final document."""
    error = {"code": "Conflict", "message": f"{kind.noun} already over", "fields": []}
    return ApiResponse(409, {"error": error, kind.noun: doc})


async def raise_abort(
    client: EventSender, instance_id: str, reason: str | None, kind: Resource
) -> ApiResponse | None:
    """Raise `abort`; None when it was delivered, else the answer for an instance that ended.

    The SDK's raise_event raises a bare Exception on the extension's 410 (the instance ended
    after our status read) and 404 (it was purged): the status, read again, says which.
    """
    try:
        await client.raise_event(instance_id, "abort", {"reason": reason})
    except Exception:
        ended = _not_abortable(await client.get_status(instance_id), kind)
        if ended is None:
            raise  # it still runs: a real failure, not the race with its end
        return ended
    return None


def _not_abortable(found: InstanceStatus | None, kind: Resource) -> ApiResponse | None:
    """404 for an unknown job, 409 (with its document) for one that is over, else None."""
    if not exists(found) or not kind.owns(found):
        return kind.unknown()
    doc = kind.describe(found)
    return _already_over(doc, kind) if doc["state"] in status.FINAL_STATES else None


async def abort(
    client: EventSender,
    instance_id: str,
    body: bytes,
    base_url: str,
    code: str | None = None,
    records: AbortRecorder | None = None,
    *,
    kind: Resource,
) -> ApiResponse:
    """POST /api/copies/{id}/abort: record and raise `abort`; 409 if already over, 404 unknown."""
    try:
        raw = decode_json(body) if body.strip() else {}
        reason = raw.get("reason") if isinstance(raw, dict) else None
        if reason is not None and not isinstance(reason, str):
            raise RequestRejected(400, "invalid abort request", {"reason": "must be a string"})
    except RequestRejected as exc:
        return rejected(exc)
    if not is_copy_id(instance_id):  # the SDK puts ids into URLs unquoted: `a#b` is `a`
        return kind.unknown()
    ended = _not_abortable(await client.get_status(instance_id), kind)
    if ended is not None:
        return ended
    recorded = await record_abort(records, instance_id, reason)
    refused = await raise_abort(client, instance_id, reason, kind)
    if refused is not None:
        if recorded and records is not None:  # it ended first: the record must not outlive it
            await asyncio.to_thread(records.forget, instance_id)
        return refused
    return accepted(base_url, instance_id, code, kind, "1")


async def list_jobs(
    pages: InstancePages,
    state: str | None = None,
    limit: str | None = None,
    continuation: str | None = None,
    *,
    kind: Resource,
) -> ApiResponse:
    """GET /api/copies[?state=&limit=&continuation=]: one page of status documents.

    `{"copies": [...], "continuation": token | null}`: pass the token back for the next page; a
    page may hold fewer than `limit` copies even when more follow, only null means the end.
    """
    fields: dict[str, str] = {}
    size = list_limit(limit, fields)
    cursor = list_cursor(continuation, fields)
    if state is not None and state not in status.STATES:
        fields["state"] = f"one of {', '.join(status.STATES)}"
    if fields or cursor is None:
        return rejected(RequestRejected(400, "invalid list query", fields))
    try:
        docs, following = await collect(pages, _in_state(state, kind), size, cursor)
    except InvalidContinuation as exc:  # the management API refused the token inside ours
        return rejected(RequestRejected(400, "invalid list query", {"continuation": str(exc)}))
    token = following.encode() if following else None
    return ApiResponse(200, {kind.path: docs, "continuation": token})


def _in_state(
    state: str | None, kind: Resource
) -> Callable[[InstanceStatus], dict[str, Any] | None]:
    """The document of an instance of `kind` in `state` (any state when None), else None."""

    def select(found: InstanceStatus) -> dict[str, Any] | None:
        if not kind.owns(found):
            return None
        doc = status.as_of(kind.describe(found), dt.datetime.now(dt.UTC))
        return doc if state in (None, doc["state"]) else None

    return select
