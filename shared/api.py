"""The copy API: `POST /api/copies`, `GET /api/copies/{id}`, its abort, the list.

A copy is the job API's handlers (shared/jobapi.py) with the `COPIES` resource, served over
HTTP by shared/httpserve.py; only the start is a copy's own: the request parsed and made into
a plan (shared/copyplan.py `build_plan`), then started once per id. The `copy-requests` queue
(shared/queueapi.py) calls the same `start`.

No `from __future__ import annotations` here: the Functions worker reads the triggers'
annotations at runtime.
"""

import uuid
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared import status
from shared.copyplan import build_plan
from shared.errors import RequestRejected
from shared.httpserve import serve_abort, serve_get, serve_list, serve_start
from shared.instances import DurableClient, InstanceStatus, input_of
from shared.jobapi import ApiResponse, Resource, accepted, rejected, start_instance
from shared.orchestration import ORCHESTRATOR
from shared.requests import parse_copy_request as parse_request
from shared.settings import Settings

bp = df.Blueprint()


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
