"""One asynchronous copy: read the source in chunks, write the destination as its own blob type.

Block blobs are staged as uncommitted blocks and committed at the end (so a reader sees the old
empty blob until the copy succeeds); page blobs are created at full size and filled page range by
page range (all-zero chunks skipped, keeping them sparse); append blobs get one block per chunk.
Abort and failure leave the destination empty with its new metadata, as Azure does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from dataclasses import dataclass, field

from devhost.lifetime import cancel_and_wait
from devhost.storage.copystate import CopyRecord, CopyStore
from devhost.storage.faults import FaultInjector
from devhost.storage.source import CopySource, SourceError, SourceReader
from devhost.storage.upstream import BlobRef, UpstreamClient, UpstreamResponse

log = logging.getLogger(__name__)

#: Chunks in flight at once for block and page blobs.
PARALLEL_CHUNKS = 4
#: Largest single Put Page / Append Block the engine sends.
MAX_PAGE_OR_APPEND = 4 * 1024 * 1024
#: A write answered with one of these is tried again (after 50, 100, 200 ms): Azure's copy rides
#: out intermittent errors (the copy stays pending, the error in its status description) and
#: fails only on lasting ones. The source reader does the same (source.RETRIES).
TRANSIENT_WRITE_STATUSES = frozenset({408, 500, 502, 503, 504})
WRITE_RETRIES = 3


class DestinationError(Exception):
    """Azurite refused a write to the destination."""

    def __init__(self, resp: UpstreamResponse, what: str) -> None:
        super().__init__(f"{what}: {resp.status} {resp.error_code}")
        self.resp = resp
        self.description = f'{resp.status} {resp.error_code or "Error"} "{what} failed."'


@dataclass(kw_only=True)
class DestinationWriter:
    """Writes one destination blob with the engine's key, honouring the client's lease id."""

    client: UpstreamClient
    ref: BlobRef
    blob_type: str
    content: dict[str, str]
    metadata: dict[str, str]
    lease_id: str | None = None
    tags: str | None = None
    tier: str | None = None
    _block_ids: dict[int, str] = field(default_factory=dict)

    def _base_headers(self) -> dict[str, str]:
        return {"x-ms-lease-id": self.lease_id} if self.lease_id else {}

    async def create(
        self, size: int = 0, conditions: dict[str, str] | None = None
    ) -> UpstreamResponse:
        """(Re)create the destination empty (a page blob at `size`) with headers and metadata."""
        # Azurite checks a content MD5 against the (empty) body: it is set at commit instead.
        content = {k: v for k, v in self.content.items() if k != "x-ms-blob-content-md5"}
        headers = {**self._base_headers(), **content, **self.metadata, **(conditions or {})}
        headers["x-ms-blob-type"] = self.blob_type
        if self.blob_type == "PageBlob":
            headers["x-ms-blob-content-length"] = str(size)
        if self.tags:
            headers["x-ms-tags"] = self.tags
        return await self.client.call("PUT", self.ref, headers=headers, data=b"")

    async def _put(
        self, query: dict[str, str], headers: dict[str, str], data: bytes | None = None
    ) -> UpstreamResponse:
        """One write of the copy, tried again while it answers a transient error."""
        for attempt in range(WRITE_RETRIES):
            resp = await self.client.call("PUT", self.ref, query=query, headers=headers, data=data)
            if resp.ok or resp.status not in TRANSIENT_WRITE_STATUSES:
                return resp
            await asyncio.sleep(0.05 * 2**attempt)
        return await self.client.call("PUT", self.ref, query=query, headers=headers, data=data)

    async def write(self, offset: int, data: bytes) -> None:
        """Write one chunk read at `offset` (block and page chunks may arrive in any order)."""
        if self.blob_type == "BlockBlob":
            block_id = base64.b64encode(f"{offset:032d}".encode()).decode()
            resp = await self._put(
                query={"comp": "block", "blockid": block_id},
                headers=self._base_headers(),
                data=data,
            )
            if not resp.ok:
                raise DestinationError(resp, "Put Block")
            self._block_ids[offset] = block_id
            return
        for start in range(0, len(data), MAX_PAGE_OR_APPEND):
            piece = data[start : start + MAX_PAGE_OR_APPEND]
            if self.blob_type == "PageBlob":
                if piece.count(0) == len(piece):
                    continue
                first = offset + start
                headers = {
                    **self._base_headers(),
                    "x-ms-range": f"bytes={first}-{first + len(piece) - 1}",
                    "x-ms-page-write": "update",
                }
                resp = await self._put(query={"comp": "page"}, headers=headers, data=piece)
                what = "Put Page"
            else:
                resp = await self._put(
                    query={"comp": "appendblock"},
                    headers=self._base_headers(),
                    data=piece,
                )
                what = "Append Block"
            if not resp.ok:
                raise DestinationError(resp, what)

    async def commit(self) -> None:
        """Block blobs: commit the staged blocks; others: set the source's content MD5, if any."""
        if self.blob_type != "BlockBlob":
            if "x-ms-blob-content-md5" in self.content:
                resp = await self._put(
                    query={"comp": "properties"},
                    headers={**self._base_headers(), **self.content},
                )
                if not resp.ok:
                    raise DestinationError(resp, "Set Blob Properties")
            return
        body = "".join(f"<Latest>{self._block_ids[o]}</Latest>" for o in sorted(self._block_ids))
        xml = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{body}</BlockList>'.encode()
        headers = {**self._base_headers(), **self.content, **self.metadata}
        if self.tier:
            headers["x-ms-access-tier"] = self.tier
        if self.tags:
            headers["x-ms-tags"] = self.tags
        resp = await self._put(query={"comp": "blocklist"}, headers=headers, data=xml)
        if not resp.ok:
            raise DestinationError(resp, "Put Block List")


