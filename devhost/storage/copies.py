"""Which requests the engine owns, and what it does with them.

- Copy Blob from another account or an external URL (or any copy, with `all_async`): verified,
  answered `202 pending`, run by a CopyJob in the background.
- Abort Copy Blob of such a copy (abort.py); writes to a destination while its copy is pending,
  or a second Copy Blob while the first is still starting (409).
- Get Blob / Get Blob Properties / List Blobs (include=copy): the x-ms-copy-* properties merged in.
- Put Blob, Put Block List, Set Blob Properties, Delete Blob: the old copy properties dropped.
- Delete Blob / Delete Container that Azurite accepted: the pending copies into them stopped.
- Renewal of a broken lease: refused as Azure refuses it (leases.py).
Everything else, including same-account copies, goes to Azurite untouched.
"""

from __future__ import annotations

import logging
import uuid

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from devhost.lifetime import cancel_and_wait
from devhost.storage import abort, leases, listing, proxy, resume
from devhost.storage.auth import authorize_write
from devhost.storage.config import EngineConfig
from devhost.storage.copyjob import CopyJob, DestinationWriter
from devhost.storage.copystate import BlobKey, CopyRecord, CopyStore
from devhost.storage.errors import error_response, service_headers, storage_error
from devhost.storage.faults import FaultInjector
from devhost.storage.operations import COPY_BLOB, operation
from devhost.storage.source import (
    SOURCE_CONDITIONS,
    CopySource,
    SourceAccess,
    SourceError,
    SourceReader,
    verify,
)
from devhost.storage.transactions import TransactionCounter
from devhost.storage.upstream import BlobRef, Upstream, UpstreamClient, UpstreamResponse
from shared.redaction import redact_url

log = logging.getLogger(__name__)

#: `comp` values of writes refused while a copy into the blob is pending (None = Put Blob).
BLOCKED_WHILE_PENDING = {
    None,
    "block",
    "blocklist",
    "page",
    "appendblock",
    "metadata",
    "properties",
}
#: Writes after which Azure no longer reports the blob's last copy.
CLEARS_COPY_PROPERTIES = {None, "blocklist", "properties"}
DEST_CONDITIONS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


def blob_key(request: web.Request) -> BlobKey | None:
    """(account, container, blob) for a request on a base blob, else None."""
    parts = request.path.split("/", 3)
    if len(parts) != 4 or not parts[3] or not parts[1] or not parts[2]:
        return None
    if "snapshot" in request.query or "versionid" in request.query:
        return None
    return (parts[1], parts[2], parts[3])


def upstream_error(request: web.Request, resp: UpstreamResponse) -> web.Response:
    """Replay an error Azurite gave the engine, as the answer to the client's request."""
    headers = service_headers(request)
    if resp.error_code:
        headers["x-ms-error-code"] = resp.error_code
    return web.Response(
        status=resp.status, headers=headers, body=resp.body, content_type="application/xml"
    )


