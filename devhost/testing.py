"""Run a Functions app under devhost from a test: a real subprocess on a free loopback port.

A subprocess, not a thread: the app imports `function_app` and reads its settings from the
process environment, so two apps (or an app and the test) must not share a process; and a
restart test needs a process it can kill. The host binds port 0 and reports the port it got
through a ready file, so there is no window in which another process can take it.

    with run_app(APP_DIR, env=storage_env(stack)) as base_url:
        urllib.request.urlopen(f"{base_url}/api/hello")

    with AppHost(APP_DIR, env=...) as host:      # when a test needs to stop or restart it
        host.restart(kill=True)                  # SIGKILL, then start again on the same history

    with AppHost(APP_DIR, env=..., require_keys=True) as host:   # keys required, as in Azure
        http("GET", url, headers={"x-functions-key": host.function_key})
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import devhost
from devhost.lifetime import Service
from devhost.settings import DEFAULT_STORAGE_SETTING, ca_trust_environment

if TYPE_CHECKING:
    from devhost.storage.stack import StorageStack

REPO_ROOT = Path(devhost.__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class HostStartError(RuntimeError):
    """Raised when devhost exits or stays silent instead of serving; carries its output."""


class AppHost(Service):
    """One devhost process serving one app; start, stop and restart it at will."""

    def __init__(
        self,
        app_dir: Path | str,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        durable_db: Path | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        require_keys: bool = False,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self._env = dict(env or {})
        self._port = port
        self._workdir = Path(tempfile.mkdtemp(prefix="devhost-"))
        self.durable_db = durable_db or self._workdir / "durable.sqlite"
        self._extra_args = extra_args
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = self._workdir / "host.log"
        self.base_url = ""
        #: The key callers must send when `require_keys` (the same across restarts, as in
        #: Azure); None when keys are not required.
        self.function_key = secrets.token_urlsafe(40) if require_keys else None

    def _command(self, ready_file: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "devhost",
            "run",
            str(self.app_dir),
            "--port",
            str(self._port or 0),
            "--durable-db",
            str(self.durable_db),
            "--ready-file",
            str(ready_file),
            *(["--require-keys"] if self.function_key else []),
            *self._extra_args,
        ]

    def _environment(self) -> dict[str, str]:
        from devhost.cli import FUNCTION_KEY_ENV  # here: the CLI imports the whole host

        env = {**os.environ, **self._env, "PYTHONUNBUFFERED": "1"}
        env.pop(FUNCTION_KEY_ENV, None)  # only this host's own key, never one inherited
        if self.function_key:
            env[FUNCTION_KEY_ENV] = self.function_key
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        return env

    def start(self) -> str:
        """Start the host and wait until it serves; return its base URL."""
        if self._process is not None:
            raise RuntimeError("the host is already running")
        ready_file = self._workdir / "ready"
        ready_file.unlink(missing_ok=True)
        with self._log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                self._command(ready_file),
                cwd=self.app_dir,
                env=self._environment(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + self._startup_timeout_s
        while not (ready_file.exists() and ready_file.read_text(encoding="utf-8")):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop(kill=True)
                raise HostStartError(
                    f"devhost did not start serving {self.app_dir}:\n{self.output()}"
                )
            time.sleep(0.05)
        self.base_url = ready_file.read_text(encoding="utf-8").strip()
        return self.base_url

    def stop(self, *, kill: bool = False) -> int | None:
        """Stop the host: SIGTERM and a graceful shutdown, or SIGKILL to simulate a crash."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def restart(self, *, kill: bool = False) -> str:
        """Stop (or kill) the host and start it again on the same history.

        With `port=None` the new process gets a new free port (see `base_url`); give a port when
        URLs handed out before the restart (status URLs) must keep working.
        """
        self.stop(kill=kill)
        return self.start()

    def output(self) -> str:
        """Everything the host printed so far (all runs)."""
        if not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        """Stop the host and remove its temporary files."""
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)


def storage_env(stack: StorageStack, account: str | None = None) -> dict[str, str]:
    """App settings pointing an app at a running storage stack (trusting its CA over HTTPS)."""
    conn = stack.connection_string() if account is None else stack.connection_string(account)
    env = {DEFAULT_STORAGE_SETTING: conn}
    if stack.ca_cert_path is not None:
        bundle = stack.ca_cert_path.with_name("devhost-ca-bundle.pem")
        env |= ca_trust_environment(stack.ca_cert_path, bundle)
    return env


@contextmanager
def run_app(
    app_dir: Path | str,
    *,
    env: Mapping[str, str],
    port: int | None = None,
    durable_db: Path | None = None,
) -> Iterator[str]:
    """Serve an app for the duration of the block; yield its base URL (`http://127.0.0.1:N`)."""
    with AppHost(app_dir, env=env, port=port, durable_db=durable_db) as host:
        yield host.base_url


@dataclass(frozen=True)
class Reply:
    """An HTTP response, read whole (headers lower-cased)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http(
    method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """Send one request on loopback and return the reply, error statuses included."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


T = TypeVar("T")
WAIT_LIMIT_S = 60.0


def wait_for(probe: Callable[[], T | None], *, what: str, limit_s: float = WAIT_LIMIT_S) -> T:
    """Poll until `probe` returns something other than None; fail (never hang) past the limit."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)
