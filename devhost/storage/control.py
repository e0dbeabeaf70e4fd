"""The engine's control API under `/__copyengine/`, for tests in other processes.

Same operations as `FaultInjector` in-process, as JSON over HTTP:

    GET    /__copyengine/health              {"ok": true}
    GET    /__copyengine/copies              every copy record (sources redacted)
    POST   /__copyengine/faults              {"status", "code", "message", "target", "method",
                                              "path", "query", "header", "times", "delay_s",
                                              "probability"}
                                             -> {"id": n}; without "status" it only delays
    DELETE /__copyengine/faults              drop all rules, release held copies
    DELETE /__copyengine/faults/{id}         drop one rule
    POST   /__copyengine/hold                {"path": regex or null}: hold copies pending
    POST   /__copyengine/allow               {"chunks": n}: let n chunks through
    POST   /__copyengine/release             let held copies run
    GET    /__copyengine/transactions        {"by_operation": {op: n}, "by_account": {account:
                                              {op: n}}, "accepted_copies": {"acct/cont/blob":
                                              n}, "refused_copies": {...}}
    DELETE /__copyengine/transactions        zero the counts
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devhost.storage.copystate import CopyStore
from devhost.storage.faults import FaultInjector
from devhost.storage.transactions import TransactionCounter

PREFIX = "/__copyengine"


def _record_json(store: CopyStore) -> list[dict[str, Any]]:
    return [
        {
            "account": r.account,
            "container": r.container,
            "blob": r.blob,
            "copy_id": r.copy_id,
            "status": r.status,
            "progress": r.progress,
            "source": r.source,
            "status_description": r.status_description,
            "completion_time": r.completion_time.isoformat() if r.completion_time else None,
        }
        for r in store.all()
    ]


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = json.loads(await request.read() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def handle(
    request: web.Request, faults: FaultInjector, store: CopyStore, counter: TransactionCounter
) -> web.StreamResponse:
    """Route one control request to `faults`, the copy records in `store`, or the `counter`."""
    path = request.path.removeprefix(PREFIX).rstrip("/")
    try:
        body = await _json_body(request) if request.method == "POST" else {}
        if request.method == "GET" and path == "/health":
            return web.json_response({"ok": True})
        if request.method == "GET" and path == "/copies":
            return web.json_response(_record_json(store))
        if request.method == "GET" and path == "/transactions":
            return web.json_response(counter.snapshot().to_json())
        if request.method == "DELETE" and path == "/transactions":
            counter.reset()
            return web.Response(status=204)
        if request.method == "POST" and path == "/faults":
            filters = {
                k: body[k] for k in ("target", "method", "path", "query", "header") if k in body
            }
            if "status" in body:
                rule_id = faults.fail(
                    status=int(body["status"]),
                    code=str(body.get("code", "InternalError")),
                    message=str(body.get("message", "Injected fault.")),
                    times=body.get("times", 1),
                    delay_s=float(body.get("delay_s", 0.0)),
                    probability=float(body.get("probability", 1.0)),
                    **filters,
                )
            else:
                rule_id = faults.delay(
                    float(body.get("delay_s", 0.0)), times=body.get("times"), **filters
                )
            return web.json_response({"id": rule_id}, status=201)
        if request.method == "DELETE" and path == "/faults":
            faults.clear()
            return web.Response(status=204)
        if request.method == "DELETE" and path.startswith("/faults/"):
            faults.remove(int(path.rsplit("/", 1)[1]))
            return web.Response(status=204)
        if request.method == "POST" and path == "/hold":
            faults.hold_copies(body.get("path"))
            return web.Response(status=204)
        if request.method == "POST" and path == "/allow":
            faults.allow_chunks(int(body.get("chunks", 1)))
            return web.Response(status=204)
        if request.method == "POST" and path == "/release":
            faults.release_copies()
            return web.Response(status=204)
    except (ValueError, TypeError, KeyError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"error": f"no control route {request.method} {path}"}, status=404)
