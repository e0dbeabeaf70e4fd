"""The function host: one app directory served the way `func start` serves it.

Start-up order matters and mirrors the real host: settings first (local.settings.json values
become environment variables before the app is imported, since apps read them at import), then
host.json, then indexing; the web front is bound before the Durable engine starts so that the
durable client's URLs point at a live port, and queue listeners start last. Shutdown runs in
reverse, letting running functions finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from devhost.functions import logs
from devhost.functions.durable import activity_runners, orchestrator_runners
from devhost.functions.http_server import HttpTriggers, build_web_app
from devhost.functions.indexer import (
    ACTIVITY_TRIGGER,
    DURABLE_CLIENT,
    ORCHESTRATION_TRIGGER,
    QUEUE_TRIGGER,
    AppIndex,
    IndexingError,
    load_app,
)
from devhost.functions.invoker import Invoker
from devhost.functions.queue_clients import QueueClients
from devhost.functions.queue_listener import QueueListener
from devhost.settings import (
    DEFAULT_HTTP_PORT,
    HostConfig,
    apply_local_settings,
    load_durable_settings,
    load_host_config,
    load_local_settings,
    resolve_app_setting_refs,
    with_queue_settings,
)

if TYPE_CHECKING:
    from devhost.durable.engine import DurableEngine

log = logging.getLogger(logs.HOST_LOGGER)

DURABLE_DB = Path(".devhost") / "durable.sqlite"


@dataclass(frozen=True, kw_only=True)
class HostOptions:
    """How to run an app: where it is, where to listen, where durable state lives."""

    app_dir: Path
    host: str = "127.0.0.1"
    port: int | None = None  # None: local.settings.json Host.LocalHttpPort, else 7071; 0: any free
    durable_db: Path | None = None  # None: <app_dir>/.devhost/durable.sqlite
    ready_file: Path | None = None  # written with the base URL once everything runs
    function_key: str | None = None  # set: keyed HTTP functions answer 401 without it


def _uses_durable(index: AppIndex) -> bool:
    durable_triggers = (ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER)
    return any(
        f.trigger.type in durable_triggers or any(b.type == DURABLE_CLIENT for b in f.inputs)
        for f in index.functions
    )


class FunctionHost:
    """Runs one Functions app: HTTP triggers, queue triggers and the Durable engine."""

    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.app_dir = options.app_dir.resolve()
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._listeners: list[QueueListener] = []
        self._engine: DurableEngine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._queue_clients: QueueClients | None = None

    def _durable_engine(
        self, index: AppIndex, config: HostConfig, invoker: Invoker
    ) -> DurableEngine:
        try:
            from devhost.durable.engine import DurableEngine
        except ImportError as exc:
            raise IndexingError(
                f"this app uses Durable Functions and the engine is missing: {exc}"
            ) from exc
        db_path = (self.options.durable_db or self.app_dir / DURABLE_DB).resolve()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if config.hub_name:
            kwargs["task_hub"] = resolve_app_setting_refs(config.hub_name)
        log.info("Durable task hub %s, history in %s", kwargs.get("task_hub", "(default)"), db_path)
        return DurableEngine(
            db_path=db_path,
            orchestrators=orchestrator_runners(index.functions, invoker),
            activities=activity_runners(index.functions, invoker),
            settings=load_durable_settings(),
            **kwargs,
        )

    async def start(self) -> str:
        """Load, index and serve the app; return its base URL (`http://127.0.0.1:7071`)."""
        local = load_local_settings(self.app_dir)
        skipped = apply_local_settings(local)
        if local.source is not None:
            log.info("Settings from %s", local.source.name)
        for name in skipped:
            log.info(
                "Skipping '%s' from local settings as it's already defined in the environment.",
                name,
            )
        config = load_host_config(self.app_dir)
        os.chdir(self.app_dir)  # the worker runs with the app root as its working directory
        index = load_app(self.app_dir)
        for reason in index.skipped:
            log.warning("Function skipped: %s", reason)

        threads = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT")
        self._executor = ThreadPoolExecutor(
            max_workers=int(threads) if threads else None, thread_name_prefix="devhost-function"
        )
        self._queue_clients = QueueClients(with_queue_settings(config.queues))
        invoker = Invoker(
            app_dir=self.app_dir, executor=self._executor, queue_output=self._queue_clients
        )
        if _uses_durable(index):
            self._engine = self._durable_engine(index, config, invoker)

        triggers = HttpTriggers(
            index.functions, config.route_prefix, invoker, self.options.function_key
        )
        add_routes = None
        if self._engine is not None:
            from devhost.durable.api import DurableApi  # beside the engine, imported just above

            add_routes = DurableApi(self._engine).add_routes
        self._runner = web.AppRunner(
            build_web_app(triggers, add_extra_routes=add_routes), access_log=None
        )
        await self._runner.setup()
        port = (
            self.options.port
            if self.options.port is not None
            else local.http_port or DEFAULT_HTTP_PORT
        )
        site = web.TCPSite(self._runner, self.options.host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.options.host}:{bound_port}"

        if self._engine is not None:
            client_json = str(self._engine.client_binding_json(self.base_url))
            invoker.set_durable_client(lambda: client_json)
            await self._engine.start()
        for spec in index.by_trigger(QUEUE_TRIGGER):
            listener = QueueListener(spec, self._queue_clients, invoker)
            listener.start()
            self._listeners.append(listener)

        log.info("%s", logs.function_listing(index.functions, self.base_url, config.route_prefix))
        if self.options.function_key is not None:
            # The one secret devhost prints: a caller needs it, as `func keys list` gives it.
            log.info("Function keys required. function key: %s", self.options.function_key)
        log.info("Host started: %s (Ctrl+C to stop)", self.base_url)
        if self.options.ready_file is not None:
            # Write then rename, so a watcher never reads a half-written file.
            partial = self.options.ready_file.with_name(self.options.ready_file.name + ".partial")
            partial.write_text(self.base_url, encoding="utf-8")
            partial.replace(self.options.ready_file)
        return self.base_url

    async def stop(self) -> None:
        """Stop triggers, then the engine, then the web front; let running functions finish."""
        log.info("Stopping host...")
        for listener in self._listeners:
            await listener.stop()
        self._listeners.clear()
        if self._engine is not None:
            await self._engine.stop()
            self._engine = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._queue_clients is not None:
            await self._queue_clients.close()
            self._queue_clients = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=False)
            self._executor = None
        await _close_durable_client_session()
        log.info("Host stopped.")


async def _close_durable_client_session() -> None:
    """Close the aiohttp session the durable SDK keeps for client calls, with its loop.

    The SDK has no shutdown hook (the worker just exits); without this, Python warns about an
    unclosed session at exit.
    """
    module = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    close = getattr(module, "_close_session", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


async def serve(options: HostOptions) -> None:
    """Run the host until SIGINT (Ctrl+C) or SIGTERM."""
    host = FunctionHost(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
        await stop.wait()
    finally:
        await host.stop()
