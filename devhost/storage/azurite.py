"""Azurite's life cycle: find it, start it with the flags our SDK needs, wait for it, stop it.

Azurite listens for blob on an internal port (the copy engine owns the public blob port) and for
queue and table on their public ports, so `UseDevelopmentStorage=true` keeps working for both.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devhost.lifetime import die_with_parent

#: Azurite's well-known development key, the same for every account it serves.
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_REPO_ROOT = Path(__file__).resolve().parents[2]


class AzuriteError(RuntimeError):
    """Azurite could not be found, did not start, or exited early."""


@dataclass(frozen=True, kw_only=True)
class AzuriteOptions:
    """Everything Azurite's command line and environment depend on."""

    host: str
    blob_port: int
    queue_port: int
    table_port: int
    location: Path
    accounts: tuple[str, ...]
    account_key: str = DEV_ACCOUNT_KEY
    cert_path: Path | None = None
    key_path: Path | None = None
    ca_path: Path | None = None
    debug_log: Path | None = None


def find_azurite() -> Path:
    """Return the azurite launcher, preferring the repo's pinned node_modules over PATH."""
    local = _REPO_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return local
    found = shutil.which("azurite")
    if found is None:
        raise AzuriteError("azurite not found: run `npm ci` in the repo root (or `make setup`)")
    return Path(found)


def build_command(options: AzuriteOptions, azurite: Path) -> list[str]:
    """Azurite's argv: telemetry off, API version check off (the SDK is newer), our ports."""
    argv = [
        str(azurite),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--silent",
        "--location",
        str(options.location),
        "--blobHost",
        options.host,
        "--blobPort",
        str(options.blob_port),
        "--queueHost",
        options.host,
        "--queuePort",
        str(options.queue_port),
        "--tableHost",
        options.host,
        "--tablePort",
        str(options.table_port),
    ]
    if options.cert_path is not None and options.key_path is not None:
        argv += ["--cert", str(options.cert_path), "--key", str(options.key_path)]
        argv += ["--oauth", "basic"]
    if options.debug_log is not None:
        argv += ["--debug", str(options.debug_log)]
    return argv


def build_env(options: AzuriteOptions) -> dict[str, str]:
    """Environment: both accounts with the well-known key; trust our CA when serving HTTPS."""
    env = dict(os.environ)
    env["AZURITE_ACCOUNTS"] = ";".join(f"{name}:{options.account_key}" for name in options.accounts)
    if options.ca_path is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(options.ca_path)
    return env


def wait_for_port(host: str, port: int, deadline: float, proc: subprocess.Popen[bytes]) -> None:
    """Block until host:port accepts TCP connections, failing fast if the process dies."""
    while True:
        if proc.poll() is not None:
            raise AzuriteError(f"azurite exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AzuriteError(f"azurite did not listen on {host}:{port} in time") from None
            time.sleep(0.05)


class AzuriteProcess:
    """One Azurite subprocess, in its own process group so stopping it stops node's children."""

    def __init__(self, options: AzuriteOptions, *, log_path: Path) -> None:
        self.options = options
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start Azurite and wait until blob, queue and table all accept connections."""
        self.options.location.mkdir(parents=True, exist_ok=True)
        argv = build_command(self.options, find_azurite())
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=build_env(self.options),
                cwd=self.options.location,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # not left holding its ports after our crash
            )
        deadline = time.monotonic() + timeout_s
        try:
            for port in (self.options.blob_port, self.options.queue_port, self.options.table_port):
                wait_for_port(self.options.host, port, deadline, self._proc)
        except AzuriteError as exc:
            self.stop()
            tail = self.log_tail()
            raise AzuriteError(f"{exc}; azurite log tail:\n{tail}") from None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            proc.wait(timeout=timeout_s)

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of Azurite's console log, for error messages."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode("utf-8", "replace")
