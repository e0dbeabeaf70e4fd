"""HTTP triggers: the host's web front, from an aiohttp request to `func.HttpRequest` and back.

Routes live under the route prefix (`/api` unless host.json's `extensions.http.routePrefix` says
otherwise). Function keys (`code` query parameter, `x-functions-key` header) are accepted and
never required, as with `func start`, unless the host is given a key (`devhost run
--require-keys`): then a function whose authLevel is `function` or `admin` answers what the Azure
Functions host answers for a missing or wrong key, a 401 with no body, and is not invoked.
A path or method no function serves is a 404; a function that raises is a 500 with an empty body
(the traceback goes to the console only).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from azure.functions.http import HttpRequest as WorkerHttpRequest
from multidict import CIMultiDict, MultiMapping

from devhost.functions import logs
from devhost.functions.bindings import BindingValueError, http_reply
from devhost.functions.indexer import HTTP_TRIGGER, RETURN, FunctionSpec
from devhost.functions.invoker import Invoker
from devhost.functions.routes import Route, RouteTable, RouteTemplate

log = logging.getLogger(logs.HOST_LOGGER)

HTTP_REASON = "This function was programmatically called via the host APIs."
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
_UNSET = object()
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"
#: The levels a key opens. devhost has one key, which opens both, as Azure's master key does.
KEYED_LEVELS = frozenset({"function", "admin"})


def _joined(pairs: MultiMapping[str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Fold repeated names into one comma-separated value, as the host hands them to workers."""
    items = pairs.items() if isinstance(pairs, MultiMapping) else pairs
    folded: dict[str, str] = {}
    for name, value in items:
        folded[name] = f"{folded[name]},{value}" if name in folded else value
    return folded


def presented_key(request: web.Request) -> str:
    """The key a request carries: the header's first value, else the query's; "" for none.

    The header wins even when the query holds the right key, as in the host's
    AuthenticationLevelHandler (Security/Authentication/Keys).
    """
    values = request.headers.getall(KEY_HEADER, None) or request.query.getall(KEY_QUERY, None)
    return values[0] if values else ""


def needs_key(spec: FunctionSpec) -> bool:
    """Whether a function's authLevel asks for a key; the host's default level is `function`."""
    return str(spec.trigger.get("authLevel") or "function").lower() in KEYED_LEVELS


def route_table(functions: Iterable[FunctionSpec]) -> RouteTable:
    """Compile the route of every HTTP-triggered function (the function name when none)."""
    routes = []
    for spec in functions:
        if spec.trigger.type != HTTP_TRIGGER:
            continue
        template = str(spec.trigger.get("route") or spec.name)
        methods = frozenset(str(m).upper() for m in spec.trigger.get("methods") or [])
        routes.append(
            Route(template=RouteTemplate.parse(template), methods=methods, target=spec.name)
        )
    return RouteTable(routes)


class HttpTriggers:
    """Dispatches requests under the route prefix to the functions that serve them."""

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        route_prefix: str,
        invoker: Invoker,
        function_key: str | None = None,
    ) -> None:
        self._functions = {f.name: f for f in functions if f.trigger.type == HTTP_TRIGGER}
        self._table = route_table(self._functions.values())
        self._prefix = f"/{route_prefix.strip('/')}" if route_prefix.strip("/") else ""
        self._invoker = invoker
        self._function_key = function_key  # None: keys are not required (`func start`)

    def _authorized(self, spec: FunctionSpec, request: web.Request) -> bool:
        """Whether the request may invoke the function: always when no key is required."""
        if self._function_key is None or not needs_key(spec):
            return True
        # Compared in constant time: the answer must not tell how much of a guess was right.
        return hmac.compare_digest(presented_key(request).encode(), self._function_key.encode())

    def _relative_path(self, raw_path: str) -> str | None:
        path = raw_path.split("?", 1)[0]
        if not self._prefix:
            return path
        if path.lower() == self._prefix.lower():
            return "/"
        if path.lower().startswith(self._prefix.lower() + "/"):
            return path[len(self._prefix) :]
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        relative = self._relative_path(request.raw_path)
        found = None if relative is None else self._table.match(request.method, relative)
        if found is None:
            return web.Response(status=404)
        spec = self._functions[found.target]
        if not self._authorized(spec, request):
            return web.Response(status=401)  # the host's UnauthorizedResult: no body
        func_request = WorkerHttpRequest(
            method=request.method,
            url=str(request.url),
            headers=_joined(request.headers),
            params=_joined(request.query),
            route_params=dict(found.route_params),
            body_type="bytes",
            body=await request.read(),
        )
        try:
            result = await self._invoker.invoke(spec, func_request, reason=HTTP_REASON)
            output = self._http_output(spec, result.return_value, result.outputs)
            if output is _UNSET:
                return web.Response(status=204)  # an `Out` http binding left unset
            reply = http_reply(output)
        except BindingValueError as exc:
            log.error("Functions.%s: %s", spec.name, exc)
            return web.Response(status=500)
        except Exception:
            return web.Response(status=500)  # already logged, with its traceback, by the invoker
        headers: CIMultiDict[str] = CIMultiDict(reply.headers)
        return web.Response(status=reply.status, body=reply.body, headers=headers)

    @staticmethod
    def _http_output(spec: FunctionSpec, return_value: Any, outputs: Mapping[str, Any]) -> Any:
        """The value of the function's http output: `$return`, else an `Out` http binding."""
        for binding in spec.outputs:
            if binding.type == "http" and binding.name != RETURN:
                value = outputs.get(binding.name)
                return _UNSET if value is None else value
        return return_value


async def _host_status(_: web.Request) -> web.Response:
    return web.json_response({"state": "Running", "version": "devhost"})


async def _root(_: web.Request) -> web.Response:
    return web.Response(text="Your Functions app (devhost) is up and running.\n")


def build_web_app(
    triggers: HttpTriggers, *, add_extra_routes: Callable[[web.Application], None] | None = None
) -> web.Application:
    """The web application: extension routes (Durable webhooks) first, then admin, then triggers."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    if add_extra_routes is not None:
        add_extra_routes(app)
    app.router.add_get("/admin/host/status", _host_status)
    app.router.add_get("/", _root)
    # Any path, newlines included: `.` alone stops at a percent-encoded LF, and aiohttp would
    # answer its own text 404 where the Functions host routes the request to the function.
    app.router.add_route("*", r"/{tail:[\s\S]*}", triggers.handle)
    return app
