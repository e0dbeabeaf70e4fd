"""What a destination's properties say about its copy: pure functions over SDK properties.

Kept apart from blobops.py (which does the I/O) so they can be tested without storage;
`same_bytes` and `written_since` are what verify concludes from a source's properties.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.contracts import BlobCopyStatus, CopyStatus
from shared.errors import CopyFailed, LeaseConflict
from shared.timestamps import utc


def parse_progress(text: str | None) -> tuple[int | None, int | None]:
    """`x-ms-copy-progress` "copied/total" as two ints (None when absent or malformed)."""
    try:
        copied, total = (text or "").split("/")
        return int(copied), int(total)
    except ValueError:
        return None, None


def same_md5(a: bytes | bytearray | None, b: bytes | bytearray | None) -> bool | None:
    """Whether two Content-MD5s are equal; None when either side has none (a blob put block
    by block, a file nobody set one on), which says nothing either way."""
    if not (a and b):
        return None
    return bytes(a) == bytes(b)


def copy_status(props: Any) -> CopyStatus:
    """What a destination's properties say of its last copy (a blob never copied into reads
    as a finished copy of its whole size)."""
    copy = props.copy
    copied, total = parse_progress(copy.progress)
    if copy.status == BlobCopyStatus.SUCCESS and total is None:
        copied = total = props.size
    return CopyStatus(
        status=copy.status or BlobCopyStatus.SUCCESS,
        copy_id=copy.id,
        bytes_copied=copied,
        total_bytes=total,
        description=copy.status_description,
    )


def created_since(props: Any, started_after: dt.datetime | None) -> bool:
    """True when a destination holding a copy was created no earlier than the second in which
    the orchestration asked for this start (creation times have one-second precision)."""
    created = getattr(props, "creation_time", None)
    if started_after is None or created is None or not props.copy.id:
        return False
    return utc(created) >= utc(started_after).replace(microsecond=0)


def refuse_if_leased(props: Any) -> None:
    """A blob someone else leases refuses our writes (we send no lease id): LeaseConflict
    `DestinationLeased` before anything is written, rather than Copy Blob's `LeaseIdMissing`
    after a snapshot was taken."""
    lease = props.lease
    if (lease.status or "").lower() == "locked":
        raise LeaseConflict(
            "DestinationLeased",
            f"the destination blob is leased by someone else (lease {lease.state}); nothing "
            "was written: release or break that lease, then copy again",
        )


def same_bytes(size: int, md5: bytearray | None, dest: Any) -> list[str]:
    """The destination against its source's length and MD5 (when both have one): the checks
    made beyond length, or CopyFailed."""
    if size != dest.size:
        raise CopyFailed("VerificationFailed", f"length {dest.size} != source {size}")
    same = same_md5(md5, dest.content_settings.content_md5)
    if same is False:
        raise CopyFailed("VerificationFailed", "MD5 differs from the source")
    return [] if same is None else ["md5"]


def written_since(last_modified: dt.datetime, asked: dt.datetime) -> bool:
    """Whether a source was surely written after the copy's start was asked.

    Last-Modified has whole seconds: a write in the second the start was asked cannot be told
    from one just before it, and is let through (a wrongly failed copy would be wrong too)."""
    return utc(last_modified) > utc(asked)