class CopyManager:
    """Holds the copy store and the running jobs of one engine."""

    def __init__(
        self,
        config: EngineConfig,
        faults: FaultInjector,
        session: aiohttp.ClientSession,
        counter: TransactionCounter | None = None,
    ) -> None:
        self.config = config
        self.counter = counter or TransactionCounter()
        self.faults = faults
        self.session = session
        self.store = CopyStore(config.state_path)
        self.upstream = Upstream(session, config.upstream, config.account_key)
        self.client = UpstreamClient(session, config.upstream, config.account_key, faults)
        self.jobs: dict[BlobKey, CopyJob] = {}
        #: Destinations whose Copy Blob is being verified and started (not yet in `jobs`).
        self._starting: set[BlobKey] = set()

    async def stop(self) -> None:
        """Cancel running copies; with persisted state they go on when the engine starts again."""
        await cancel_and_wait(j.task for j in self.jobs.values() if j.task is not None)
        self.jobs.clear()
        self.store.close()

    # -- routing -----------------------------------------------------------------------------

    async def intercept(self, request: web.Request) -> web.StreamResponse | None:
        """The engine's own answer to `request`, or None to forward it to Azurite."""
        key = blob_key(request)
        if key is None:
            if listing.wants_copy_properties(request):
                return await listing.list_with_copy(request, self.upstream, self.store)
            return None
        if leases.is_lease_renewal(request):
            return await leases.refuse_renewing_broken_lease(
                request, key, self.client, self.upstream
            )
        comp = request.query.get("comp")
        record = self.store.get(key)
        pending = record is not None and record.status == "pending"
        if request.method == "PUT" and comp is None and self._is_copy_blob(request):
            if pending or key in self._starting:
                return storage_error(request, 409, "PendingCopyOperation")
            if self._is_synchronous(request, key):
                return None
            # Reserved before the first await: a concurrent second copy answers 409, as in Azure.
            self._starting.add(key)
            try:
                return await self._start_async(request, key)
            finally:
                self._starting.discard(key)
        if request.method == "PUT" and comp == "copy":
            if request.headers.get("x-ms-copy-action", "").lower() != "abort" or record is None:
                return None
            return await self._abort(request, key, record)
        if pending and request.method == "PUT" and comp in BLOCKED_WHILE_PENDING:
            return storage_error(request, 409, "PendingCopyOperation")
        return None

    async def _abort(self, request: web.Request, key: BlobKey, record: CopyRecord) -> web.Response:
        """Abort Copy Blob: stop the copy into `key` unless abort.py refuses."""
        refused = await abort.refusal(
            request, key, record, upstream=self.upstream, client=self.client, store=self.store
        )
        if refused is not None:
            return refused
        job = self.jobs.pop(key, None)
        if job is not None:
            job.writer.lease_id = request.headers.get("x-ms-lease-id")
            await job.abort()
        else:
            record.finish("aborted")
            self.store.put(record)
        log.info("copy %s aborted", record.copy_id)
        return web.Response(status=204, headers=service_headers(request))

    def response_rewriter(self, request: web.Request) -> proxy.HeaderHook | None:
        """A hook merging or dropping copy properties on a forwarded answer, if needed."""
        key = blob_key(request)
        if key is None:
            return self._container_rewriter(request)
        comp = request.query.get("comp")
        if request.method in ("GET", "HEAD") and comp is None:
            record = self.store.get(key)
            if record is None:
                return None

            def merge(status: int, headers: CIMultiDict[str]) -> None:
                if status < 300:
                    for name in [h for h in headers if h.lower().startswith("x-ms-copy-")]:
                        del headers[name]
                    headers.update(record.headers())

            return merge
        if request.method == "DELETE":
            if request.headers.get("x-ms-delete-snapshots", "").lower() == "only":
                return None  # the base blob, and so its copy, stays

            def delete(status: int, headers: CIMultiDict[str]) -> None:
                # Only a delete Azurite accepted ends the copy (and forgets it).
                if status < 300:
                    self._cancel_jobs([key])
                    self.store.drop(key)

            return delete
        if request.method == "PUT" and comp in CLEARS_COPY_PROPERTIES:

            def drop(status: int, headers: CIMultiDict[str]) -> None:
                if status < 300:
                    self.store.drop(key)

            return drop
        return None

    def _cancel_jobs(self, keys: list[BlobKey]) -> None:
        """Stop the copies into deleted destinations; their records read `aborted` until dropped."""
        for key in keys:
            job = self.jobs.pop(key, None)
            if job is None:
                continue
            if job.task is not None:
                job.task.cancel()
            if job.record.status == "pending":
                job.record.finish("aborted")

    def _container_rewriter(self, request: web.Request) -> proxy.HeaderHook | None:
        """Delete Container forgets the copies into it."""
        parts = request.path.strip("/").split("/")
        if request.method != "DELETE" or len(parts) != 2 or "restype" not in request.query:
            return None
        account, container = parts

        def drop_all(status: int, headers: CIMultiDict[str]) -> None:
            if status < 300:
                self._cancel_jobs([k for k in self.jobs if k[:2] == (account, container)])
                self.store.drop_container(account, container)

        return drop_all

    @staticmethod
    def _is_copy_blob(request: web.Request) -> bool:
        """Copy Blob, not Copy Blob From URL (requires-sync) nor Put Blob From URL (blob type)."""
        return operation(request.method, request.query, request.headers) == COPY_BLOB

    def _is_own(self, url: URL) -> bool:
        """Whether `url` points at this engine's public blob endpoint."""
        if url.port != self.config.port:
            return False
        return url.host == self.config.host or (
            url.host in LOOPBACK_NAMES and self.config.host in LOOPBACK_NAMES
        )

    def _is_synchronous(self, request: web.Request, key: BlobKey) -> bool:
        if self.config.all_async:
            return False
        source = URL(request.headers["x-ms-copy-source"], encoded=True)
        if not source.is_absolute() or not self._is_own(source):
            return False
        return source.path.split("/")[1:2] == [key[0]]

    # -- copy blob ---------------------------------------------------------------------------

    async def _start_async(self, request: web.Request, key: BlobKey) -> web.Response:
        denied = await authorize_write(request, self.upstream)
        if denied is not None:
            return denied
        source_url = request.headers["x-ms-copy-source"]
        src = URL(source_url, encoded=True)
        if not src.is_absolute() or src.scheme not in ("http", "https"):
            return storage_error(request, 400, "InvalidHeaderValue", HeaderName="x-ms-copy-source")
        own = self._is_own(src)
        read_url = self.upstream.url(src.raw_path_qs)
        read_headers = {"x-ms-version": request.headers.get("x-ms-version", "2021-12-02")}
        if "x-ms-copy-source-authorization" in request.headers:
            read_headers["Authorization"] = request.headers["x-ms-copy-source-authorization"]
        same_account_unsigned = (
            own
            and src.path.split("/")[1:2] == [key[0]]
            and "sig" not in src.query
            and "Authorization" not in read_headers
        )
        access = SourceAccess(
            url=read_url if own else src,
            headers=read_headers,
            signing_account=key[0] if same_account_unsigned else None,
            signing_key=self.config.account_key if same_account_unsigned else None,
        )
        conditions = {
            cond: request.headers[name]
            for name, cond in SOURCE_CONDITIONS.items()
            if name in request.headers
        }
        try:
            source = await verify(self.session, self.faults, access, conditions)
        except SourceError as exc:
            if conditions and exc.status in (304, 412):
                return storage_error(request, 412, "SourceConditionNotMet")
            return error_response(
                request,
                exc.status,
                "CannotVerifyCopySource",
                exc.message,
                extra={"CopySourceStatusCode": str(exc.status), "CopySourceErrorCode": exc.code},
            )
        ref = BlobRef(*key)
        existing = await self.client.properties(ref)
        if existing.ok and existing.headers.get("x-ms-blob-type") != source.blob_type:
            return storage_error(request, 409, "InvalidBlobType")
        own_meta = {k: v for k, v in request.headers.items() if k.lower().startswith("x-ms-meta-")}
        writer = DestinationWriter(
            client=self.client,
            ref=ref,
            blob_type=source.blob_type,
            content=source.content,
            metadata=own_meta or source.metadata,
            lease_id=request.headers.get("x-ms-lease-id"),
            tags=request.headers.get("x-ms-tags"),
            tier=request.headers.get("x-ms-access-tier"),
        )
        dest_conditions = {h: request.headers[h] for h in DEST_CONDITIONS if h in request.headers}
        size = (source.length or 0) if source.blob_type == "PageBlob" else 0
        created = await writer.create(size=size, conditions=dest_conditions)
        if not created.ok:
            return upstream_error(request, created)
        record = CopyRecord(
            account=key[0],
            container=key[1],
            blob=key[2],
            copy_id=str(uuid.uuid4()),
            source=redact_url(source_url),
            total=source.length,
        )
        self.store.put(record)
        self.store.keep_plan(key, resume.plan_of(source, writer, self.config.upstream))
        self._launch(record, source, writer)
        log.info("copy %s pending: %s -> %s", record.copy_id, record.source, ref.raw_path)
        headers = service_headers(request)
        for name in ("ETag", "Last-Modified"):
            if name in created.headers:
                headers[name] = created.headers[name]
        headers["x-ms-copy-id"] = record.copy_id
        headers["x-ms-copy-status"] = "pending"
        return web.Response(status=202, headers=headers)

    def _launch(self, record: CopyRecord, source: CopySource, writer: DestinationWriter) -> None:
        """Run the copy in the background until it ends."""
        key = record.key
        job = CopyJob(
            record=record,
            store=self.store,
            reader=SourceReader(self.session, self.faults, source),
            writer=writer,
            faults=self.faults,
            chunk_bytes=self._chunk_bytes(),
            rate_bytes_per_s=self.config.copy_rate_bytes_per_s,
        )
        self.jobs[key] = job
        self.counter.copy_pending(f"{key[0]}/{key[1]}", +1)
        job.start()
        assert job.task is not None
        job.task.add_done_callback(lambda _t: self._forget(key, job))

    async def resume(self) -> None:
        """Go on with the copies that were pending when the engine last stopped (resume.py):
        each starts again from its first byte into an emptied destination."""
        for record, plan in self.store.resumable():
            source = resume.source_of(plan, self.config.account_key, self.config.upstream)
            writer = resume.writer_of(plan, self.client, BlobRef(*record.key))
            size = (source.length or 0) if source.blob_type == "PageBlob" else 0
            emptied = await writer.create(size=size)
            if not emptied.ok:
                record.finish("failed", f'{emptied.status} {emptied.error_code} "Resume failed."')
                self.store.put(record)
                continue
            record.copied = 0
            self.store.put(record)
            self._launch(record, source, writer)
            log.info("copy %s resumed after an engine restart: %s", record.copy_id, record.source)

    def _chunk_bytes(self) -> int:
        """The configured chunk, smaller under a low rate so progress moves smoothly."""
        chunk = self.config.chunk_bytes
        if self.config.copy_rate_bytes_per_s is not None:
            chunk = min(chunk, max(64 * 1024, int(self.config.copy_rate_bytes_per_s / 8)))
        return max(512, chunk - chunk % 512) if chunk >= 512 else chunk

    def _forget(self, key: BlobKey, job: CopyJob) -> None:
        self.counter.copy_pending(f"{key[0]}/{key[1]}", -1)
        if self.jobs.get(key) is job:
            del self.jobs[key]
