"""Durable instances, page by page, and the API's own continuation over them.

The SDK's `get_status_all` sends no `top` and ignores the `x-ms-continuation-token` response
header, so on Azure it returns one page: `OrchestrationStatusQueryCondition.PageSize` defaults to
100 in the extension, whose `HttpApiHandler` reads `top` and the `x-ms-continuation-token`
request header and answers the next token in the same header (azure-functions-durable-extension,
src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs). `ManagementApiPages` calls that
`instances` route itself, through the client's rpc base URL and the SDK's aiohttp session.

`collect` turns pages into the API's answer: up to `limit` selected documents and a `Cursor`
(the upstream token of the page to read next, and how many of its rows were already given), so
a caller's next request resumes exactly there, whether the server pages or answers everything.

Also here: the Durable client as the API sees it (`DurableClient` and the smaller Protocols
each handler needs; a status is read-only, so tests' fakes may be narrower), what an instance's
status holds (`input_of`, `exists`), and a list request's `limit` and `continuation`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard
from urllib.parse import quote

import aiohttp
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.utils import http_utils

#: Rows asked of the management API per page: the extension's default, so pages are stable.
PAGE_SIZE = 100
#: Upstream pages read at most per API request, so a filter that matches little stays quick.
MAX_PAGES_PER_REQUEST = 10
#: A token that means "no more": base64 of "null" (azure-functions-durable-extension #1174).
_NULL_TOKENS = frozenset({"", "bnVsbA=="})


class InvalidContinuation(ValueError):
    """The continuation is not one this API gave (or the management API refused it)."""


@dataclass(frozen=True)
class InstancePage:
    """One answer of the management API: statuses, and the token for the rest (None: none)."""

    statuses: list[DurableOrchestrationStatus]
    continuation: str | None


class InstancePages(Protocol):
    """Reads one page of instances; `ManagementApiPages` is the real one, tests pass fakes."""

    async def page(self, top: int, continuation: str | None) -> InstancePage: ...


class BindingsHolder(Protocol):
    """The part of DurableOrchestrationClient that ManagementApiPages reads."""

    _orchestration_bindings: Any


class ManagementApiPages:
    """InstancePages over the Durable management API's `instances` route."""

    def __init__(self, client: BindingsHolder, id_prefix: str | None = None) -> None:
        self.base_url: str = client._orchestration_bindings.rpc_base_url
        # `instanceIdPrefix` is a filter of the extension's HttpApiHandler (and of devhost).
        self.filter = f"&instanceIdPrefix={quote(id_prefix, safe='')}" if id_prefix else ""

    async def page(self, top: int, continuation: str | None) -> InstancePage:
        """GET instances/?top=&showInput=true, with the token in x-ms-continuation-token."""
        url = f"{self.base_url}instances/?top={top}&showInput=true{self.filter}"
        headers = {"x-ms-continuation-token": continuation} if continuation else {}
        shared_session = getattr(http_utils, "_get_session", None)  # the SDK's pooled session
        if shared_session is None:  # older SDKs opened one per request: so do we then
            async with aiohttp.ClientSession() as session:
                status, body, token = await _get(session, url, headers)
        else:
            status, body, token = await _get(await shared_session(), url, headers)
        if status == 400 and continuation:
            raise InvalidContinuation("the management API refused the continuation token")
        if status != 200 or not isinstance(body, list):
            raise RuntimeError(f"the Durable instance query answered {status}")
        rows = [DurableOrchestrationStatus.from_json(row) for row in body]
        return InstancePage(rows, upstream_token(token, continuation))


async def _get(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, Any, str | None]:
    """Status, JSON body and continuation header of one GET (content type not trusted, as the
    SDK's own get_async_request does)."""
    async with session.get(url, headers=headers) as response:
        body = await response.json(content_type=None)
        return response.status, body, response.headers.get("x-ms-continuation-token")


def upstream_token(token: str | None, sent: str | None) -> str | None:
    """The management API's next-page token, or None when it says (or shows) there is no more:
    absent, empty, base64 "null", or the very token we sent (a page that does not move)."""
    if token is None or token.strip() in _NULL_TOKENS or token == sent:
        return None
    return token


