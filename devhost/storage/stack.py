"""The local storage stack: Azurite (queue, table, internal blob) + the copy engine (public blob).

`StorageStack` is what tests, devhost and `python -m devhost.storage` start. It is synchronous on
purpose: the copy engine runs on its own event loop in a background thread, so callers with or
without an event loop (pytest fixtures, the CLI, the Functions host) can use it alike.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from yarl import URL

from devhost.lifetime import Service
from devhost.storage.azurite import DEV_ACCOUNT_KEY, AzuriteOptions, AzuriteProcess
from devhost.storage.certs import CertFiles, make_certs
from devhost.storage.config import EngineConfig
from devhost.storage.engine import CopyEngine
from devhost.storage.faults import FaultInjector
from devhost.storage.transactions import TransactionCounter, Transactions

__all__ = ["ACCOUNTS", "DEV_ACCOUNT_KEY", "StorageConfig", "StorageStack"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The destination account (the default) and a second account used as a copy source.
ACCOUNTS: tuple[str, str] = ("devstoreaccount1", "devstoreaccount2")


def _free_ports(host: str, count: int) -> list[int]:
    """`count` distinct ports free on `host` now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    """Ports, protocol and copy behaviour of one storage stack (defaults: Azure's dev ports)."""

    host: str = "127.0.0.1"
    blob_port: int = 10000  # public blob port = copy engine
    queue_port: int = 10001
    table_port: int = 10002
    #: The copy engine's read-only Azure Files endpoint (fileendpoint.py); None = blob_port + 4
    #: (10004 beside the dev ports), so a stack moved to other ports moves it too.
    file_port: int | None = None
    https: bool = False  # HTTPS + --oauth basic
    copy_rate_bytes_per_s: float | None = 64 * 1024 * 1024  # None = unlimited
    all_async: bool = False
    data_dir: Path | None = None  # None = a temp dir removed on stop
    azurite_blob_port: int | None = None  # None = a free port picked at start
    copy_chunk_bytes: int = 4 * 1024 * 1024
    start_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.file_port is None:
            object.__setattr__(self, "file_port", self.blob_port + 4)
        if self.copy_rate_bytes_per_s is not None and self.copy_rate_bytes_per_s <= 0:
            raise ValueError("copy_rate_bytes_per_s must be positive, or None for no limit")
        if self.copy_chunk_bytes < 1 or self.copy_chunk_bytes > 100 * 1024 * 1024:
            raise ValueError("copy_chunk_bytes must be between 1 byte and 100 MiB")

    @classmethod
    def free_ports(cls, **overrides: Any) -> StorageConfig:
        """A config on free loopback ports (for tests); `overrides` set any other field."""
        host = overrides.get("host", "127.0.0.1")
        blob, queue, table, internal, files = _free_ports(host, 5)
        ports = {
            "blob_port": blob,
            "queue_port": queue,
            "table_port": table,
            "azurite_blob_port": internal,
            "file_port": files,
        }
        return cls(**{**ports, **overrides})


