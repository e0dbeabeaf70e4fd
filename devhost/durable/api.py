"""The Durable HTTP API on the host's aiohttp app: the public webhook and the SDK's RPC calls.

Both live under /runtime/webhooks/durabletask/ (the client binding's rpcBaseUrl points there), and
answer with the status codes the extension's HttpApiHandler uses, since the client SDK branches on
them (protocol §8, §9).
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from aiohttp import web

from devhost.durable import status as st
from devhost.durable.engine import DurableEngine
from devhost.durable.protocol import RPC_PATH, DurableError, hub_query, management_urls
from devhost.durable.state import MessageKind, RuntimeStatus
from devhost.durable.store import StatusRow

RUNNING = {RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.SUSPENDED}
# HttpApiHandler: "Ask for 5 seconds before retry" on a running instance's status (202), and the
# async-HTTP 202 of CreateCheckStatusResponseMessage (start, restart, a wait that timed out): 10.
STATUS_RETRY_AFTER = "5"
CHECK_STATUS_RETRY_AFTER = "10"
BAD_ARGUMENTS = "One or more of the arguments submitted is incorrect"
RESTART_UNKNOWN = "InstanceId does not match a valid orchestration instance."
CONTROLS = {
    "terminate": MessageKind.TERMINATE,
    "suspend": MessageKind.SUSPEND,
    "resume": MessageKind.RESUME,
}


def error(status: int, message: str) -> web.Response:
    """An error body both humans and the SDK (which reads ExceptionMessage on 400) understand.

    409 keeps Azure's exact body ({"Message": ...}): start_new raises with it as its message.
    """
    body = {"Message": message}
    if status != 409:
        body["ExceptionMessage"] = message
    return web.json_response(body, status=status)


class DurableApi:
    """Route handlers bound to one engine: `DurableApi(engine).add_routes(app)` serves them."""

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    def add_routes(self, app: web.Application) -> None:
        """Register every route under the webhook path."""
        base = RPC_PATH
        app.router.add_post(base + "orchestrators/{name}", self.start)
        app.router.add_post(base + "orchestrators/{name}/{instance_id}", self.start)
        for path in (base + "instances", base + "instances/"):
            app.router.add_get(path, self.list_instances)
            app.router.add_delete(path, self.purge_by)
        app.router.add_get(base + "instances/{instance_id}", self.get_status)
        app.router.add_delete(base + "instances/{instance_id}", self.purge_one)
        app.router.add_post(base + "instances/{instance_id}/raiseEvent/{event}", self.raise_event)
        app.router.add_post(base + "instances/{instance_id}/{operation}", self.operation)
        app.router.add_route("*", base + "entities/{tail:.*}", self.entities)

    async def start(self, request: web.Request) -> web.Response:
        """POST orchestrators/{name}[/{id}]: 202 + management URLs, 400/409 when refused."""
        text = await request.text()
        try:
            value = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            return error(400, "Invalid JSON content")
        name = request.match_info["name"]
        try:
            instance_id = self.engine.start_new(
                name,
                request.match_info.get("instance_id"),
                st.decode_input(value),
                request.query.get("version", ""),
            )
        except DurableError as exc:
            return error(exc.status, str(exc))
        return await self._created(request, instance_id)

    async def _created(
        self, request: web.Request, instance_id: str, bad_arguments: str = BAD_ARGUMENTS
    ) -> web.Response:
        """The answer to a start or restart: the check-status 202, or the end when waited for.

        As HttpApiHandler: it waits only when both `timeout` and `pollingInterval` are numbers of
        seconds (Azure Storage has no poll-free wait), reading the status every interval, as
        WaitForCompletionOrCreateCheckStatusResponseAsync does; an interval longer than the
        timeout is an ArgumentException, answered 400 after the instance has started.
        """
        timeout = _seconds(request.query.get("timeout"))
        interval = _seconds(request.query.get("pollingInterval"))
        if timeout is None or interval is None:
            return self._check_status_response(request, instance_id)
        if interval > timeout or not math.isfinite(timeout):
            return error(400, bad_arguments)
        row = await self._poll_until_final(instance_id, timeout, interval)
        if row is not None and row.status is RuntimeStatus.COMPLETED:
            return web.json_response(row.output)
        if row is not None and row.status.is_terminal:
            return self._status_response(request, row, fail_with_500=False)
        return self._check_status_response(request, instance_id)

    async def _poll_until_final(
        self, instance_id: str, timeout: float, interval: float
    ) -> StatusRow | None:
        """Read the status every `interval` until it is final or `timeout` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            row = self.engine.status(instance_id)
            remaining = deadline - loop.time()
            if (row is not None and row.status.is_terminal) or remaining <= 0:
                return row
            await asyncio.sleep(min(remaining, interval))

    def _check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        query = hub_query(self.engine.task_hub)
        instance_url = f"{origin}{RPC_PATH}instances/{instance_id}"
        urls = management_urls(instance_url, instance_id, query)
        body = {k: v for k, v in urls.items() if k != "rewindPostUri"}
        headers = {"Location": urls["statusQueryGetUri"], "Retry-After": CHECK_STATUS_RETRY_AFTER}
        return web.json_response(body, status=202, headers=headers)

    async def get_status(self, request: web.Request) -> web.Response:
        """GET instances/{id}: 404, 202 + Location while running, 200 (or 500 on request) after."""
        row = self.engine.status(request.match_info["instance_id"])
        if row is None:
            return web.Response(status=404)
        fail_with_500 = st.flag(request.query, "returnInternalServerErrorOnFailure", False)
        return self._status_response(request, row, fail_with_500=fail_with_500)

    def _status_response(
        self, request: web.Request, row: StatusRow, *, fail_with_500: bool
    ) -> web.Response:
        """HttpApiHandler.HandleGetStatusRequestAsync: Location and Retry-After only on a 202."""
        query = request.query
        history = None
        if st.flag(query, "showHistory", False):
            events = self.engine.history(row.instance_id)
            history = st.history_events(
                events, show_output=st.flag(query, "showHistoryOutput", False)
            )
        document = st.payload(row, show_input=st.flag(query, "showInput", True), history=history)
        if row.status in RUNNING:
            headers = {"Location": str(request.url), "Retry-After": STATUS_RETRY_AFTER}
            return web.json_response(document, status=202, headers=headers)
        failed = row.status is RuntimeStatus.FAILED
        return web.json_response(document, status=500 if failed and fail_with_500 else 200)

    async def list_instances(self, request: web.Request) -> web.Response:
        """GET instances/: one page of matching instances, 100 unless `top` says otherwise.

        As HttpApiHandler.HandleGetStatusRequestAsync: the next page's token goes in
        x-ms-continuation-token, empty on the last page (the extension adds the header with a
        null token). The SDK's get_status_all sends no `top` and never follows the token.
        """
        size = st.page_size(request.query.get("top"))
        try:
            offset = st.decode_token(request.headers.get(st.CONTINUATION_HEADER))
        except st.BadContinuationToken as exc:
            return error(400, str(exc))
        query = st.parse_query(request.query, page=size + 1, offset=offset)
        rows = self.engine.query(query)
        more = len(rows) > size
        show_input = st.flag(request.query, "showInput", True)
        body = [st.payload(row, show_input=show_input) for row in rows[:size]]
        token = st.encode_token(offset + size) if more else ""
        return web.json_response(body, headers={st.CONTINUATION_HEADER: token})

    async def purge_one(self, request: web.Request) -> web.Response:
        """DELETE instances/{id}: 200 {instancesDeleted: 1}, 404, 412 while running."""
        instance_id = request.match_info["instance_id"]
        if self.engine.status(instance_id) is None:
            return web.Response(status=404)
        try:
            deleted = self.engine.purge([instance_id])
        except DurableError as exc:
            return error(exc.status, str(exc))
        return web.json_response({"instancesDeleted": deleted})

    async def purge_by(self, request: web.Request) -> web.Response:
        """DELETE instances/?createdTimeFrom=…: purge finished instances matching the filters."""
        query = st.parse_query(request.query)
        if query.created_from is None:
            return error(400, "Please provide value for 'createdTimeFrom' parameter.")
        rows = [r for r in self.engine.query(query) if r.status.is_terminal]
        if not rows:
            return web.Response(status=404)
        deleted = self.engine.purge([r.instance_id for r in rows])
        return web.json_response({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.Response:
        """POST instances/{id}/raiseEvent/{name}: 202, 404, 410, 400 unless JSON."""
        instance_id = request.match_info["instance_id"]
        row = self.engine.status(instance_id)
        if row is None:
            return web.Response(status=404)
        if row.status.is_terminal:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return error(400, "Only application/json request content is supported")
        text = await request.text()
        try:
            value: Any = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            return error(400, "Invalid JSON content")
        return self._apply(
            lambda: self.engine.raise_event(instance_id, request.match_info["event"], value)
        )

    async def operation(self, request: web.Request) -> web.Response:
        """POST instances/{id}/terminate|suspend|resume|restart|rewind."""
        instance_id = request.match_info["instance_id"]
        operation = request.match_info["operation"].lower()
        reason = request.query.get("reason", "")
        if operation in CONTROLS:
            kind = CONTROLS[operation]
            return self._apply(lambda: self.engine.control(instance_id, kind, reason))
        if operation == "restart":
            return await self._restart(request, instance_id)
        if operation == "rewind":
            return self._rewind(instance_id)
        return web.Response(status=404)

    async def _restart(self, request: web.Request, instance_id: str) -> web.Response:
        """POST instances/{id}/restart: like a start; an unknown id is the extension's 400.

        DurableClient.RestartAsync throws ArgumentException for an unknown id, and
        HandleRestartInstanceRequestAsync answers every ArgumentException with this 400.
        """
        if self.engine.status(instance_id) is None:
            return error(400, RESTART_UNKNOWN)
        new_id = st.flag(request.query, "restartWithNewInstanceId", True)
        try:
            started = self.engine.restart(instance_id, new_id)
        except DurableError as exc:
            return error(exc.status, str(exc))
        return await self._created(request, started, bad_arguments=RESTART_UNKNOWN)

    def _rewind(self, instance_id: str) -> web.Response:
        row = self.engine.status(instance_id)
        if row is None:
            return web.json_response(
                f"No orchestration with instance ID {instance_id} found.", status=404
            )
        if row.status is not RuntimeStatus.FAILED:
            return web.json_response(
                f"This orchestration has status {row.status}, but only orchestrations in the "
                '"Failed" state can be rewound.',
                status=412,
            )
        return web.json_response("Rewind is not supported by devhost.", status=501)

    async def entities(self, request: web.Request) -> web.Response:
        """Durable entities are not supported: say so."""
        return error(501, "Durable entities are not supported by devhost.")

    def _apply(self, action: Any) -> web.Response:
        try:
            action()
        except DurableError as exc:
            if exc.status in (404, 410):
                return web.Response(status=exc.status)
            return error(exc.status, str(exc))
        return web.Response(status=202)


def _seconds(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
