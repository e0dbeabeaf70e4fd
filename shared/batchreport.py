"""A batch's report: one JSON line per blob, appended as the batch goes, never written twice.

    <report container>/<batch id>.jsonl
        {"name", "destination", "state", "bytes", "copy_id", "error"}   one line per blob

An append blob in the destination account (BLOBCOPY_REPORT_CONTAINER, `blobcopy-reports`).
Each round appends its lines in one Append Block, conditional on the length the orchestration
carries: if a lost attempt of the round appended already, the condition fails, the lines it
wrote are read back and only the others are appended. So the report never holds a line twice,
and is never held whole in memory or in orchestration history. `read_page` reads it back a
page at a time, in ranged reads, for the API.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContainerClient

from shared.errors import CopyFailed, StorageError, map_storage_errors


def report_name(batch_id: str) -> str:
    """The report blob of a batch, in the report container of the destination account."""
    return f"{batch_id}.jsonl"


def report_line(
    source: str, name: str, state: str, size: int | None, copy_id: str | None, error: str | None
) -> dict[str, Any]:
    """One report line: a blob's name, where it went, how it ended."""
    return {
        "name": source,
        "destination": name,
        "state": state,
        "bytes": size,
        "copy_id": copy_id or None,
        "error": error,
    }


def append_lines(
    container: ContainerClient, batch_id: str, length: int, lines: list[dict[str, Any]]
) -> int:
    """Append a round's lines at `length`; the report's new length."""
    if not lines:
        return length
    report = container.get_blob_client(report_name(batch_id))
    if length == 0:
        _create(container, report)
    try:
        return _append(report, length, lines)
    except StorageError as exc:
        if exc.code != "AppendPositionConditionNotMet":
            raise
    with map_storage_errors():
        written = report.download_blob(offset=length).readall()
    done = {json.loads(line)["name"] for line in written.decode().splitlines() if line}
    rest = [line for line in lines if line["name"] not in done]
    end = length + len(written)
    return _append(report, end, rest) if rest else end


def _create(container: ContainerClient, report: BlobClient) -> None:
    with map_storage_errors():
        with contextlib.suppress(ResourceExistsError):
            container.create_container()
        with contextlib.suppress(ResourceExistsError):  # a lost attempt created it
            report.create_append_blob(match_condition=MatchConditions.IfMissing)


def _append(report: BlobClient, length: int, lines: list[dict[str, Any]]) -> int:
    data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
    with map_storage_errors():
        report.append_block(data, appendpos_condition=length)
    return length + len(data)


# --- reading it back, a page at a time (GET /api/batches/{id}/report) ---------------------

#: Bytes read per ranged Get Blob: a page is a few of them, never the whole report.
READ_BYTES = 256 * 1024
#: Ranged reads per page at most, so a filter that matches little still answers quickly.
MAX_READS = 16
#: The states a report line can have (`would_*` in a dry run).
LINE_STATES = ("succeeded", "failed", "aborted", "skipped", "would_copy", "would_skip")


class NotALineStart(ValueError):
    """The offset asked for is past the report's end or inside a line: not one a page gave."""


def _line_starts_at(report: BlobClient, offset: int) -> bool:
    """Whether the byte before `offset` ends a line (one ranged read of one byte)."""
    with map_storage_errors():
        return report.download_blob(offset=offset - 1, length=1).readall() == b"\n"


@dataclass(frozen=True)
class ReportPage:
    """Lines read from the report, and where the next page starts (a byte offset)."""

    lines: list[dict[str, Any]]
    next_offset: int
    at_end: bool  # nothing was left to read at `next_offset` when this page was read


def read_page(report: BlobClient, offset: int, limit: int, state: str | None) -> ReportPage:
    """Up to `limit` lines (only those in `state`, if given) from byte `offset` on.

    Lines are whole in the report (each round appends whole lines), so a ranged read is cut
    at its last newline and the rest read again next time.
    """
    with map_storage_errors():
        try:
            size = int(report.get_blob_properties().size)
        except ResourceNotFoundError:  # no blob has ended yet
            return ReportPage([], offset, True)
    if offset > size or (offset and not _line_starts_at(report, offset)):
        raise NotALineStart(f"byte {offset} does not start a line of this report")
    lines: list[dict[str, Any]] = []
    position = offset
    for _ in range(MAX_READS):
        if position >= size:
            return ReportPage(lines, position, True)
        with map_storage_errors():
            chunk = report.download_blob(offset=position, length=min(READ_BYTES, size - position))
            data = chunk.readall()
        whole = data[: data.rfind(b"\n") + 1]
        if not whole:
            raise CopyFailed("ReportUnreadable", f"no whole line in the report at byte {position}")
        for raw in whole.splitlines(keepends=True):
            position += len(raw)
            line = json.loads(raw)
            if state is None or line.get("state") == state:
                lines.append(line)
                if len(lines) == limit:
                    return ReportPage(lines, position, position >= size)
    return ReportPage(lines, position, position >= size)