@dataclass(frozen=True)
class Cursor:
    """Where a listing resumes: the upstream page (None: the first) and rows of it already given."""

    upstream: str | None = None
    skip: int = 0

    def encode(self) -> str:
        """The opaque `continuation` the API answers (URL-safe base64 of JSON)."""
        text = json.dumps({"u": self.upstream, "s": self.skip}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The cursor of a `continuation` this API gave; InvalidContinuation otherwise."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidContinuation("not a continuation this API gave") from None
        upstream, skip = (raw.get("u"), raw.get("s")) if isinstance(raw, dict) else (0, None)
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise InvalidContinuation("not a continuation this API gave")
        if upstream is not None and not (isinstance(upstream, str) and _header_safe(upstream)):
            raise InvalidContinuation("not a continuation this API gave")
        return cls(upstream, skip)


def _header_safe(value: object) -> bool:
    """A token that can travel in an HTTP header: printable ASCII, of a sane length (a forged
    one with CR/LF or NUL would make the HTTP client raise instead of sending)."""
    return isinstance(value, str) and len(value) <= 4096 and value.isascii() and value.isprintable()


Select = Callable[[DurableOrchestrationStatus], dict[str, Any] | None]


async def collect(
    pages: InstancePages, select: Select, limit: int, cursor: Cursor
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """Up to `limit` documents that `select` keeps, from `cursor` on, and where to go on from
    (None: nothing follows). A page may hold fewer than `limit` even when more follow."""
    found: list[dict[str, Any]] = []
    upstream, skip = cursor.upstream, cursor.skip
    for _ in range(MAX_PAGES_PER_REQUEST):
        page = await pages.page(PAGE_SIZE, upstream)
        for index in range(skip, len(page.statuses)):
            doc = select(page.statuses[index])
            if doc is not None:
                found.append(doc)
            if len(found) == limit:
                return found, _after(upstream, index + 1, page)
        if page.continuation is None:
            return found, None
        upstream, skip = page.continuation, 0
    return found, Cursor(upstream, 0)


def _after(upstream: str | None, taken: int, page: InstancePage) -> Cursor | None:
    """The cursor after the first `taken` rows of `page`."""
    if taken < len(page.statuses):
        return Cursor(upstream, taken)
    return Cursor(page.continuation, 0) if page.continuation else None


# --- the Durable client, as the API sees it -------------------------------------------------


class InstanceStatus(Protocol):
    """What the API reads of a Durable instance's status (the SDK's DurableOrchestrationStatus).
    Read-only, so a fake may hold narrower types."""

    @property
    def instance_id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def runtime_status(self) -> Any: ...  # an OrchestrationRuntimeStatus; None when unknown
    @property
    def custom_status(self) -> Any: ...
    @property
    def output(self) -> Any: ...
    @property
    def input_(self) -> Any: ...
    @property
    def created_time(self) -> Any: ...
    @property
    def last_updated_time(self) -> Any: ...


class InstanceReader(Protocol):
    """Reading an instance's status (the SDK's DurableOrchestrationClient; tests pass fakes).
    Positional, so a fake may name its parameters as it likes."""

    async def get_status(
        self, instance_id: str, /, *, show_input: bool = ...
    ) -> InstanceStatus | None: ...


class EventSender(InstanceReader, Protocol):
    """What aborting needs: read the status, raise the event."""

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any, /) -> None: ...


class DurableClient(EventSender, Protocol):
    """Everything the API asks of the Durable client."""

    async def start_new(self, name: str, instance_id: str, client_input: Any, /) -> str: ...


def input_of(existing: InstanceStatus | None) -> dict[str, Any]:
    raw = getattr(existing, "input_", None)
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def exists(found: InstanceStatus | None) -> TypeGuard[InstanceStatus]:
    return bool(found) and getattr(found, "runtime_status", None) is not None


# --- a list request's query -----------------------------------------------------------------

DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 100, 1000
_DIGITS = re.compile(r"[0-9]{1,6}")


def list_limit(raw: str | None, fields: dict[str, str]) -> int:
    """The page size asked for: an integer in 1..MAX_LIST_LIMIT, else noted under `limit`."""
    if raw is None:
        return DEFAULT_LIST_LIMIT
    text = raw.strip()
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_LIST_LIMIT:
        fields["limit"] = f"an integer from 1 to {MAX_LIST_LIMIT}"
        return DEFAULT_LIST_LIMIT
    return int(text)


def list_cursor(raw: str | None, fields: dict[str, str]) -> Cursor | None:
    """Where the listing resumes (the start when None given); None, noted under `continuation`,
    for a token this API did not give."""
    if raw is None:
        return Cursor()
    try:
        return Cursor.decode(raw)
    except InvalidContinuation as exc:
        fields["continuation"] = str(exc)
        return None
