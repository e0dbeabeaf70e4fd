"""The HTTP API and the `copy-requests` queue: the triggers, and what they answer.

Each trigger at the end of this module decodes its binding and calls one handler here; the
handlers take decoded input and a `DurableClient` and give an `ApiResponse`, so tests drive
them with fakes and no Functions runtime. The list reads `InstancePages` (shared/instances.py)
instead of `get_status_all`, which stops at the first page. Status codes follow the async
pattern Logic Apps speaks: 202 + Location + Retry-After while a copy runs, 200 once it is over.

No `from __future__ import annotations` here: the Functions worker reads the triggers'
annotations at runtime.
"""

import asyncio
import datetime as dt
import json
import logging
import math
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import azure.durable_functions as df
import azure.functions as func

from shared import status
from shared.accounts import BlobLocation
from shared.control import AbortRecorder, abort_requests
from shared.copystate import CopyPlan
from shared.errors import RequestRejected, StorageError, UnsafeBlobPath
from shared.files import check_file_source
from shared.instances import (
    DurableClient,
    EventSender,
    InstancePages,
    InstanceReader,
    InstanceStatus,
    InvalidContinuation,
    ManagementApiPages,
    collect,
    exists,
    input_of,
    list_cursor,
    list_limit,
)
from shared.orchestration import ORCHESTRATOR
from shared.redaction import redact_text
from shared.requests import (
    CopyRequest,
    decode_json,
    is_copy_id,
)
from shared.requests import parse_copy_request as parse_request
from shared.restore import request_for_plan, restore_fingerprint, restore_of
from shared.settings import Settings, get_settings
from shared.timestamps import iso

log = logging.getLogger(__name__)
bp = df.Blueprint()


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


def _locate(settings: Settings, url: str, field_name: str) -> BlobLocation | None:
    """registry.locate, with a path that could resolve elsewhere refused as a 400 on the field."""
    try:
        return settings.registry.locate(url)
    except UnsafeBlobPath as exc:
        raise RequestRejected(400, "invalid copy request", {field_name: str(exc)}) from None


def build_plan(request: CopyRequest, settings: Settings, instance_id: str) -> CopyPlan:
    """Resolve accounts and defaults into the orchestration input; 403 outside the allowlist."""
    registry = settings.registry
    dest = _locate(settings, request.destination.url, "destination.url")
    if not registry.allowed_destinations:
        raise RequestRejected(
            403,
            "no destination is allowed: set BLOBCOPY_ALLOWED_DESTINATIONS",
            {"destination.url": "outside the allowlist"},
        )
    if dest is not None and not dest.blob:
        raise RequestRejected(
            400, "invalid copy request", {"destination.url": "must name a blob, not a container"}
        )
    if dest is None or not registry.destination_allowed(dest):
        raise RequestRejected(
            403, "destination not allowed", {"destination.url": "outside the allowlist"}
        )
    src = _locate(settings, request.source.url, "source.url")
    blob_type = request.destination.blob_type
    file_src = None if src else check_file_source(registry, request.source.url, blob_type)
    if file_src is None and not registry.source_allowed(src):
        raise RequestRejected(
            403, "source not allowed", {"source.url": "outside BLOBCOPY_ALLOWED_SOURCES"}
        )
    if src is not None and not src.blob:
        raise RequestRejected(
            400, "invalid copy request", {"source.url": "must name a blob, not a container"}
        )
    leasable = src is not None and not (src.snapshot or src.version_id)
    restore = restore_of(src, dest)
    if restore is not None and request.overwrite != "always":
        # The point in time is never newer than its base, and the base always exists.
        raise RequestRejected(
            400,
            "invalid copy request",
            {"overwrite": "a restore replaces its base: must be always"},
        )
    if restore is None and src is not None and src.key == dest.key:  # however it is spelled
        raise RequestRejected(
            400, "invalid copy request", {"destination.url": "must differ from source.url"}
        )
    return CopyPlan(
        id=instance_id,
        request=request_for_plan(
            request.model_dump(mode="json"), request.model_fields_set, restore
        ),
        fingerprint=restore_fingerprint(request, restore),
        created=iso(dt.datetime.now(dt.UTC)),
        lease=request.lease_source if leasable else "none",
        lease_seconds=settings.lease_seconds,
        timeout_seconds=request.timeout_seconds or settings.default_timeout_seconds,
        restore=restore,
        **settings.plan_tuning(),
    )


