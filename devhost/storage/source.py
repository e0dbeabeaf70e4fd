"""Reading a copy source: verify it when the copy starts, then read it chunk by chunk.

Azure verifies the source before it answers `202` (an unreadable source answers
`CannotVerifyCopySource` with the source's own status), remembers the source's ETag, and fails
the copy if that ETag changes. Blob sources are read in ranges with `If-Match`, so a change shows
up at the next chunk; an external server without ranges is read as one stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email.utils import formatdate

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from devhost.storage import sharedkey
from devhost.storage.faults import FaultInjector

#: Source response header -> destination request header of Put Blob / Put Block List.
CONTENT_HEADERS = {
    "Content-Type": "x-ms-blob-content-type",
    "Content-Encoding": "x-ms-blob-content-encoding",
    "Content-Language": "x-ms-blob-content-language",
    "Content-Disposition": "x-ms-blob-content-disposition",
    "Cache-Control": "x-ms-blob-cache-control",
    "Content-MD5": "x-ms-blob-content-md5",
}

#: Conditions on the source in a Copy Blob request -> the same condition on a GET.
SOURCE_CONDITIONS = {
    "x-ms-source-if-match": "If-Match",
    "x-ms-source-if-none-match": "If-None-Match",
    "x-ms-source-if-modified-since": "If-Modified-Since",
    "x-ms-source-if-unmodified-since": "If-Unmodified-Since",
}

RETRIES = 3


class SourceError(Exception):
    """The source could not be read: `status`/`code` as the source answered."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def description(self) -> str:
        """Azure's x-ms-copy-status-description format: `status code "message"`."""
        return f'{self.status} {self.code} "{self.message}"'


@dataclass(frozen=True, kw_only=True)
class SourceAccess:
    """How to read the source: its URL, fixed headers, and whether the engine signs the reads.

    The engine signs (with the account key) only a same-account source without a SAS, which
    Azure authorizes with the destination request's own credentials.
    """

    url: URL
    headers: dict[str, str]
    signing_account: str | None = None
    signing_key: str | None = None

    def headers_for(self, method: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {**self.headers, **(extra or {})}
        if self.signing_account is None or self.signing_key is None:
            return headers
        headers["x-ms-date"] = formatdate(usegmt=True)
        headers["Authorization"] = sharedkey.authorization(
            method,
            self.url.raw_path,
            self.url.raw_query_string,
            headers,
            self.signing_account,
            self.signing_key,
        )
        return headers


@dataclass(kw_only=True)
class CopySource:
    """A verified source: how to read it and what it is."""

    access: SourceAccess
    length: int | None
    etag: str | None
    blob_type: str
    content: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    ranged: bool = True


def _source_error(resp: aiohttp.ClientResponse, what: str) -> SourceError:
    code = resp.headers.get("x-ms-error-code") or (resp.reason or "SourceError").replace(" ", "")
    return SourceError(resp.status, code, f"{what}: the source answered {resp.status}.")


def describe(headers: CIMultiDictProxy[str], access: SourceAccess) -> CopySource:
    """A CopySource from the source's HEAD (or first GET) response headers."""
    length = headers.get("Content-Length")
    content = {dest: headers[src] for src, dest in CONTENT_HEADERS.items() if src in headers}
    metadata = {k: v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")}
    is_blob = "x-ms-blob-type" in headers
    return CopySource(
        access=access,
        length=int(length) if length is not None else None,
        etag=headers.get("ETag"),
        blob_type=headers.get("x-ms-blob-type", "BlockBlob"),
        content=content,
        metadata=metadata,
        ranged=is_blob or headers.get("Accept-Ranges", "") == "bytes",
    )


async def _apply_fault(faults: FaultInjector, method: str, url: URL) -> None:
    action = faults.take("source", method, url.path, url.query_string)
    if action is None:
        return
    if action.delay_s > 0:
        await asyncio.sleep(action.delay_s)
    if action.status is not None:
        raise SourceError(action.status, action.code, action.message)


async def verify(
    session: aiohttp.ClientSession,
    faults: FaultInjector,
    access: SourceAccess,
    conditions: dict[str, str],
) -> CopySource:
    """HEAD the source (with the request's source conditions); raise SourceError if unreadable."""
    await _apply_fault(faults, "HEAD", access.url)
    try:
        async with session.head(
            access.url, headers=access.headers_for("HEAD", conditions), allow_redirects=True
        ) as resp:
            if resp.status in (405, 501):
                return CopySource(
                    access=access,
                    length=None,
                    etag=None,
                    blob_type="BlockBlob",
                    ranged=False,
                )
            if resp.status >= 300:
                raise _source_error(resp, "Could not verify the copy source")
            return describe(resp.headers, access)
    except aiohttp.ClientError as exc:
        raise SourceError(500, "CannotVerifyCopySource", "The copy source did not answer.") from exc


class SourceReader:
    """Reads a verified source in chunks: ranges with If-Match, or one stream."""

    def __init__(
        self, session: aiohttp.ClientSession, faults: FaultInjector, source: CopySource
    ) -> None:
        self.session = session
        self.faults = faults
        self.source = source
        self._stream: aiohttp.ClientResponse | None = None

    async def read(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes at `offset` (b"" at the end), retrying transient errors."""
        if self.source.length is not None and offset >= self.source.length:
            return b""
        for attempt in range(RETRIES + 1):
            try:
                if self.source.ranged and self.source.length is not None:
                    return await self._read_range(offset, size)
                return await self._read_stream(size)
            except SourceError as exc:
                transient = exc.status >= 500 or exc.status == 408
                if not transient or attempt == RETRIES or not self.source.ranged:
                    raise
            except aiohttp.ClientError as exc:
                if attempt == RETRIES or not self.source.ranged:
                    raise SourceError(500, "InternalError", "Reading the source failed.") from exc
            await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def _read_range(self, offset: int, size: int) -> bytes:
        assert self.source.length is not None
        end = min(offset + size, self.source.length) - 1
        extra = {"Range": f"bytes={offset}-{end}"}
        if self.source.etag and not self.source.etag.startswith("W/"):
            # A weak ETag never matches If-Match (strong comparison): only strong ones guard.
            extra["If-Match"] = self.source.etag
        access = self.source.access
        await _apply_fault(self.faults, "GET", access.url)
        async with self.session.get(access.url, headers=access.headers_for("GET", extra)) as resp:
            if resp.status == 412:
                raise SourceError(
                    412,
                    "ConditionNotMet",
                    "The source was modified during the copy (its ETag changed).",
                )
            if resp.status >= 300:
                raise _source_error(resp, "Copy failed when reading the source")
            return await resp.read()

    async def _read_stream(self, size: int) -> bytes:
        if self._stream is None:
            access = self.source.access
            await _apply_fault(self.faults, "GET", access.url)
            resp = await self.session.get(access.url, headers=access.headers_for("GET"))
            if resp.status >= 300:
                resp.release()
                raise _source_error(resp, "Copy failed when reading the source")
            self._stream = resp
        data = bytearray()
        while len(data) < size:
            piece = await self._stream.content.read(size - len(data))
            if not piece:
                break
            data += piece
        return bytes(data)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.release()
            self._stream = None
