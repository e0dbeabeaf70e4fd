"""The batch API: `POST /api/batches`, `GET /api/batches[/{id}]`, `POST /api/batches/{id}/abort`,
`GET /api/batches/{id}/report` (its lines: shared/reportapi.py).

It answers as the copy API does (the job API's handlers, shared/jobapi.py, with the
`BATCHES` resource): 202 + Location + Retry-After while a batch runs, 200 once it is over,
400 naming each wrong field, 403 for a container outside the allowlists, checked for both
containers before any storage call.

No `from __future__ import annotations` here: the Functions worker reads the triggers'
annotations at runtime.
"""

import datetime as dt
import uuid
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared import httpserve, jobapi
from shared.accounts import BlobLocation
from shared.batch_orchestration import BATCH_ORCHESTRATOR
from shared.batchreport import report_name
from shared.batchrequests import BatchRequest, parse_batch_request
from shared.batchstate import BatchPlan
from shared.batchstatus import batch_document
from shared.contracts import BatchTally
from shared.errors import RequestRejected
from shared.instances import DurableClient, InstanceStatus, input_of
from shared.reportapi import get_report
from shared.settings import Settings
from shared.status import State
from shared.timestamps import iso, normalize

bp = df.Blueprint()


def batch_document_of(found: InstanceStatus) -> dict[str, Any]:
    """A batch instance's status document: its output once over, its custom status while it
    runs. One that has not published yet, crashed or was terminated gets a batch document
    built from its input (and its last published counts), saying what happened."""
    runtime = _runtime(found)
    held = found.output if runtime == "Completed" else found.custom_status
    if runtime not in ENDED_BADLY and _is_batch_document(held):
        return dict(held)
    last = found.custom_status if _is_batch_document(found.custom_status) else {}
    state, error = _what_happened(found, runtime)
    counts = last.get("counts") or {}
    ended = state != State.RUNNING
    return batch_document(
        instance_id=str(found.instance_id),
        state=state,
        request=input_of(found).get("request") or {},
        tally=BatchTally(**{k: v for k, v in counts.items() if k in TALLY_FIELDS}),
        running=0 if ended else int(counts.get("running") or 0),
        listing_complete=bool(last.get("listing_complete")),
        bytes_copied=int((last.get("progress") or {}).get("bytes_copied") or 0),
        total_bytes=int((last.get("progress") or {}).get("total_bytes") or 0),
        estimated_finish=None,
        report_url=(last.get("report") or {}).get("url"),
        errors=last.get("errors") or {},
        created=normalize(found.created_time),
        updated=normalize(found.last_updated_time),
        completed=normalize(found.last_updated_time) if ended else None,
        error=error,
        warnings=last.get("warnings") or [],
    )


ENDED_BADLY = ("Failed", "Terminated", "Canceled")
TALLY_FIELDS = ("listed", "succeeded", "failed", "aborted", "skipped")


def _what_happened(found: InstanceStatus, runtime: str) -> tuple[State, dict[str, str] | None]:
    """Running (not published yet), or failed: the orchestrator crashed or was terminated."""
    said = str(found.output or "terminated")[:300]
    if runtime == "Failed":
        return State.FAILED, {"code": "OrchestratorFailed", "message": said}
    if runtime in ENDED_BADLY:
        message = f"orchestration terminated ({said}); the copies it started were left as they were"
        return State.FAILED, {"code": "Terminated", "message": message}
    return State.RUNNING, None