def document_of(found: InstanceStatus) -> dict[str, Any]:
    """The public status document of a Durable instance status object."""
    runtime = getattr(found.runtime_status, "value", found.runtime_status)
    return status.from_instance(
        instance_id=str(found.instance_id),
        runtime_status=str(runtime),
        request=input_of(found).get("request"),
        custom_status=found.custom_status,
        output=found.output,
        created=found.created_time,
        updated=found.last_updated_time,
    )


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


COPIES = Resource("copy", "copies", ORCHESTRATOR, document_of)


async def start(
    client: DurableClient,
    raw: Any,
    settings: Settings,
    base_url: str,
    code: str | None = None,
    default_id: str | None = None,
) -> ApiResponse:
    """POST /api/copies: validate, then start (or find the same) copy; 202 + Location.

    The instance id is the request's `id`, else `default_id` (a queue message's own id, so a
    redelivered message finds its copy), else a new one.
    """
    try:
        request = parse_request(raw, settings)
        plan = build_plan(request, settings, request.id or default_id or uuid.uuid4().hex)
        await start_instance(client, COPIES, plan.id, plan.to_input(), plan.fingerprint)
    except RequestRejected as exc:
        return rejected(exc)
    return accepted(base_url, plan.id, code, COPIES, "2")


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
    kind: Resource = COPIES,
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
    client: EventSender, instance_id: str, reason: str | None, kind: Resource = COPIES
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
    kind: Resource = COPIES,
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


async def list_copies(
    pages: InstancePages,
    state: str | None = None,
    limit: str | None = None,
    continuation: str | None = None,
    *,
    kind: Resource = COPIES,
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


# --- the triggers (function_app.py registers `bp`) -----------------------------------------


def origin(req: func.HttpRequest) -> str:
    """The scheme and host the caller used: status URLs point back the same way."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def encode(answer: ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(answer.body),
        status_code=answer.status,
        headers=answer.headers,
        mimetype="application/json",
    )


Starter = Callable[..., Awaitable[ApiResponse]]
#: What a request answers when something nobody planned for went wrong: never an empty 500.
INTERNAL_ERROR = {
    "code": "InternalError",
    "message": "the service could not answer this request; the cause is in its log",
    "fields": [],
}


async def never_empty(work: Awaitable[ApiResponse]) -> func.HttpResponse:
    """The handler's answer; for an unplanned error, a 500 in the API's error shape (no stack,
    no secret), with the redacted trace in the log."""
    try:
        return encode(await work)
    except Exception:
        log.error("request failed: %s", redact_text(traceback.format_exc()))
        return encode(ApiResponse(500, {"error": INTERNAL_ERROR}))


async def serve_start(
    req: func.HttpRequest, client: DurableClient, starter: Starter
) -> func.HttpResponse:
    """A POST that starts a job: the JSON body to `starter` (`start`, or `start_batch`)."""
    try:
        body = decode_json(req.get_body() or b"")
    except RequestRejected as exc:
        return encode(rejected(exc))
    settings, code = get_settings(), req.params.get("code")
    return await never_empty(starter(client, body, settings, origin(req), code))


async def serve_get(
    req: func.HttpRequest, client: InstanceReader, kind: Resource
) -> func.HttpResponse:
    """GET .../{id}: the job's status document."""
    instance_id, code = req.route_params["id"], req.params.get("code")
    return await never_empty(get(client, instance_id, origin(req), code, kind))


async def serve_abort(
    req: func.HttpRequest, client: EventSender, kind: Resource
) -> func.HttpResponse:
    """POST .../{id}/abort: record the abort and raise it."""
    instance_id, code = req.route_params["id"], req.params.get("code")
    body, records = req.get_body() or b"", abort_requests()
    return await never_empty(abort(client, instance_id, body, origin(req), code, records, kind))


async def serve_list(req: func.HttpRequest, client: Any, kind: Resource) -> func.HttpResponse:
    """GET ...[?state=&limit=&continuation=]: one page of jobs of `kind`."""
    params = req.params
    query = (params.get("state"), params.get("limit"), params.get("continuation"))
    return await never_empty(list_copies(ManagementApiPages(client), *query, kind=kind))


@bp.route(route="copies", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_copy_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/copies: start a copy."""
    return await serve_start(req, client, start)


@bp.route(route="copies/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_copy_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/copies/{id}: the copy's status document."""
    return await serve_get(req, client, COPIES)


@bp.route(route="copies/{id}/abort", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def abort_copy_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/copies/{id}/abort: ask a running copy to stop."""
    return await serve_abort(req, client, COPIES)


@bp.route(route="copies", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def list_copies_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/copies[?state=&limit=&continuation=]: one page of copies."""
    return await serve_list(req, client, COPIES)
