"""A batch's report: one JSON line per blob, appended as the batch goes, never written twice.

    <report container>/<batch id>.jsonl
        {"name", "destination", "state", "bytes", "copy_id", "error"}   one line per blob

An append blob in the destination account (BLOBCOPY_REPORT_CONTAINER, `blobcopy-reports`).
Each round appends its lines in one Append Block, conditional on the length the orchestration
carries: if a lost attempt of the round appended already, the condition fails, the lines it
wrote are read back and only the others are appended. So the report never holds a line twice,
and is never held whole in memory or in orchestration history.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient, ContainerClient

from shared.errors import StorageError, map_storage_errors


def report_name(batch_id: str) -> str:
    """The report blob of a batch, in the report container of the destination account."""
    return f"{batch_id}.jsonl"


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
