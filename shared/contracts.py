"""What crosses the orchestrator/activity boundary: every activity's input and result, typed.

Each activity is an `Activity` constant here: its name, the job it takes and how its result
reads. The orchestrator calls `START_COPY` with a `StartCopyJob` and gets back
`Ok[CopyStatus | AbortRecorded | DestinationBusy] | Failed`; the activity (declared with
`@bp.activity(START_COPY)` beside its logic) receives the same `StartCopyJob`. Neither end
builds or reads a dict.

On the wire (orchestration history) a job is a flat JSON object of its fields, and a result is
`{"ok": true, **fields}` or `{"ok": false, "error": {"code", "message"}}`. The `ok` key is
written in one place, `encode_result`, and read in one, `decode_result`. These shapes are the
ones earlier releases wrote, so instances already running replay unchanged.

Stdlib only: the orchestrator imports this module and must stay free of the storage SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, astuple, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Generic, Self, TypeVar

Wire = dict[str, Any]
Error = dict[str, str]  # {"code": ..., "message": ...}


class WireRecord:
    """A frozen dataclass that travels as a flat JSON object of its fields."""

    def to_wire(self) -> Wire:
        wire: Wire = asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild from JSON, ignoring keys this release does not know (an older or newer
        release may have written them)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


# --- jobs: what the orchestrator sends -----------------------------------------------------


@dataclass(frozen=True)
class DestinationJob(WireRecord):
    """A job on the destination blob alone (snapshot it before the copy)."""

    destination_url: str


@dataclass(frozen=True)
class LeaseJob(WireRecord):
    """Acquire or renew the source lease; `duration` -1 is an infinite lease."""

    source_url: str
    lease_id: str
    duration: int


@dataclass(frozen=True)
class ReleaseJob(WireRecord):
    """Release the source lease."""

    source_url: str
    lease_id: str


@dataclass(frozen=True)
class StartCopyJob(WireRecord):
    """Start the copy: the validated request, the deadline the source SAS must outlive, and
    when the orchestration asked (so a retried start recognises its own earlier attempt)."""

    instance_id: str
    request: dict[str, Any]
    deadline: str
    asked_at: str | None = None


@dataclass(frozen=True)
class CopyJob(WireRecord):
    """Read or abort the copy into `destination_url`; `copy_id` says which copy is ours."""

    destination_url: str
    copy_id: str | None


@dataclass(frozen=True)
class SnapshotJob(WireRecord):
    """Restore the destination from `snapshot` (if `restore`), then delete the snapshot.
    An empty `snapshot` means the destination did not exist before the copy."""

    destination_url: str
    snapshot: str
    restore: bool


@dataclass(frozen=True)
class VerifyJob(WireRecord):
    """Compare the destination with the source (length, and MD5 where both have one).

    `start_asked_at` (orchestration time when the start was asked) lets a file source, which
    Copy Blob reads without any lock, be caught written during the copy."""

    source_url: str
    destination_url: str
    total_bytes: int | None
    start_asked_at: str | None = None


@dataclass(frozen=True)
class PublishJob(WireRecord):
    """Send the final status document to a queue in the host's storage."""

    queue: str
    document: dict[str, Any]


@dataclass(frozen=True)
class InstanceJob(WireRecord):
    """A job about the copy instance itself (its recorded abort request)."""

    instance_id: str


# --- results: what an activity answers ----------------------------------------------------


