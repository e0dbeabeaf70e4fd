"""The Functions app: HTTP API, queue trigger, copy orchestrator and its activities.

Thin on purpose: each trigger decodes its binding, calls `shared/`, and encodes the answer.
Runs unmodified under the Azure Functions host (Python v2 model) and under devhost. No
`from __future__ import annotations` here: the worker reads binding annotations at runtime.
"""

import json
import logging
import os
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from shared import activities, api
from shared.errors import RequestRejected
from shared.instances import ManagementApiPages
from shared.orchestration import copy_orchestration
from shared.requests import decode_json
from shared.settings import get_settings, http_auth_level

app = df.DFApp(http_auth_level=func.AuthLevel[http_auth_level(os.environ).upper()])
app.register_functions(activities.bp)  # the copy's activities, declared in shared/activities.py
log = logging.getLogger("blobcopy")


def _origin(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def _encode(answer: api.ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(answer.body),
        status_code=answer.status,
        headers=answer.headers,
        mimetype="application/json",
    )


def _json_body(req: func.HttpRequest) -> Any:
    return decode_json(req.get_body() or b"")


@app.route(route="copies", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_copy_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/copies: start a copy."""
    try:
        body = _json_body(req)
    except RequestRejected as exc:
        return _encode(api.rejected(exc))
    answer = await api.start(client, body, get_settings(), _origin(req), req.params.get("code"))
    return _encode(answer)


@app.route(route="copies/{id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_copy_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/copies/{id}: the copy's status document."""
    instance_id = req.route_params["id"]
    return _encode(await api.get(client, instance_id, _origin(req), req.params.get("code")))


@app.route(route="copies/{id}/abort", methods=["POST"])
@app.durable_client_input(client_name="client")
async def abort_copy_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/copies/{id}/abort: ask a running copy to stop."""
    instance_id = req.route_params["id"]
    body = req.get_body() or b""
    code, records = req.params.get("code"), activities.abort_requests()
    return _encode(await api.abort(client, instance_id, body, _origin(req), code, records))


@app.route(route="copies", methods=["GET"])
@app.durable_client_input(client_name="client")
async def list_copies_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/copies[?state=&limit=&continuation=]: one page of copies."""
    params = req.params
    pages = ManagementApiPages(client)
    answer = await api.list_copies(
        pages, params.get("state"), params.get("limit"), params.get("continuation")
    )
    return _encode(answer)


@app.queue_trigger(arg_name="msg", queue_name="copy-requests", connection="AzureWebJobsStorage")
@app.durable_client_input(client_name="client")
async def copy_requests_queue(
    msg: func.QueueMessage, client: df.DurableOrchestrationClient
) -> None:
    """`copy-requests`: start or abort; invalid messages are logged and dropped, not retried."""
    outcome = await api.handle_queue_message(
        client, msg.get_body(), get_settings(), msg.id, activities.abort_requests()
    )
    level = logging.WARNING if outcome.startswith("dropped") else logging.INFO
    log.log(level, "queue message %s: %s", msg.id, outcome)


@app.orchestration_trigger(context_name="context")
def copy_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """One copy, from lease to result (shared/orchestration.py)."""
    return (yield from copy_orchestration(context, activities.ACTIVITIES))
