"""`make run` from a test: the Makefile's own `run` recipe, in a fresh clone, on free ports.

The README's local promises (its commands work after `make run`; a restart resumes the copies
that were running, with the state under `.devhost/`) are about `make run` as a user starts it:
`devhost up . --prepare demo.localrun:prepare` from the repo root, Azurite and the copy engine
and the host in a process tree, state in `./.devhost/`. `MakeRun` starts exactly that:

- the recipe is read from the Makefile (`make -n -o setup run`), never copied here;
- the working directory is a *fresh clone*: every top-level entry of the repo linked, except
  the local state a clone has not got (`.devhost/`, `local.settings.json`), so the run makes its
  own `.devhost/` and the app reads `local.settings.json.example`, as on a first run;
- other sessions may hold the README's ports (10000-10002, 7071), so the stack gets free ones,
  passed as `devhost up`'s own port options. The app settings of `local.settings.json.example`
  that name a README port go in the environment with the port swapped (`Ports.rewrite`), which
  is all that differs from a run on the default ports.

    with MakeRun(tmp_path) as run:         # starts, waits until the host serves
        run.base_url, run.blob_url("devstoreaccount2", "src", "big.bin")
        run.stop(kill=True)                # SIGKILL the whole tree (a crash), or SIGTERM
        run.start()                        # again, same clone, same ports, same .devhost/
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob import BlobClient

from devhost.lifetime import Service
from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import ACCOUNTS
from devhost.testing import REPO_ROOT, wait_for
from tests.secretscan import SecretScanner

#: The local endpoints the README, `local.settings.json.example` and the CLI's default name.
README_PORTS = {"blob": 10000, "queue": 10001, "table": 10002, "app": 7071}
#: The copy engine's read-only Files endpoint: not an option of its own, the blob port + 4.
README_FILE_PORT = 10004
#: What a fresh clone has not got: a run's state and a developer's own settings.
LOCAL_STATE = frozenset({".devhost", "local.settings.json", ".git"})
#: Azurite's start, the 64 MiB example blob and the host's indexing, on a busy 2-core machine.
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1  # prctl(2)
#: A container `make run` prepares (demo/localrun.py), for the marker of `wait_until_azurite_saved`.
MARKER_CONTAINER = "dst"


@dataclass(frozen=True)
class Ports:
    """The ports one run listens on, in place of the README's."""

    blob: int
    queue: int
    table: int
    app: int

    @classmethod
    def free(cls) -> Ports:
        """Four distinct ports free on loopback now (held open together so that they differ)."""
        socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in README_PORTS]
        try:
            for sock in socks:
                sock.bind(("127.0.0.1", 0))
            blob, queue, table, app = (sock.getsockname()[1] for sock in socks)
        finally:
            for sock in socks:
                sock.close()
        return cls(blob=blob, queue=queue, table=table, app=app)

    @property
    def files(self) -> int:
        """The copy engine's Files endpoint: `devhost up` puts it at the blob port + 4."""
        return self.blob + README_FILE_PORT - README_PORTS["blob"]

    def rewrite(self, text: str) -> str:
        """`text` with each README endpoint (`127.0.0.1:10000`, ...) on this run's port."""
        for name, default in [*README_PORTS.items(), ("files", README_FILE_PORT)]:
            endpoint = re.compile(rf"(?<=\b127\.0\.0\.1:|localhost:){default}(?!\d)")
            text = endpoint.sub(str(getattr(self, name)), text)
        return text

    def up_options(self) -> list[str]:
        """`devhost up`'s options for these ports."""
        return [
            *("--port", str(self.app)),
            *("--blob-port", str(self.blob)),
            *("--queue-port", str(self.queue)),
            *("--table-port", str(self.table)),
        ]