class BlobCopyStatus(StrEnum):
    """A destination's `x-ms-copy-status`, as Azure reports it."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class CopyStatus(WireRecord):
    """What a destination's properties say of its last copy: the copy's status and progress.

    `skipped`: overwrite=if_newer found the destination newer and copied nothing.
    """

    status: str  # a BlobCopyStatus value
    copy_id: str | None = None
    bytes_copied: int | None = None
    total_bytes: int | None = None
    description: str | None = None
    skipped: bool = False

    def to_wire(self) -> Wire:
        wire = asdict(self)
        if not self.skipped:
            del wire["skipped"]  # the shape earlier releases wrote
        return wire


@dataclass(frozen=True)
class AbortRecorded(WireRecord):
    """start_copy found an abort recorded before the copy began, and started nothing."""

    reason: str | None = None

    def to_wire(self) -> Wire:
        return {"abort_requested": True, "reason": self.reason, "status": "aborted"}


@dataclass(frozen=True)
class DestinationBusy(WireRecord):
    """start_copy found another copy pending on the destination (a replica of another write
    of the source) and started nothing: the orchestration waits, then asks to start again.

    Azure refuses a second Copy Blob onto a destination with a pending copy
    (`PendingCopyOperation`); waiting is what keeps the newer write from being lost.
    """

    copy_id: str | None = None

    def to_wire(self) -> Wire:
        return {"destination_busy": True, "copy_id": self.copy_id, "status": "busy"}


def copy_started(data: Mapping[str, Any]) -> CopyStatus | AbortRecorded | DestinationBusy:
    """start_copy's answer: the copy's status, the abort that stopped it starting, or the
    other copy it must wait for."""
    if data.get("abort_requested"):
        return AbortRecorded(data.get("reason"))
    if data.get("destination_busy"):
        return DestinationBusy(data.get("copy_id"))
    return CopyStatus.from_wire(data)


@dataclass(frozen=True)
class Snapshot(WireRecord):
    """The destination's snapshot id, or None when there was no destination to snapshot."""

    snapshot: str | None = None


@dataclass(frozen=True)
class RecordedAbort(WireRecord):
    """Whether an abort was recorded for the copy, and the caller's reason."""

    requested: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Verified(WireRecord):
    """The checks the destination passed ("length", "md5")."""

    checked: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Done(WireRecord):
    """An activity with nothing to say but that it worked."""


# --- batches (shared/batchops.py) --------------------------------------------------------


@dataclass(frozen=True)
class BatchBlob(WireRecord):
    """One blob of a batch whose copy is pending: the source name, what the listing said of
    it (so verification needs no extra read), and our copy's id on the destination.

    `started_at` (the starting round's `asked_at`) is kept only under `blob_timeout_seconds`;
    `leased_at` (the activity's clock before the last acquire or renewal) only while a renewed
    source lease is held, so a batch without them carries nothing more per blob."""

    name: str
    copy_id: str
    size: int | None = None
    md5: str | None = None
    started_at: str | None = None
    leased_at: str | None = None
    foreign: bool = False  # someone else's copy of this source, watched, never stopped