class Disowned(Exception):
    """The job's record left the store (destination or container deleted): stop, write nothing."""


class CopyJob:
    """Runs one copy in the background and keeps its CopyRecord current."""

    def __init__(
        self,
        *,
        record: CopyRecord,
        store: CopyStore,
        reader: SourceReader,
        writer: DestinationWriter,
        faults: FaultInjector,
        chunk_bytes: int,
        rate_bytes_per_s: float | None,
    ) -> None:
        self.record = record
        self.store = store
        self.reader = reader
        self.writer = writer
        self.faults = faults
        self.chunk_bytes = chunk_bytes
        self.rate = rate_bytes_per_s
        self.task: asyncio.Task[None] | None = None

    @property
    def source(self) -> CopySource:
        return self.reader.source

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"copy-{self.record.copy_id}")

    async def _read(self, offset: int) -> bytes:
        await self.faults.copy_gate(self.writer.ref.raw_path)
        return await self.reader.read(offset, self.chunk_bytes)

    async def _run(self) -> None:
        rec = self.record
        began = time.monotonic()
        try:
            parallel = self.source.ranged and self.source.length is not None
            if parallel and self.writer.blob_type != "AppendBlob":
                await self._copy_parallel(began)
            else:
                await self._copy_in_order(began)
            self._check_owned()
            await self.writer.commit()
            self._check_owned()
            rec.total = rec.copied if rec.total is None else rec.total
            rec.finish("success")
            self.store.put(rec)
        except Disowned:
            log.info("copy %s stopped: its destination is gone", rec.copy_id)
        except (SourceError, DestinationError) as exc:
            await self._fail(exc.description)
        except Exception:
            log.exception("copy %s crashed", rec.copy_id)
            await self._fail('500 InternalError "The copy engine failed."')
        finally:
            self.reader.close()

    def owned(self) -> bool:
        """Whether the store still holds this job's record (not dropped nor replaced)."""
        return self.store.get(self.record.key) is self.record

    def _check_owned(self) -> None:
        if not self.owned():
            raise Disowned

    def _progress(self, began: float, size: int) -> float:
        self._check_owned()
        self.record.copied += size
        self.store.put(self.record)
        if self.rate is None:
            return 0.0
        return self.record.copied / self.rate - (time.monotonic() - began)

    async def _copy_parallel(self, began: float) -> None:
        """Block and page blobs: a few chunks in flight at once (Azurite writes are slow)."""
        assert self.source.length is not None
        offsets = iter(range(0, self.source.length, self.chunk_bytes))

        async def worker() -> None:
            for offset in offsets:  # shared: each worker takes the next chunk
                chunk = await self._read(offset)
                await self.writer.write(offset, chunk)
                ahead = self._progress(began, len(chunk))
                if ahead > 0:
                    await asyncio.sleep(ahead)

        workers = [asyncio.create_task(worker()) for _ in range(PARALLEL_CHUNKS)]
        try:
            await asyncio.gather(*workers)
        finally:
            await cancel_and_wait(workers)

    async def _copy_in_order(self, began: float) -> None:
        """Append blobs and plain streams: chunks in order, the next read overlapping a write."""
        offset = 0
        pending = asyncio.create_task(self._read(0))
        try:
            while chunk := await pending:
                pending = asyncio.create_task(self._read(offset + len(chunk)))
                await self.writer.write(offset, chunk)
                offset += len(chunk)
                ahead = self._progress(began, len(chunk))
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            await cancel_and_wait([pending])

    async def _fail(self, description: str) -> None:
        # A deleted destination (or container) is never re-created, nor its record re-stored.
        if not self.owned():
            return
        await self._empty_destination()
        if not self.owned():
            return
        self.record.finish("failed", description)
        self.store.put(self.record)

    async def _empty_destination(self) -> None:
        """Leave the destination zero-length with its new metadata (abort and failure)."""
        try:
            await self.writer.create(size=0)
        except Exception:
            log.warning("could not empty the destination of copy %s", self.record.copy_id)

    async def abort(self) -> None:
        """Stop the copy now; the destination is left empty and the record says `aborted`."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.reader.close()
        if not self.owned():
            return
        await self._empty_destination()
        if self.owned():
            self.record.finish("aborted")
            self.store.put(self.record)
