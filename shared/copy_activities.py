"""The copy's storage activities, each declared once beside the operation it runs.

Their jobs and answers are typed in shared/contracts.py; the operations are `BlobOps`'s
(shared/blobops.py), reached through the process's one instance, `storage()`.
"""

from __future__ import annotations

from shared.blobops import storage
from shared.blueprints import ActivityBlueprint
from shared.contracts import (
    ABORT_COPY,
    ACQUIRE_SOURCE_LEASE,
    CHECK_COPY,
    FINISH_SNAPSHOT,
    PUBLISH_RESULT,
    RELEASE_SOURCE_LEASE,
    RENEW_SOURCE_LEASE,
    SNAPSHOT_DESTINATION,
    START_COPY,
    VERIFY_COPY,
    AbortRecorded,
    BlobCopyStatus,
    CopyJob,
    CopyStatus,
    DestinationBusy,
    DestinationJob,
    LeaseJob,
    PublishJob,
    ReleaseJob,
    Snapshot,
    SnapshotJob,
    StartCopyJob,
    Verified,
    VerifyJob,
)
from shared.control import abort_requests
from shared.replicaops import ReplicaStart
from shared.timestamps import parse_iso

bp = ActivityBlueprint()


@bp.activity(SNAPSHOT_DESTINATION)
def snapshot_destination(job: DestinationJob) -> Snapshot:
    """Snapshot the destination (if it exists) so an abort can restore it."""
    return Snapshot(storage().snapshot_destination(job.destination_url))


@bp.activity(ACQUIRE_SOURCE_LEASE)
def acquire_source_lease(job: LeaseJob) -> None:
    """Lease the source for the copy's duration (renewed) or until released (infinite)."""
    storage().acquire_lease(job.source_url, job.lease_id, int(job.duration))


@bp.activity(RENEW_SOURCE_LEASE)
def renew_source_lease(job: LeaseJob) -> None:
    """Renew the finite source lease (re-acquiring it if it lapsed unclaimed)."""
    storage().renew_lease(job.source_url, job.lease_id, int(job.duration))


@bp.activity(RELEASE_SOURCE_LEASE)
def release_source_lease(job: ReleaseJob) -> None:
    """Release the source lease."""
    storage().release_lease(job.source_url, job.lease_id)


@bp.activity(START_COPY)
def start_copy(job: StartCopyJob) -> CopyStatus | AbortRecorded | DestinationBusy:
    """Create the source SAS (never returned) and start the copy, unless an abort came first.

    An abort sent on the queue before its copy message had no instance to reach: its record
    (shared/control.py) is read here, before anything is written.
    """
    asked = parse_iso(job.asked_at) if job.asked_at else None
    if job.request.get("replica"):  # ordered (shared/replicaops.py)
        # No abort record to read: a replica's id comes from its event (shared/replication.py),
        # so no queue abort names it before the copy exists; one transaction of five saved.
        return ReplicaStart(storage(), job.request, parse_iso(job.deadline), asked).run()
    recorded = abort_requests().read(job.instance_id)
    if recorded is None:
        return storage().start_copy(job.request, parse_iso(job.deadline), asked)
    # An earlier attempt of this start may have copied before the abort came (its answer
    # lost): abort that copy, or report it done; never call it aborted while it is not.
    made = storage().lost_attempt(job.request, asked)
    if made is not None and made.status == BlobCopyStatus.PENDING:
        made = storage().abort_copy(job.request["destination"]["url"], made.copy_id)
    if made is None or made.status == BlobCopyStatus.ABORTED:
        return AbortRecorded(recorded.reason)
    return made


@bp.activity(CHECK_COPY)
def check_copy(job: CopyJob) -> CopyStatus:
    """Read the copy's status and progress."""
    return storage().check_copy(job.destination_url, job.copy_id)


@bp.activity(ABORT_COPY)
def abort_copy(job: CopyJob) -> CopyStatus:
    """Abort the copy, or report its true final state if it already ended."""
    return storage().abort_copy(job.destination_url, job.copy_id)


@bp.activity(FINISH_SNAPSHOT)
def finish_snapshot(job: SnapshotJob) -> None:
    """Restore the destination from its snapshot (unless the copy succeeded), then drop it."""
    storage().finish_snapshot(job.destination_url, job.snapshot, bool(job.restore))


@bp.activity(VERIFY_COPY)
def verify_copy(job: VerifyJob) -> Verified:
    """Check the destination's length and MD5 against the source."""
    ops = storage()
    return Verified(
        ops.verify(job.source_url, job.destination_url, job.total_bytes, job.start_asked_at)
    )


@bp.activity(PUBLISH_RESULT)
def publish_result(job: PublishJob) -> None:
    """Publish the final status document to the requested queue."""
    storage().publish(job.queue, job.document)
