"""The engine's own signed calls to Azurite (writing copy destinations, probing blobs).

A small client instead of the SDK: the engine already has an aiohttp session on its loop, needs
exact control of headers (lease ids, conditions) and must not buffer more than one chunk.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote, urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from devhost.storage import sharedkey
from devhost.storage.errors import SERVICE_VERSION
from devhost.storage.faults import FaultInjector


@dataclass(frozen=True)
class BlobRef:
    """Where a blob lives: account, container, name (decoded)."""

    account: str
    container: str
    blob: str

    @property
    def raw_path(self) -> str:
        return f"/{self.account}/{quote(self.container)}/{quote(self.blob, safe='/~')}"


@dataclass(frozen=True)
class UpstreamResponse:
    """Status, headers and (small) body of one call."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def error_code(self) -> str:
        return self.headers.get("x-ms-error-code", "")

    @property
    def ok(self) -> bool:
        return self.status < 300


@dataclass(frozen=True)
class Upstream:
    """Azurite's blob port as the engine's handlers reach it: to authorize a request or forward it.

    `session` is the engine's, `base` Azurite's blob endpoint, `account_key` the key every
    account shares (Shared Key signatures are checked with it).
    """

    session: aiohttp.ClientSession
    base: URL
    account_key: str

    def url(self, raw_path: str) -> URL:
        """The same path and query (raw, as signed) on Azurite."""
        return URL(str(self.base.origin()) + raw_path, encoded=True)


class UpstreamClient:
    """Signs requests with the account key and sends them to Azurite's internal blob port."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: URL,
        key: str,
        faults: FaultInjector | None = None,
    ) -> None:
        self.session = session
        self.base = base
        self.key = key
        self.faults = faults

    async def call(
        self,
        method: str,
        ref: BlobRef,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> UpstreamResponse:
        """One signed request; bodies are at most one chunk, so they are sent whole."""
        raw_query = urlencode(sorted((query or {}).items()), quote_via=quote)
        injected = await self._injected(method, ref, raw_query)
        if injected is not None:
            return injected
        hdrs: CIMultiDict[str] = CIMultiDict(headers or {})
        hdrs["x-ms-date"] = formatdate(usegmt=True)
        hdrs.setdefault("x-ms-version", SERVICE_VERSION)
        hdrs["Content-Length"] = str(len(data) if data is not None else 0)
        hdrs["Authorization"] = sharedkey.authorization(
            method, ref.raw_path, raw_query, dict(hdrs.items()), ref.account, self.key
        )
        target = str(self.base.origin()) + ref.raw_path + (f"?{raw_query}" if raw_query else "")
        async with self.session.request(
            method,
            URL(target, encoded=True),
            headers=hdrs,
            data=data if data is not None else b"",
            skip_auto_headers=("Content-Type",),
        ) as resp:
            body = await resp.read()
            return UpstreamResponse(resp.status, resp.headers, body)

    async def _injected(self, method: str, ref: BlobRef, raw_query: str) -> UpstreamResponse | None:
        """A fault rule's answer for a destination write, as if Azurite had given it."""
        if self.faults is None or method == "HEAD":
            return None
        action = self.faults.take("destination", method, ref.raw_path, raw_query)
        if action is None:
            return None
        if action.delay_s > 0:
            await asyncio.sleep(action.delay_s)
        if action.status is None:
            return None
        headers = CIMultiDictProxy(CIMultiDict({"x-ms-error-code": action.code}))
        return UpstreamResponse(action.status, headers, action.message.encode())

    async def properties(self, ref: BlobRef) -> UpstreamResponse:
        """Get Blob Properties."""
        return await self.call("HEAD", ref)
