"""The copy engine's HTTP(S) server: the public blob endpoint in front of Azurite.

Every request is forwarded to Azurite unchanged, except the few the engine owns: Copy Blob that
must run asynchronously, Abort Copy Blob on its own copies, writes to a destination with a
pending copy, and reads of a destination whose copy properties it must add. Every client request
is counted first (transactions.py), then fault rules apply. Routes under `/__copyengine/` are the
control API (no storage account starts with `_`), neither counted nor faulted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web

from devhost.storage import control, proxy
from devhost.storage.config import EngineConfig
from devhost.storage.copies import CopyManager
from devhost.storage.errors import error_response
from devhost.storage.faults import FaultInjector
from devhost.storage.fileendpoint import FileEndpoint
from devhost.storage.operations import COPY_BLOB, operation
from devhost.storage.transactions import TransactionCounter
from devhost.storage.versions import Versions

log = logging.getLogger(__name__)

CONTROL_PREFIX = control.PREFIX + "/"


class CopyEngine:
    """Owns the aiohttp server, the upstream session and the copy manager, on one event loop."""

    def __init__(
        self, config: EngineConfig, faults: FaultInjector, transactions: TransactionCounter
    ) -> None:
        self.config = config
        self.faults = faults
        self.transactions = transactions
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._copies: CopyManager | None = None
        self._files_runner: web.AppRunner | None = None
        self.files: FileEndpoint | None = None
        self.versions: Versions | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "engine not started"
        return self._session

    @property
    def copies(self) -> CopyManager:
        assert self._copies is not None, "engine not started"
        return self._copies

    async def start(self) -> None:
        """Bind the public port and get ready to forward."""
        connector = aiohttp.TCPConnector(limit=0, ssl=self.config.client_ssl or True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
            auto_decompress=False,
        )
        self._copies = CopyManager(self.config, self.faults, self._session, self.transactions)
        self.versions = Versions(self._session, self.config.upstream, self.config.account_key)
        await self._copies.resume()
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self.config.host,
            self.config.port,
            ssl_context=self.config.server_ssl,
            reuse_address=True,
        )
        await site.start()
        await self._start_files()

    async def _start_files(self) -> None:
        """Bind the Files endpoint's port, when configured (Azurite has no File service)."""
        if self.config.file_port is None:
            return
        self.files = FileEndpoint(
            self.session, str(self.config.upstream), self.config.accounts, self.config.account_key
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.files.handle)
        self._files_runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._files_runner.setup()
        site = web.TCPSite(
            self._files_runner,
            self.config.host,
            self.config.file_port,
            ssl_context=self.config.server_ssl,
            reuse_address=True,
        )
        await site.start()

    async def stop(self) -> None:
        """Stop serving, cancel running copies (their state says so), close sessions."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._files_runner is not None:
            await self._files_runner.cleanup()
            self._files_runner = None
        if self._copies is not None:
            await self._copies.stop()
            self._copies = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await control.handle(request, self.faults, self.copies.store, self.transactions)
        name = operation(request.method, request.query, request.headers)
        self.transactions.request(request.path.split("/", 2)[1], name)
        if name != COPY_BLOB:
            return await self._serve(request)
        storage_status: list[int] = []  # Azurite's answer, when the copy was forwarded to it
        status = 500  # an answer that never came (the handler raised) accepted nothing
        try:
            response = await self._serve(request, storage_status.append)
            status = response.status
            return response
        finally:
            # A client gone before the answer reached it (a SIGKILLed host) gets a 502 from us,
            # but the copy Azurite accepted is counted: it copied all the same.
            done = storage_status[-1] if storage_status else status
            self.transactions.copy_answered(request.path.removeprefix("/"), done)

    async def _serve(
        self, request: web.Request, answered: Callable[[int], None] | None = None
    ) -> web.StreamResponse:
        """Apply the fault rules, then answer as the copy manager or Azurite does."""
        action = self.faults.take(
            "request",
            request.method,
            request.path,
            request.query_string,
            frozenset(k.lower() for k in request.headers),
        )
        if action is not None:
            if action.delay_s > 0:
                await asyncio.sleep(action.delay_s)
            if action.status is not None:
                return error_response(request, action.status, action.code, action.message)
        try:
            owned = await self.copies.intercept(request)
            if owned is not None:
                return owned
            if self.versions is not None:
                hook = self.copies.response_rewriter(request)
                versioned = await self.versions.serve(request, hook)
                if versioned is not None:
                    return versioned
            return await proxy.forward(
                request,
                self.session,
                self.config.upstream,
                rewrite=self.copies.response_rewriter(request),
                answered=answered,
            )
        except aiohttp.ClientError as exc:
            log.warning("upstream error for %s %s: %s", request.method, request.path, exc)
            return error_response(request, 502, "BadGateway", "Azurite did not answer.")
