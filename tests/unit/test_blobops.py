"""shared/copyprops.py (pure progress parsing, a copy's status from properties) and BlobOps
without I/O."""

from __future__ import annotations

from types import SimpleNamespace

from shared.blobops import BlobOps
from shared.contracts import CopyStatus
from shared.copyprops import copy_status, parse_progress
from shared.settings import settings_from_env


def props(status: str | None, progress: str | None, size: int = 10) -> SimpleNamespace:
    """Blob properties as the SDK returns them, reduced to what copy_status reads."""
    copy = SimpleNamespace(id="c1", status=status, progress=progress, status_description=None)
    return SimpleNamespace(copy=copy, size=size)


def test_progress_header_parses_to_two_ints() -> None:
    """'copied/total' gives both numbers; absent or malformed gives None, None."""
    assert parse_progress("512/2048") == (512, 2048)
    assert parse_progress(None) == (None, None)
    assert parse_progress("garbage") == (None, None)


def test_pending_copy_status_carries_progress() -> None:
    """A pending copy's status has its id, status and progress."""
    seen = copy_status(props("pending", "3/10"))
    assert seen == CopyStatus(
        status="pending", copy_id="c1", bytes_copied=3, total_bytes=10, description=None
    )


def test_success_without_progress_uses_the_blob_size() -> None:
    """A finished copy that reports no progress counts the blob's size as copied."""
    seen = copy_status(props("success", None, size=42))
    assert (seen.bytes_copied, seen.total_bytes) == (42, 42)


def test_blob_never_copied_reads_as_success() -> None:
    """A destination with no copy status at all (written directly) reads as success."""
    assert copy_status(props(None, None)).status == "success"


def _ops() -> BlobOps:
    """BlobOps over Azurite-style key accounts (clients are built, nothing is called)."""
    key = "a2V5"
    env = {"BLOBCOPY_ACCOUNTS": "devstoreaccount1,devstoreaccount2"}
    for name in ("devstoreaccount1", "devstoreaccount2"):
        env[f"BLOBCOPY_ACCOUNT_{name.upper()}_CONNECTION_STRING"] = (
            f"DefaultEndpointsProtocol=http;AccountName={name};AccountKey={key};"
            f"BlobEndpoint=http://127.0.0.1:10000/{name};"
        )
    return BlobOps(settings_from_env(env))


def test_recorded_copy_source_matches_however_the_url_was_spelled() -> None:
    """The source the service recorded (our SAS, 127.0.0.1) is the one asked for (localhost)."""
    ops = _ops()
    recorded = "http://127.0.0.1:10000/devstoreaccount2/src/a%20b.bin?sv=1&sig=REDACTED"
    assert ops.same_source(recorded, "http://localhost:10000/devstoreaccount2/src/a b.bin")
    assert not ops.same_source(recorded, "http://localhost:10000/devstoreaccount2/src/other.bin")
    assert not ops.same_source(None, "http://localhost:10000/devstoreaccount2/src/a b.bin")


def test_a_version_source_is_read_as_that_version() -> None:
    """The client for a ?versionid= source addresses the version, not the current blob."""
    ops = _ops()
    url = "http://127.0.0.1:10000/devstoreaccount2/src/a.bin?versionid=2024-01-01T00:00:00.0000000Z"
    location = ops.locate(url)
    assert location is not None
    assert ops.blob(location).version_id == "2024-01-01T00:00:00.0000000Z"