def fresh_clone(into: Path) -> Path:
    """A working directory that looks like a fresh clone with `make setup` done: each
    top-level entry of the repo (`.venv` and `node_modules` included) linked, no local state."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in REPO_ROOT.iterdir():
        if entry.name not in LOCAL_STATE:
            (into / entry.name).symlink_to(entry)
    return into


def make_run_command(workdir: Path) -> list[str]:
    """The Makefile's `run` recipe as make would run it (setup taken as done).

    Under `make test` the outer make's flags (jobserver, `-n`, `-s`) are in the environment;
    they are left out, so the recipe reads as a user's own `make run` runs it."""
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "setup", "run"],
        cwd=workdir,
        env={k: v for k, v in os.environ.items() if k not in outer},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"`make run` is expected to run one command, not {lines}"
    return shlex.split(lines[0])


def settings_env(workdir: Path, ports: Ports) -> dict[str, str]:
    """The example settings that name a README port, with this run's port instead."""
    example = json.loads((workdir / "local.settings.json.example").read_text(encoding="utf-8"))
    values: dict[str, str] = example["Values"]
    return {k: ports.rewrite(v) for k, v in values.items() if ports.rewrite(v) != v}


#: A process as /proc names it: its id and its start time, so that an id the system has given
#: to another process since is never signalled.
Proc = tuple[int, int]


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, ...), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_tree(root: int) -> set[Proc]:
    """`root` and every process descending from it (read from /proc)."""
    children: dict[int, list[Proc]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    root_fields = _stat(root)
    if root_fields is None:
        return set()
    tree, todo = set(), [(root, int(root_fields[19]))]
    while todo:
        proc = todo.pop()
        tree.add(proc)
        todo += children.get(proc[0], [])
    return tree


def _alive(proc: Proc) -> bool:
    """Whether the process still runs (a zombie nobody reaps has stopped running)."""
    fields = _stat(proc[0])
    return fields is not None and int(fields[19]) == proc[1] and fields[0] not in ("Z", "X")


def _stop_with_the_test() -> None:
    """In the child before exec: SIGTERM (a clean stop) if the test process dies first, so a
    killed test run leaves no stack behind holding ports."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class MakeRun(Service):
    """`make run` in a fresh clone under `root`: start it, stop it (or kill it), start it again."""

    def __init__(self, root: Path) -> None:
        self.workdir = fresh_clone(root / "clone")
        self.ports = Ports.free()
        self.log_path = root / "make-run.log"
        self._ready_file = root / "ready"
        self._process: subprocess.Popen[bytes] | None = None
        self._tree: set[Proc] = set()
        self.base_url = ""
        #: The processes of the tree still running after the last stop (none, unless a bug).
        self.left_running: list[int] = []

    @property
    def command(self) -> list[str]:
        """`make run`'s command on this run's ports, writing its URL to a ready file."""
        command = make_run_command(self.workdir)
        return [*command, *self.ports.up_options(), "--ready-file", str(self._ready_file)]

    def environment(self) -> dict[str, str]:
        """The caller's environment, unbuffered, and the example settings on this run's ports."""
        return {**os.environ, **settings_env(self.workdir, self.ports), "PYTHONUNBUFFERED": "1"}

    def start(self) -> str:
        """Start the stack and wait until the host serves (prepared first); the base URL."""
        assert self._process is None, "already running"
        self._ready_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signals reach it only when the test sends them
                preexec_fn=_stop_with_the_test,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (self._ready_file.exists() and self._ready_file.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop(kill=True)
                raise AssertionError(f"`make run` did not start serving:\n{self.output_tail()}")
            time.sleep(0.1)
        self._tree = _process_tree(self._process.pid)
        self.base_url = self._ready_file.read_text().strip()
        return self.base_url

    @property
    def pid(self) -> int:
        """The `make run` process's id (the root of the stack's process tree)."""
        assert self._process is not None, "not running"
        return self._process.pid

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM `make run`'s process (Ctrl-C's path: it stops the host, then storage) and
        wait; or SIGKILL every process of its tree at once, as a crash would."""
        process, self._process = self._process, None
        if process is None:
            return
        tree = self._tree | _process_tree(process.pid)
        if kill:
            self._kill(tree)
        elif process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill(tree)
            process.wait()
        self._await_gone(tree)

    @staticmethod
    def _kill(procs: set[Proc]) -> None:
        for proc in procs:
            if _alive(proc):
                os.kill(proc[0], signal.SIGKILL)

    def _await_gone(self, tree: set[Proc]) -> None:
        """Wait until no process of the tree runs; note and kill what outlives the wait."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(_alive(proc) for proc in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.left_running = sorted(pid for pid, start in tree if _alive((pid, start)))
        self._kill(tree)  # what outlived the stop must not outlive the test

    def close(self) -> None:
        """Stop the stack and drop its data (a few hundred MiB of blobs); the log stays."""
        self.stop()
        shutil.rmtree(self.workdir / ".devhost", ignore_errors=True)

    def output(self) -> str:
        """What `make run` printed (every start), Azurite's log after it."""
        azurite = self.workdir / ".devhost" / "azurite" / "azurite.log"
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        if azurite.exists():
            text += "\n--- .devhost/azurite/azurite.log\n" + azurite.read_text(errors="replace")
        return text

    def wait_until_azurite_saved(self) -> None:
        """Write a marker blob, and wait until Azurite's databases on disk hold it.

        Azurite keeps its metadata in memory and writes it to `.devhost/azurite/azurite/*.json`
        every 5 s (LokiJS autosave): a SIGKILL loses every blob, block, lease, queue and
        container written since, which a test of what devhost and the copy engine keep must not
        take for their loss. A save that holds the marker began after every earlier write, so
        it holds those too: the blob database names the marker, and the extent database knows
        the marker's bytes (its extent, often shared with earlier writes, is long enough).
        """
        name = f"azurite-saved-{uuid.uuid4().hex}"
        marker = BlobClient.from_connection_string(
            self.connection_string(ACCOUNTS[0]), MARKER_CONTAINER, name
        )
        marker.upload_blob(b"saved")
        wait_for(lambda: self._saved(name) or None, what="Azurite to save the marker")

    def _saved(self, name: str) -> bool:
        databases = self.workdir / ".devhost" / "azurite" / "azurite"
        try:
            blobs = json.loads((databases / "__azurite_db_blob__.json").read_text())
            extents = json.loads((databases / "__azurite_db_blob_extent__.json").read_text())
        except (OSError, ValueError):
            return False
        where = next(
            (
                d["persistency"]
                for c in blobs["collections"]
                for d in c["data"]
                if d.get("name") == name
            ),
            None,
        )
        sizes = {e["id"]: e["size"] for c in extents["collections"] for e in c["data"]}
        return where is not None and sizes.get(where["id"], 0) >= where["offset"] + where["count"]

    def output_tail(self, chars: int = 6000) -> str:
        """The end of `output()`, fit to show in a failure: every credential hidden."""
        return SecretScanner(keys={DEV_ACCOUNT_KEY}).hide(self.output()[-chars:])

    # -- addresses ---------------------------------------------------------------------------

    def blob_url(self, account: str, container: str, blob: str) -> str:
        return f"http://127.0.0.1:{self.ports.blob}/{account}/{container}/{blob}"

    @property
    def control_url(self) -> str:
        """The copy engine's control API (devhost/storage/control.py)."""
        return f"http://127.0.0.1:{self.ports.blob}/__copyengine"

    def connection_string(self, account: str) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={DEV_ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.ports.blob}/{account};"
        )


@contextmanager
def make_run(root: Path, scanner: SecretScanner, *, start: bool = True) -> Iterator[MakeRun]:
    """A `MakeRun` under `root` (started unless told otherwise), stopped at the end of the block
    whatever happens, and its console and Azurite's log then scanned for secrets."""
    run = MakeRun(root)
    try:
        if start:
            run.start()
        yield run
    finally:
        run.stop()
        scanner.scan(run.output(), "the output of `make run`")
        run.close()
