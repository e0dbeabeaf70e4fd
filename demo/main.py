"""The demo's story, step by step; `main` returns the process's exit code.

0: the cross-account and external copies succeeded with the right bytes and the third copy was
aborted, leaving an empty destination. 1: anything else (the reason is printed, with the end of
the app's log when the app is at fault). 130: Ctrl-C. Whatever happens, everything the demo
started is stopped before it exits.
"""

from __future__ import annotations

import signal
import sys
import time
from contextlib import ExitStack
from types import FrameType

from azure.core.exceptions import AzureError
from rich.console import Console
from rich.text import Text

from blobcopy.client import BlobCopyClient, BlobCopyError
from blobcopy.render import format_bytes
from demo import blobs, replication
from demo.follow import CopyDesk, CopyRun, CopyStalled, progress_bars
from demo.report import Check, summary_table, verdict, where_it_went
from demo.settings import (
    COPY_CHUNK_BYTES,
    COPY_RATE_BYTES_PER_S,
    DESTINATION_ACCOUNT,
    DESTINATION_CONTAINER,
    EXTERNAL_FILE_BYTES,
    LARGE_BLOB_BYTES,
    MIB,
    SOURCE_ACCOUNT,
    SOURCE_CONTAINER,
    app_settings,
)
from devhost.origin import OriginServer
from devhost.storage.stack import StorageConfig, StorageStack
from devhost.testing import REPO_ROOT, AppHost, HostStartError

LARGE_NAME = "large.bin"
EXTERNAL_NAME = "catalog.bin"
ABORTED_NAME = "large-aborted.bin"
REPLICA_SIZES = (3 * MIB, 2 * MIB, 1 * MIB)
PIPE_WIDTH = 200
HOST_LOG_LINES = 40
ROOMY_WIDTH = 90


