"""The progress bars of --wait: one of bytes for a copy, two for a batch (blobs ended of
those listed, and bytes). They draw only on a terminal; in a pipe, under CliRunner, or with
--json, `CopyProgress` and `BatchProgress` draw nothing.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from blobcopy.render import ENDED_COUNTS, counts_of, format_seconds, json_number


class ServerEtaColumn(ProgressColumn):
    """Time left as the API estimates it (`progress.eta_seconds`), not as rich guesses it."""

    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta_seconds")
        if task.finished:
            return Text("done", style="green")
        if not isinstance(eta, int | float):
            return Text("eta -", style="progress.remaining")
        return Text(f"eta {format_seconds(eta)}", style="progress.remaining")


class _LiveBars:
    """What both progress displays share: they draw only when `enabled`, run for the `with`
    block, and are fed status documents through `update`."""

    def __init__(self, display: Progress | Live, *, enabled: bool) -> None:
        self._display = display
        self._enabled = enabled

    def __enter__(self) -> Self:
        if self._enabled:
            self._display.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._enabled:
            self._display.stop()

    def update(self, document: dict[str, Any]) -> None:
        """Move the bars to what the status document says."""
        if self._enabled:
            self._show(document)

    def _show(self, document: dict[str, Any]) -> None:
        raise NotImplementedError


def _bytes_bar(console: Console, *, enabled: bool) -> Progress:
    """The bar of bytes copied (of a copy, or of all of a batch's), with speed and the API's eta."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        ServerEtaColumn(),
        console=console,
        disable=not enabled,
    )


def _progress_of(document: dict[str, Any]) -> dict[str, Any]:
    """A status document's `progress`, {} when it has none."""
    progress = document.get("progress")
    return progress if isinstance(progress, dict) else {}


def _title(document: dict[str, Any], default: str) -> str:
    """'copy-1 running': the id (else `default`) and the state of a status document."""
    skipped = " (skipped)" if document.get("skipped") is True else ""
    return f"{document.get('id', default)} {document.get('state', '')}{skipped}".strip()


class CopyProgress(_LiveBars):
    """A progress bar fed with status documents; draws nothing unless `enabled`."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._progress = _bytes_bar(console, enabled=enabled)
        super().__init__(self._progress, enabled=enabled)
        self._task: TaskID | None = None

    def _show(self, document: dict[str, Any]) -> None:
        progress = _progress_of(document)
        copied = progress.get("bytes_copied")
        total = progress.get("total_bytes")
        known_total = json_number(total)
        if known_total is not None and known_total <= 0:
            known_total = None
        eta = progress.get("eta_seconds")
        description = _title(document, "copy")
        if self._task is None:
            self._task = self._progress.add_task(description, total=known_total, eta_seconds=eta)
        self._progress.update(
            self._task,
            description=description,
            total=known_total,
            completed=json_number(copied),
            eta_seconds=eta,
        )


class BlobCountColumn(ProgressColumn):
    """'3/10+ blobs' for the blob bar: ended of listed, `+` while the source is listed."""

    def render(self, task: Task) -> Text:
        more = "" if task.fields.get("listing_complete") else "+"
        total = int(task.total or 0)
        return Text(f"{int(task.completed)}/{total}{more} blobs", style="progress.download")


class BatchProgress(_LiveBars):
    """Two bars fed with batch status documents, blobs and bytes; draws nothing unless
    `enabled`. The blob bar's total is what is listed so far, so it may move back while the
    source is listed; the bytes bar's total is the bytes known so far, likewise."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._blobs_bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            BlobCountColumn(),
            console=console,
            disable=not enabled,
        )
        self._bytes_bar = _bytes_bar(console, enabled=enabled)
        super().__init__(
            Live(Group(self._blobs_bar, self._bytes_bar), console=console), enabled=enabled
        )
        self._tasks: tuple[TaskID, TaskID] | None = None

    def _show(self, document: dict[str, Any]) -> None:
        counts = counts_of(document)
        ended = sum(counts[name] for name in ENDED_COUNTS)
        progress = _progress_of(document)
        total = json_number(progress.get("total_bytes"))
        eta = progress.get("eta_seconds")
        name = _title(document, "batch")
        if self._tasks is None:
            self._tasks = (
                self._blobs_bar.add_task(name, total=None, listing_complete=False),
                self._bytes_bar.add_task("bytes", total=None, eta_seconds=eta),
            )
        blobs, bytes_ = self._tasks
        self._blobs_bar.update(
            blobs,
            description=name,
            total=counts["listed"] or None,
            completed=ended,
            listing_complete=bool(document.get("listing_complete")),
        )
        self._bytes_bar.update(
            bytes_,
            total=total if total and total > 0 else None,
            completed=json_number(progress.get("bytes_copied")),
            eta_seconds=eta,
        )
