"""A job API's handlers (shared/jobapi.py) served over HTTP: the body decoded, the caller's
origin and function key carried into status URLs, the answer encoded as JSON.

`never_empty` is the one place an unplanned error becomes an answer: a 500 in the API's error
shape, with no stack and no secret, and the redacted trace in the log. The routes themselves
are declared by each API (shared/api.py, shared/batchapi.py) and call `serve_*` here.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from shared.control import abort_requests
from shared.errors import RequestRejected
from shared.instances import DurableClient, EventSender, InstanceReader, ManagementApiPages
from shared.jobapi import ApiResponse, Resource, abort, get, list_jobs, rejected
from shared.redaction import redact_text
from shared.requests import decode_json
from shared.settings import get_settings

log = logging.getLogger(__name__)


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
    return await never_empty(get(client, instance_id, origin(req), code, kind=kind))


async def serve_abort(
    req: func.HttpRequest, client: EventSender, kind: Resource
) -> func.HttpResponse:
    """POST .../{id}/abort: record the abort and raise it."""
    instance_id, code = req.route_params["id"], req.params.get("code")
    body, records = req.get_body() or b"", abort_requests()
    return await never_empty(
        abort(client, instance_id, body, origin(req), code, records, kind=kind)
    )


async def serve_list(req: func.HttpRequest, client: Any, kind: Resource) -> func.HttpResponse:
    """GET ...[?state=&limit=&continuation=]: one page of jobs of `kind`."""
    params = req.params
    query = (params.get("state"), params.get("limit"), params.get("continuation"))
    return await never_empty(list_jobs(ManagementApiPages(client), *query, kind=kind))
