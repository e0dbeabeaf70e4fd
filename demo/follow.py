"""Start copies through the public API and follow them to the end, one progress bar each.

Everything goes through `blobcopy.client.BlobCopyClient`, as any caller of the API would. The
bars move only when a status document (`GET /api/copies/{id}`) says so: they show what the app
reports, not a guess. Each copy counts the status reads the demo made for it, which shows how few
a caller needs when it follows `Retry-After`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from blobcopy.client import ApiResponse, BlobCopyClient, CopyNotFound
from blobcopy.progress import ServerEtaColumn
from blobcopy.waiting import PollPolicy, is_finished

#: Follow `Retry-After`, but look at least once a second so the bars stay alive on short copies.
DEMO_POLICY = PollPolicy(default_seconds=0.5, min_seconds=0.25, max_seconds=1.0)
FOLLOW_TIMEOUT_S = 90.0


class CopyStalled(RuntimeError):
    """Raised when a copy the demo follows does not reach the awaited point in time."""


@dataclass
class CopyRun:
    """One copy the demo started: what it asked for and everything it has seen of it since."""

    label: str
    source: str
    destination: str
    copy_id: str = ""
    document: dict[str, Any] = field(default_factory=dict)
    polls: int = 0
    started: float = 0.0
    ended: float | None = None
    next_look: float = 0.0
    task: TaskID | None = None

    @property
    def state(self) -> str:
        """The state the last status document gave ('starting' before the first one)."""
        return str(self.document.get("state") or "starting")

    @property
    def progress(self) -> dict[str, Any]:
        """The last status document's progress block."""
        block = self.document.get("progress")
        return block if isinstance(block, dict) else {}

    @property
    def bytes_copied(self) -> int:
        """Bytes the destination had received at the last look."""
        copied = self.progress.get("bytes_copied")
        return copied if isinstance(copied, int) else 0

    @property
    def seconds(self) -> float:
        """From the start request to the first status document that showed the end."""
        return (self.ended or time.monotonic()) - self.started

    @property
    def finished(self) -> bool:
        """True once a status document showed a final state."""
        return self.ended is not None


def progress_bars(console: Console) -> Progress:
    """The bars: label, bar, bytes, speed, the service's own ETA, state."""
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(bar_width=30),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        ServerEtaColumn(),
        TextColumn("{task.fields[state]}"),
        console=console,
    )


class CopyDesk:
    """Starts copies, reads their status, asks for aborts; updates one bar per copy."""

    def __init__(
        self,
        client: BlobCopyClient,
        bars: Progress,
        *,
        policy: PollPolicy = DEMO_POLICY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bars = bars
        self._policy = policy
        self._clock = clock
        self._sleep = sleep

    def start(self, label: str, source: str, destination: str) -> CopyRun:
        """POST /api/copies; the first status read follows at once so the bar has a total."""
        run = CopyRun(label, source, destination, started=self._clock())
        answer = self._client.start_copy(
            {"source": {"url": source}, "destination": {"url": destination}}
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        run.copy_id = str(body["id"])
        run.task = self._bars.add_task(label, total=None, state="starting")
        self.look(run)
        return run

    def adopt(self, label: str, source: str, destination: str, copy_id: str) -> CopyRun:
        """Follow a copy something else started (the replication queue trigger), once the API
        knows it: its id is known before the trigger has run."""
        run = CopyRun(label, source, destination, copy_id=copy_id, started=self._clock())
        run.task = self._bars.add_task(label, total=None, state="waiting")
        deadline = self._clock() + FOLLOW_TIMEOUT_S
        while True:
            try:
                self.look(run)
                return run
            except CopyNotFound:
                if self._clock() > deadline:
                    raise CopyStalled(f"{label}: no copy {copy_id} started") from None
                self._sleep(0.25)

    def look(self, run: CopyRun) -> None:
        """GET /api/copies/{id}: one status read, counted, shown on the bar."""
        answer: ApiResponse = self._client.get_status(run.copy_id)
        run.polls += 1
        if isinstance(answer.body, dict):
            run.document = answer.body
        now = self._clock()
        if is_finished(answer):
            run.ended = now
        run.next_look = now + self._policy.delay(answer.retry_after)
        self._draw(run)

    def abort(self, run: CopyRun, reason: str) -> None:
        """POST /api/copies/{id}/abort: the orchestrator stops the copy and releases the lease."""
        self._client.abort(run.copy_id, reason)

    def follow(
        self,
        runs: list[CopyRun],
        *,
        until: Callable[[CopyRun], bool] = lambda run: run.finished,
        timeout_s: float = FOLLOW_TIMEOUT_S,
    ) -> None:
        """Read each copy's status when it is due, until `until` holds for every copy."""
        deadline = self._clock() + timeout_s
        while True:
            waiting = [run for run in runs if not until(run) and not run.finished]
            if not waiting:
                return
            now = self._clock()
            if now > deadline:
                names = ", ".join(f"{run.label} ({run.state})" for run in waiting)
                raise CopyStalled(f"no end in sight after {timeout_s:.0f} s for: {names}")
            due = min(run.next_look for run in waiting)
            if due > now:
                self._sleep(min(due - now, 0.25))
                continue
            for run in waiting:
                if run.next_look <= now:
                    self.look(run)

    def _draw(self, run: CopyRun) -> None:
        if run.task is None:
            return
        total = run.progress.get("total_bytes")
        self._bars.update(
            run.task,
            total=total if isinstance(total, int) and total > 0 else None,
            completed=run.bytes_copied,
            state=run.state,
            eta_seconds=run.progress.get("eta_seconds"),
        )
