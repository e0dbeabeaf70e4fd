"""The pure parts of shared/blobops.py: progress parsing and copy observations."""

from __future__ import annotations

from types import SimpleNamespace

from shared.blobops import observation, parse_progress


def props(status: str | None, progress: str | None, size: int = 10) -> SimpleNamespace:
    """Blob properties as the SDK returns them, reduced to what observation reads."""
    copy = SimpleNamespace(id="c1", status=status, progress=progress, status_description=None)
    return SimpleNamespace(copy=copy, size=size)


def test_progress_header_parses_to_two_ints() -> None:
    """'copied/total' gives both numbers; absent or malformed gives None, None."""
    assert parse_progress("512/2048") == (512, 2048)
    assert parse_progress(None) == (None, None)
    assert parse_progress("garbage") == (None, None)


def test_pending_observation_carries_progress() -> None:
    """A pending copy's observation has its id, status and progress."""
    seen = observation(props("pending", "3/10"))
    assert seen == {
        "ok": True,
        "status": "pending",
        "copy_id": "c1",
        "bytes_copied": 3,
        "total_bytes": 10,
        "description": None,
    }


def test_success_without_progress_uses_the_blob_size() -> None:
    """A finished copy that reports no progress counts the blob's size as copied."""
    seen = observation(props("success", None, size=42))
    assert (seen["bytes_copied"], seen["total_bytes"]) == (42, 42)


def test_blob_never_copied_reads_as_success() -> None:
    """A destination with no copy status at all (written directly) reads as success."""
    assert observation(props(None, None))["status"] == "success"
