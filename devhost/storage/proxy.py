"""Byte-for-byte forwarding of one HTTP request to Azurite, streamed both ways.

Shared Key and SAS signatures cover the method, path, query and x-ms-* headers, so the request is
passed on unchanged: raw path and query (no re-quoting), every end-to-end header including Host,
and the body as a stream. Only hop-by-hop headers are dropped, as any HTTP proxy must.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: Streaming chunk for bodies in both directions.
CHUNK = 256 * 1024

#: A hook given the upstream status and headers, which it may rewrite, before the client sees them.
HeaderHook = Callable[[int, CIMultiDict[str]], None]


def upstream_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The request's headers minus hop-by-hop ones (Host is kept: Azurite may read it)."""
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


def response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Upstream response headers to replay, minus hop-by-hop ones."""
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


async def _body(request: web.Request) -> aiohttp.StreamReader | None:
    if request.can_read_body:
        return request.content
    return None


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    upstream: URL,
    *,
    rewrite: HeaderHook | None = None,
    answered: Callable[[int], None] | None = None,
) -> web.StreamResponse:
    """Send `request` to `upstream` (scheme://host:port) and stream the answer back.

    `answered` hears Azurite's status as soon as it comes: what the storage did, even when the
    client has gone before the answer reaches it (a killed host's Copy Blob still copied)."""
    url = URL(str(upstream.origin()) + request.raw_path, encoded=True)
    headers = upstream_headers(request.headers)
    body = await _body(request)
    data = _iter_body(body) if body is not None else None
    async with session.request(
        request.method,
        url,
        headers=headers,
        data=data,
        allow_redirects=False,
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
    ) as upstream_resp:
        if answered is not None:
            answered(upstream_resp.status)
        out_headers = response_headers(upstream_resp.headers)
        if rewrite is not None:
            rewrite(upstream_resp.status, out_headers)
        return await relay(
            request, upstream_resp.status, upstream_resp.reason, out_headers, upstream_resp.content
        )


async def relay(
    request: web.Request,
    status: int,
    reason: str | None,
    headers: CIMultiDict[str],
    content: aiohttp.StreamReader,
) -> web.StreamResponse:
    """Write status, headers and a streamed body back to the client."""
    length = headers.get("Content-Length")
    resp = web.StreamResponse(status=status, reason=reason, headers=headers)
    if request.method == "HEAD" or status in (204, 304) or length is not None:
        # Keep the upstream's length (on HEAD it is the blob's size, with no body sent).
        if length is not None:
            resp.content_length = int(length)
    else:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    if request.method != "HEAD" and status not in (204, 304):
        async for chunk in content.iter_chunked(CHUNK):
            await resp.write(chunk)
    await resp.write_eof()
    return resp


async def _iter_body(body: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in body.iter_chunked(CHUNK):
        yield chunk