def _is_batch_document(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "batch" and "state" in value


def _runtime(found: InstanceStatus) -> str:
    return str(getattr(found.runtime_status, "value", found.runtime_status))


BATCHES = jobapi.Resource("batch", "batches", BATCH_ORCHESTRATOR, batch_document_of)


def _container(settings: Settings, url: str, field: str) -> BlobLocation:
    """The configured container a batch URL names; 400/403 naming the field otherwise."""
    try:
        location = settings.registry.locate(url)
    except ValueError as exc:  # UnsafeBlobPath
        raise RequestRejected(400, "invalid batch request", {field: str(exc)}) from None
    if location is None and _is_account_root(settings, url):
        raise RequestRejected(400, "invalid batch request", {field: "must name a container"})
    if location is None:
        raise RequestRejected(403, "container not allowed", {field: "not a configured account"})
    if location.blob or not location.container:
        raise RequestRejected(400, "invalid batch request", {field: "must name a container"})
    return location


def _is_account_root(settings: Settings, url: str) -> bool:
    """An Azurite-style account URL (`http://host/account`), which names no container."""
    endpoints = {a.blob_endpoint.rstrip("/") for a in settings.registry.accounts}
    return url.rstrip("/") in endpoints


def build_batch_plan(request: BatchRequest, settings: Settings, batch_id: str) -> BatchPlan:
    """Resolve both containers and the settings into the batch's input."""
    registry = settings.registry
    dest = _container(settings, request.destination.url, "destination.url")
    source = _container(settings, request.source.url, "source.url")
    if not registry.allowed_destinations or not registry.destination_allowed(dest):
        raise RequestRejected(
            403, "destination not allowed", {"destination.url": "outside the allowlist"}
        )
    if not registry.source_allowed(source):
        raise RequestRejected(
            403, "source not allowed", {"source.url": "outside BLOBCOPY_ALLOWED_SOURCES"}
        )
    timeout = _checked_timeout(request, settings, source)
    report = BlobLocation(dest.account, settings.report_container, report_name(batch_id))
    return BatchPlan(
        id=batch_id,
        request=request.model_dump(mode="json"),
        fingerprint=request.fingerprint(),
        created=iso(dt.datetime.now(dt.UTC)),
        report_url=report.base_url,
        timeout_seconds=timeout,
        page_size=settings.batch_page_size,
        lease_seconds=settings.lease_seconds,
        **settings.plan_tuning(),
    )


def _checked_timeout(request: BatchRequest, settings: Settings, source: BlobLocation) -> int:
    """The batch's timeout (the default if unset), within what the source's credential can
    sign for. A blob's timeout longer than this is accepted: it is a cross-field rule no
    schema can state, and the batch's timeout simply comes first."""
    limit = settings.max_timeout_for(source)
    if request.timeout_seconds and request.timeout_seconds > limit.seconds:
        reason = f"must be <= {limit.seconds} ({limit.reason})"
        raise RequestRejected(400, "invalid batch request", {"timeout_seconds": reason})
    return request.timeout_seconds or settings.default_timeout_seconds


async def start_batch(
    client: DurableClient,
    raw: Any,
    settings: Settings,
    base_url: str,
    code: str | None = None,
    default_id: str | None = None,
) -> jobapi.ApiResponse:
    """POST /api/batches: validate, then start (or find the same) batch; 202 + Location."""
    try:
        request = parse_batch_request(raw)
        batch_id = request.id or default_id or uuid.uuid4().hex
        plan = build_batch_plan(request, settings, batch_id)
        await jobapi.start_instance(client, BATCHES, plan.id, plan.to_input(), plan.fingerprint)
    except RequestRejected as exc:
        return jobapi.rejected(exc)
    return jobapi.accepted(base_url, plan.id, code, BATCHES, "2")


# --- the triggers (function_app.py registers `bp`) -----------------------------------------


@bp.route(route="batches", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_batch_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/batches: start a batch."""
    return await httpserve.serve_start(req, client, start_batch)


@bp.route(route="batches/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_batch_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/batches/{id}: the batch's status document."""
    return await httpserve.serve_get(req, client, BATCHES)


@bp.route(route="batches/{id}/abort", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def abort_batch_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/batches/{id}/abort: start no more copies, abort the pending ones."""
    return await httpserve.serve_abort(req, client, BATCHES)


@bp.route(route="batches/{id}/report", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_batch_report_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/batches/{id}/report[?state=&limit=&continuation=]: a page of report lines."""
    params = dict(req.params)
    return await httpserve.never_empty(get_report(client, req.route_params["id"], params, BATCHES))


@bp.route(route="batches", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def list_batches_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/batches[?state=&limit=&continuation=]: one page of batches."""
    return await httpserve.serve_list(req, client, BATCHES)
