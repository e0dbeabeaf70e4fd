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
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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


class DurableClient(Protocol):
    """The part of DurableOrchestrationClient that ManagementApiPages reads."""

    _orchestration_bindings: Any


class ManagementApiPages:
    """InstancePages over the Durable management API's `instances` route."""

    def __init__(self, client: DurableClient) -> None:
        self.base_url: str = client._orchestration_bindings.rpc_base_url

    async def page(self, top: int, continuation: str | None) -> InstancePage:
        """GET instances/?top=&showInput=true, with the token in x-ms-continuation-token."""
        url = f"{self.base_url}instances/?top={top}&showInput=true"
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