@dataclass(frozen=True)
class BatchTally(WireRecord):
    """Counts and bytes of blobs that reached an end (or, in a dry run, a verdict)."""

    listed: int = 0
    succeeded: int = 0
    failed: int = 0
    aborted: int = 0
    skipped: int = 0
    bytes_copied: int = 0

    def plus(self, other: BatchTally) -> BatchTally:
        return BatchTally(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class BatchRoundJob(WireRecord):
    """One round of a batch: read the pending copies' status in one listing, report those that
    ended and, when `fill`, list as many source blobs as slots are free and start their copies.

    `asked_at` (orchestration time when the round was decided: the same in every attempt) lets
    a retried round recognise the copies its lost attempt already started."""

    batch_id: str
    request: dict[str, Any]
    asked_at: str
    deadline: str
    pending: list[BatchBlob]
    marker: str | None
    fill: bool
    report_length: int
    page_size: int
    lease_seconds: int = 60  # a renewed source lease's life (BLOBCOPY_LEASE_SECONDS)
    stopping: bool = False  # the batch is aborting: stop watching copies that are not ours

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Self:
        job = super().from_wire(data)
        return replace(job, pending=[BatchBlob.from_wire(b) for b in data.get("pending") or []])


@dataclass(frozen=True)
class BatchRound(WireRecord):
    """What a round found: the copies still pending, where the source listing resumes (None
    once it is exhausted), the blobs that ended, and the report's new length."""

    pending: list[BatchBlob] = field(default_factory=list)
    marker: str | None = None
    exhausted: bool = False
    tally: BatchTally = field(default_factory=BatchTally)
    pending_bytes_copied: int = 0
    pending_bytes_total: int = 0
    report_length: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error code -> blobs, this round

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Self:
        found = super().from_wire(data)
        pending = [BatchBlob.from_wire(b) for b in data.get("pending") or []]
        return replace(found, pending=pending, tally=BatchTally.from_wire(data.get("tally") or {}))


@dataclass(frozen=True)
class BatchAbortJob(WireRecord):
    """Abort every pending copy of a batch (a copy that already ended is left as it is)."""

    request: dict[str, Any]
    pending: list[BatchBlob]
    batch_id: str = ""

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Self:
        job = super().from_wire(data)
        return replace(job, pending=[BatchBlob.from_wire(b) for b in data.get("pending") or []])


# --- the envelope -------------------------------------------------------------------------

R = TypeVar("R")
J = TypeVar("J", bound=WireRecord)


@dataclass(frozen=True)
class Ok(Generic[R]):
    """The activity worked; `value` is its answer."""

    value: R


@dataclass(frozen=True)
class Failed:
    """The activity failed: a permanent storage error (`exhausted` False: the answer is no),
    or every retry of a transient one ran out (`exhausted`: an outage, worth trying later)."""

    error: Error
    exhausted: bool = False

    @property
    def code(self) -> str | None:
        return self.error.get("code")


Result = Ok[R] | Failed


def encode_result(result: Ok[Any] | Failed) -> Wire:
    """The result as the activity returns it to the Durable runtime."""
    if isinstance(result, Failed):
        return {"ok": False, "error": result.error}
    value = result.value
    return {"ok": True, **(value.to_wire() if value is not None else {})}


def decode_result(data: Mapping[str, Any], read: Callable[[Mapping[str, Any]], R]) -> Result[R]:
    """A result as the orchestrator reads it back from history."""
    if not data.get("ok"):
        return Failed(dict(data.get("error") or {}), bool(data.get("exhausted")))
    return Ok(read({k: v for k, v in data.items() if k != "ok"}))


@dataclass(frozen=True)
class Activity(Generic[J, R]):
    """One activity's contract: its function name, its job type and how its answer reads."""

    name: str
    job: type[J]
    read: Callable[[Mapping[str, Any]], R]


SNAPSHOT_DESTINATION = Activity("snapshot_destination", DestinationJob, Snapshot.from_wire)
ACQUIRE_SOURCE_LEASE = Activity("acquire_source_lease", LeaseJob, Done.from_wire)
RENEW_SOURCE_LEASE = Activity("renew_source_lease", LeaseJob, Done.from_wire)
RELEASE_SOURCE_LEASE = Activity("release_source_lease", ReleaseJob, Done.from_wire)
START_COPY = Activity("start_copy", StartCopyJob, copy_started)
CHECK_COPY = Activity("check_copy", CopyJob, CopyStatus.from_wire)
ABORT_COPY = Activity("abort_copy", CopyJob, CopyStatus.from_wire)
FINISH_SNAPSHOT = Activity("finish_snapshot", SnapshotJob, Done.from_wire)
VERIFY_COPY = Activity("verify_copy", VerifyJob, Verified.from_wire)
PUBLISH_RESULT = Activity("publish_result", PublishJob, Done.from_wire)
READ_ABORT_REQUEST = Activity("read_abort_request", InstanceJob, RecordedAbort.from_wire)
FORGET_ABORT_REQUEST = Activity("forget_abort_request", InstanceJob, Done.from_wire)

BATCH_ROUND = Activity("batch_round", BatchRoundJob, BatchRound.from_wire)
BATCH_ABORT = Activity("batch_abort", BatchAbortJob, Done.from_wire)

#: Every activity of the app, for registration checks and docs.
ACTIVITIES: tuple[Activity[Any, Any], ...] = (
    SNAPSHOT_DESTINATION,
    ACQUIRE_SOURCE_LEASE,
    RENEW_SOURCE_LEASE,
    RELEASE_SOURCE_LEASE,
    START_COPY,
    CHECK_COPY,
    ABORT_COPY,
    FINISH_SNAPSHOT,
    VERIFY_COPY,
    PUBLISH_RESULT,
    READ_ABORT_REQUEST,
    FORGET_ABORT_REQUEST,
    BATCH_ROUND,
    BATCH_ABORT,
)