class _EngineThread:
    """Runs the copy engine's event loop in a daemon thread."""

    def __init__(self, engine: CopyEngine) -> None:
        self.engine = engine
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="copy-engine", daemon=True)

    def start(self, timeout_s: float) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("copy engine did not start in time")
        if self._error is not None:
            raise RuntimeError(f"copy engine failed to start: {self._error}") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.engine.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            self.loop.run_until_complete(self.engine.stop())
            self.loop.close()
            return
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.engine.stop())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` run on the engine's loop: what only the loop changes is read there whole."""
        if not self._thread.is_alive():
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=30)


class StorageStack(Service):
    """Azurite + copy engine, started and stopped together."""

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.faults = FaultInjector()
        # Not public as `faults` is: the counter has no lock, so only the engine's loop reads it.
        self._transactions = TransactionCounter()
        self.ca_cert_path: Path | None = None
        self._certs: CertFiles | None = None
        self._temp_dir: Path | None = None
        self._azurite: AzuriteProcess | None = None
        self._engine: _EngineThread | None = None
        self._lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start Azurite, then the copy engine in front of it; return when both serve."""
        with self._lock:
            if self._azurite is not None:
                return
            try:
                self._start()
            except BaseException:
                self._stop()
                raise

    def _start(self) -> None:
        # A test run that dies without finalizers must not leave Azurite running.
        atexit.register(self.stop)
        cfg = self.config
        if cfg.azurite_blob_port is None:
            cfg = replace(cfg, azurite_blob_port=_free_ports(cfg.host, 1)[0])
            self.config = cfg
        assert cfg.azurite_blob_port is not None
        if cfg.data_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="devhost-storage-"))
            data_dir = self._temp_dir
        else:
            data_dir = cfg.data_dir
            data_dir.mkdir(parents=True, exist_ok=True)
        if cfg.https:
            self._certs = make_certs(data_dir / "certs")
            self.ca_cert_path = self._certs.ca_path
        self._azurite = AzuriteProcess(
            AzuriteOptions(
                host=cfg.host,
                blob_port=cfg.azurite_blob_port,
                queue_port=cfg.queue_port,
                table_port=cfg.table_port,
                location=data_dir / "azurite",
                accounts=ACCOUNTS,
                cert_path=self._certs.cert_path if self._certs else None,
                key_path=self._certs.key_path if self._certs else None,
                ca_path=self._certs.ca_path if self._certs else None,
            ),
            log_path=data_dir / "azurite.log",
        )
        self._azurite.start(cfg.start_timeout_s)
        engine = CopyEngine(
            EngineConfig(
                host=cfg.host,
                port=cfg.blob_port,
                upstream=URL.build(scheme=self.scheme, host=cfg.host, port=cfg.azurite_blob_port),
                accounts=ACCOUNTS,
                account_key=DEV_ACCOUNT_KEY,
                state_path=data_dir / "copystate.sqlite",
                copy_rate_bytes_per_s=cfg.copy_rate_bytes_per_s,
                all_async=cfg.all_async,
                chunk_bytes=cfg.copy_chunk_bytes,
                server_ssl=self._certs.server_context() if self._certs else None,
                client_ssl=self._certs.client_context() if self._certs else None,
                file_port=cfg.file_port,
            ),
            self.faults,
            self._transactions,
        )
        self._engine = _EngineThread(engine)
        self._engine.start(cfg.start_timeout_s)
        log.info("storage stack up: blob %s", self.blob_endpoint())

    def stop(self) -> None:
        """Stop the engine and Azurite, remove the temp dir; safe to call more than once."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        atexit.unregister(self.stop)
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.stop()
        azurite, self._azurite = self._azurite, None
        if azurite is not None:
            azurite.stop()
        temp, self._temp_dir = self._temp_dir, None
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
            self.ca_cert_path = None

    # -- transactions ------------------------------------------------------------------------

    def transactions(self) -> Transactions:
        """What clients have sent the blob endpoint since the start or the last reset."""
        return self._on_engine(self._transactions.snapshot)

    def reset_transactions(self) -> None:
        """Zero the transaction counts (tests share one stack, so each resets before counting)."""
        self._on_engine(self._transactions.reset)

    def _on_engine(self, fn: Callable[[], T]) -> T:
        engine = self._engine
        return fn() if engine is None else engine.call(fn)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.config.https else "http"

    @property
    def engine(self) -> CopyEngine:
        """The running copy engine (for tests that need its internals)."""
        assert self._engine is not None, "storage stack not started"
        return self._engine.engine

    def _endpoint(self, port: int, account: str) -> str:
        if account not in ACCOUNTS:
            raise ValueError(f"unknown account {account!r}; this stack serves {ACCOUNTS}")
        return f"{self.scheme}://{self.config.host}:{port}/{account}"

    def blob_endpoint(self, account: str = ACCOUNTS[0]) -> str:
        return self._endpoint(self.config.blob_port, account)

    def file_endpoint(self, account: str = ACCOUNTS[0]) -> str:
        """The account's Azure Files endpoint (the engine's read-only one)."""
        assert self.config.file_port is not None  # set by StorageConfig.__post_init__
        return self._endpoint(self.config.file_port, account)

    def enable_versioning(self, account: str, container: str) -> None:
        """Keep blob versions in this container from now on (devhost/storage/versions.py)."""
        engine = self.engine

        def enable() -> None:
            assert engine.versions is not None, "engine not started"
            engine.versions.enable(account, container)

        self._on_engine(enable)

    def file_reads(self) -> int:
        """Requests the Files endpoint has answered since the stack started."""
        files = self.engine.files
        return 0 if files is None else self._on_engine(lambda: files.reads)

    def queue_endpoint(self, account: str = ACCOUNTS[0]) -> str:
        return self._endpoint(self.config.queue_port, account)

    def table_endpoint(self, account: str = ACCOUNTS[0]) -> str:
        return self._endpoint(self.config.table_port, account)

    @property
    def control_url(self) -> str:
        """Base URL of the copy engine's control API."""
        return f"{self.scheme}://{self.config.host}:{self.config.blob_port}/__copyengine"

    def connection_string(self, account: str = ACCOUNTS[0]) -> str:
        """A full connection string (explicit endpoints, so any port and protocol works)."""
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={account};"
            f"AccountKey={DEV_ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint(account)};"
            f"QueueEndpoint={self.queue_endpoint(account)};"
            f"TableEndpoint={self.table_endpoint(account)};"
            f"FileEndpoint={self.file_endpoint(account)};"
        )