class Demo:
    """One run: the resources it started (on `resources`) and the copies it made."""

    def __init__(self, console: Console, resources: ExitStack) -> None:
        self.console = console
        self.resources = resources
        self.host: AppHost | None = None

    def say(self, text: str | Text) -> None:
        """One narrative line."""
        self.console.print(text)

    def run(self) -> bool:
        """Every step in order; True when every copy ended as planned."""
        storage = self._start_storage()
        client = self._start_app(storage)

        size = LARGE_BLOB_BYTES // MIB
        self.say(f"Seeding the source account {SOURCE_ACCOUNT} with a {size} MiB blob…")
        large = blobs.random_bytes(LARGE_BLOB_BYTES)
        large_url = blobs.seed_blob(storage, SOURCE_ACCOUNT, SOURCE_CONTAINER, LARGE_NAME, large)
        dest_root = blobs.create_container(storage, DESTINATION_ACCOUNT, DESTINATION_CONTAINER)

        size = EXTERNAL_FILE_BYTES // MIB
        self.say(f"Starting a web server outside Azure (a stand-in on loopback), {size} MiB file…")
        external = blobs.random_bytes(EXTERNAL_FILE_BYTES)
        origin = self.resources.enter_context(OriginServer())
        external_url = origin.serve(external, EXTERNAL_NAME, unique=False)

        with progress_bars(self.console) as bars:
            desk = CopyDesk(client, bars)
            bars.console.print(
                "Copying two blobs at once: one across accounts, one from the web server."
            )
            bars.console.print(
                "  Storage moves the bytes server-side; each bar follows its copy's status."
            )
            cross = desk.start("cross-account", large_url, f"{dest_root}/{LARGE_NAME}")
            outside = desk.start("external URL", external_url, f"{dest_root}/{EXTERNAL_NAME}")
            desk.follow([cross, outside])
            third = self._abort_a_copy(desk, bars.console, large_url, f"{dest_root}/{ABORTED_NAME}")
            replicas = self._replicate(desk, bars.console, storage)

        self.say("Checking the destinations' bytes against the sources (MD5)…")
        checks = [
            self._check_copy(storage, cross, blobs.md5_of(large), LARGE_NAME),
            self._check_copy(storage, outside, blobs.md5_of(external), EXTERNAL_NAME),
            self._check_aborted(storage, third, ABORTED_NAME),
            *(
                self._check_copy(
                    storage, run, blobs.md5_of(w.data), w.name, replication.DESTINATION_CONTAINER
                )
                for run, w in replicas
            ),
        ]
        return self._report(checks)

    def _replicate(
        self, desk: CopyDesk, console: Console, storage: StorageStack
    ) -> list[tuple[CopyRun, replication.Written]]:
        """Write new blobs to the replication rule's source and publish their events, as Event
        Grid would; follow the copies the app's queue trigger starts."""
        source, destination = replication.prepare(storage)
        console.print(
            f"Replicating: writing {len(REPLICA_SIZES)} blobs to {SOURCE_ACCOUNT}/"
            f"{replication.SOURCE_CONTAINER} and putting their BlobCreated events on the"
            f" {replication.QUEUE} queue, as Event Grid would…"
        )
        new = {f"report-{i}.csv": blobs.random_bytes(size) for i, size in enumerate(REPLICA_SIZES)}
        written = replication.write_and_publish(storage, new)
        runs = [
            desk.adopt(
                f"replica {w.name}", f"{source}/{w.name}", f"{destination}/{w.name}", w.copy_id
            )
            for w in written
        ]
        desk.follow(runs)
        return list(zip(runs, written, strict=True))

    def _start_storage(self) -> StorageStack:
        rate = COPY_RATE_BYTES_PER_S // MIB
        self.say(f"Starting Azurite and the copy engine (copies move at {rate} MiB/s)…")
        config = StorageConfig.free_ports(
            copy_rate_bytes_per_s=COPY_RATE_BYTES_PER_S, copy_chunk_bytes=COPY_CHUNK_BYTES
        )
        storage = self.resources.enter_context(StorageStack(config))
        self.say(f"  source account:      {storage.blob_endpoint(SOURCE_ACCOUNT)}")
        self.say(f"  destination account: {storage.blob_endpoint(DESTINATION_ACCOUNT)}")
        return storage

    def _start_app(self, storage: StorageStack) -> BlobCopyClient:
        self.say("Starting the app under devhost (function_app.py, Durable Functions)…")
        self.host = AppHost(REPO_ROOT, env=app_settings(storage))
        # Registered before starting: a Ctrl-C while it starts up must still stop it.
        self.resources.callback(self.host.close)
        self.host.start()
        self.say(f"  copy API: {self.host.base_url}/api/copies")
        return BlobCopyClient(self.host.base_url)

    def _abort_a_copy(self, desk: CopyDesk, console: Console, source: str, dest: str) -> CopyRun:
        """Start a copy of the large blob and abort it once its status shows bytes moving."""
        console.print(
            "Starting a third copy of the large blob, to abort it once it shows progress…"
        )
        third = desk.start("third copy", source, dest)
        desk.follow([third], until=lambda run: run.bytes_copied > 0)
        if not third.finished:
            console.print(
                f"Aborting it at {format_bytes(third.bytes_copied)}"
                f" (POST /api/copies/{third.copy_id}/abort)…"
            )
            desk.abort(third, "the demo aborts this copy on purpose")
        desk.follow([third])
        return third

    def _report(self, checks: list[Check]) -> bool:
        self.console.print()
        self.console.print(summary_table(checks, roomy=self.console.width >= ROOMY_WIDTH))
        for check in checks:
            self.say(where_it_went(check))
        passed, line = verdict(checks)
        self.console.print(line, style="bold green" if passed else "bold red")
        return passed

    def _check_copy(
        self,
        storage: StorageStack,
        run: CopyRun,
        md5: str,
        name: str,
        container: str = DESTINATION_CONTAINER,
    ) -> Check:
        got = blobs.arrival(storage, DESTINATION_ACCOUNT, container, name)
        if got is None:
            return Check(run, "succeeded", False, "no destination blob")
        same = got.md5 == md5
        note = "MD5 matches the source" if same else f"MD5 {got.md5} differs from the source's"
        return Check(run, "succeeded", same, note)

    def _check_aborted(self, storage: StorageStack, run: CopyRun, name: str) -> Check:
        got = blobs.arrival(storage, DESTINATION_ACCOUNT, DESTINATION_CONTAINER, name)
        if got is None:
            return Check(run, "aborted", False, "no destination blob (Azure leaves an empty one)")
        empty = got.length == 0
        note = "left empty by the abort" if empty else f"holds {got.length} bytes after the abort"
        return Check(run, "aborted", empty, note)

    def print_host_log(self) -> None:
        """The end of the app's log: where the reason for a failed copy usually is."""
        if self.host is None:
            return
        lines = self.host.output().splitlines()[-HOST_LOG_LINES:]
        if lines:
            self.console.print(f"Last {len(lines)} lines of the app's log:", style="bold")
            self.console.print("\n".join(lines), markup=False, highlight=False)


def make_console() -> Console:
    """A console for narrative, bars and table; wide in a pipe so rows stay on one line."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so everything started gets stopped."""
    raise KeyboardInterrupt


def main() -> int:
    """Run the demo; the exit code says whether every copy ended as planned."""
    # A shell may start background jobs with SIGINT ignored: Ctrl-C must still stop the demo.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    console = make_console()
    began = time.monotonic()
    demo: Demo | None = None
    try:
        with ExitStack() as resources:
            demo = Demo(console, resources)
            try:
                passed = demo.run()
            except (BlobCopyError, CopyStalled, AzureError) as exc:
                console.print(f"Demo FAILED: {exc}", style="bold red", markup=False)
                demo.print_host_log()
                passed = False
            console.print("Stopping the app, the web server, the copy engine and Azurite…")
    except HostStartError as exc:
        console.print(f"Demo FAILED: {exc}", style="bold red", markup=False)
        return 1
    except KeyboardInterrupt:
        console.print("\nInterrupted: everything the demo started has been stopped.")
        return 130
    console.print(f"Done in {time.monotonic() - began:.0f} s.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
