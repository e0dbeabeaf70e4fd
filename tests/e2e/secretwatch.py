"""The secrets scan wired into the e2e session: every place a credential could come out.

`SecretWatch.installed()` hooks, for the whole session, what every e2e test goes through, so a
new test is covered without doing anything:

- every devhost host's log (each `AppHost` started, its new lines swept after each test, and
  the rest read before it closes);
- every Python log record of the test process (the copy engine's and the SDKs' included), at
  INFO and above;
- every HTTP answer read through urllib (`devhost.testing.http`, `CopyApi`, the CLI's
  client): status documents, list pages, error bodies;
- the CLI's output, in process (`CliRunner.invoke`) or as a console script (`subprocess.run`);
- after each test, the messages on every queue of the stack (results, requests, poison);
- the storage stack's own Azurite log.

Findings are swept after each test by the `_no_secret_leaks` fixture (tests/e2e/conftest.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueServiceClient
from click.testing import CliRunner, Result

from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import ACCOUNTS, StorageStack
from devhost.testing import AppHost
from tests.secretscan import SecretScanner, account_keys


class _ScanningHandler(logging.Handler):
    """Scans each log record as it is emitted (any thread), formatted with its traceback."""

    def __init__(self, scanner: SecretScanner) -> None:
        super().__init__(logging.INFO)
        self.scanner = scanner
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.scanner.scan(self.format(record), f"Python log ({record.name})")
        except Exception:
            self.handleError(record)


class SecretWatch:
    """The session's scanner and the hooks that feed it."""

    def __init__(self) -> None:
        self.scanner = SecretScanner(keys={DEV_ACCOUNT_KEY})
        self._hosts: dict[AppHost, int] = {}
        self._stacks: list[StorageStack] = []

    # -- what is swept after each test -------------------------------------------------------

    def watch_stack(self, stack: StorageStack) -> None:
        """Scan this stack's queues and Azurite log after each test; know its account keys."""
        self._stacks.append(stack)
        self.scanner.keys |= account_keys(*(stack.connection_string(a) for a in ACCOUNTS))

    def sweep(self) -> list[str]:
        """Scan what is not streamed (host logs, queues, Azurite's log); every finding since
        the last sweep."""
        for host in list(self._hosts):
            self._read_host(host)
        for stack in self._stacks:
            self._scan_queues(stack)
            self._scan_azurite_log(stack)
        return self.scanner.take_findings()

    def _read_host(self, host: AppHost) -> None:
        text = host.output()
        seen = self._hosts.get(host, 0)
        self.scanner.scan(text[seen:], f"host log of {host.base_url or host.app_dir.name}")
        self._hosts[host] = len(text)

    def _scan_queues(self, stack: StorageStack) -> None:
        service = QueueServiceClient.from_connection_string(stack.connection_string())
        with service:
            for queue in service.list_queues():
                client = service.get_queue_client(queue.name)
                for message in client.peek_messages(max_messages=32):
                    where = f"a message on queue {queue.name}"
                    self.scanner.scan(_decoded(str(message.content)), where)

    def _scan_azurite_log(self, stack: StorageStack) -> None:
        azurite = getattr(stack, "_azurite", None)  # the stack keeps its process private
        log_path: Path | None = getattr(azurite, "log_path", None)
        if log_path is not None and log_path.exists():
            self.scanner.scan(log_path.read_bytes(), "Azurite's log")

    # -- the hooks ---------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def installed(cls) -> Iterator[SecretWatch]:
        """A watch with its hooks installed for the duration of the block."""
        watch = cls()
        root = logging.getLogger()
        handler, level = _ScanningHandler(watch.scanner), root.level
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)
        with contextlib.ExitStack() as undo:
            patch = undo.enter_context(_patched())
            patch(urllib.request.OpenerDirector, "open", watch._scanning_open)
            patch(CliRunner, "invoke", watch._scanning_invoke)
            patch(subprocess, "run", watch._scanning_run)
            patch(AppHost, "start", watch._watching_start)
            patch(AppHost, "close", watch._reading_close)
            try:
                yield watch
            finally:
                root.removeHandler(handler)
                root.setLevel(level)

    def _scanning_open(self, original: Callable[..., Any]) -> Callable[..., Any]:
        scan = self.scanner.scan

        def open_and_scan(opener: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            where = f"the answer of {getattr(url, 'full_url', url)}"
            try:
                response = original(opener, url, *args, **kwargs)
            except urllib.error.HTTPError as error:
                _scan_reads(error, scan, where)
                raise
            _scan_reads(response, scan, where)
            return response

        return open_and_scan

    def _scanning_invoke(self, original: Callable[..., Result]) -> Callable[..., Result]:
        def invoke_and_scan(runner: CliRunner, *args: Any, **kwargs: Any) -> Result:
            result = original(runner, *args, **kwargs)
            self.scanner.scan(result.output, "the CLI's output")
            return result

        return invoke_and_scan

    def _scanning_run(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def run_and_scan(*args: Any, **kwargs: Any) -> Any:
            done = original(*args, **kwargs)
            for stream in (done.stdout, done.stderr):
                if isinstance(stream, str | bytes):
                    self.scanner.scan(stream, f"the output of {str(done.args)[:80]}")
            return done

        return run_and_scan

    def _watching_start(self, original: Callable[[AppHost], str]) -> Callable[[AppHost], str]:
        def start_and_watch(host: AppHost) -> str:
            self._hosts.setdefault(host, 0)
            return original(host)

        return start_and_watch

    def _reading_close(self, original: Callable[[AppHost], None]) -> Callable[[AppHost], None]:
        def read_and_close(host: AppHost) -> None:
            host.stop()
            if host in self._hosts:
                self._read_host(host)  # its log goes with its workdir
                del self._hosts[host]
            original(host)

        return read_and_close


@contextlib.contextmanager
def _patched() -> Iterator[Callable[[Any, str, Callable[[Any], Any]], None]]:
    """`patch(owner, name, wrap)`: replace `owner.name` by `wrap(original)` until the end."""
    undo: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        undo.append((owner, name, original))
        setattr(owner, name, wrap(original))

    try:
        yield patch
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def _scan_reads(response: Any, scan: Callable[[bytes, str], bool], where: str) -> None:
    """Make every `read` of the answer scan what it returns."""
    read = response.read

    def read_and_scan(*args: Any) -> Any:
        data = read(*args)
        if isinstance(data, bytes):
            scan(data, where)
        return data

    response.read = read_and_scan


def _decoded(content: str) -> str:
    """A queue message as stored and, when it is base64 (as the Functions host writes), decoded."""
    with contextlib.suppress(binascii.Error, ValueError):
        return content + "\n" + base64.b64decode(content, validate=True).decode("utf-8", "replace")
    return content
