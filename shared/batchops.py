"""The storage side of a batch: one round reads every pending copy and starts the next ones.

A round costs, whatever the number of blobs in it:

- one List Blobs `include=copy` of the destination over the window of the pending copies'
  names (their common prefix, stopping past the last): the status of every pending copy;
- one List Blobs of the source: as many names as slots are then free, from the carried
  continuation token (copies that ended this round make room in this round);
- one List Blobs of the destination over the new names' window: what each already holds;
- one Copy Blob per new blob, and nothing for a blob that needs no copy (`overwrite: never`
  with a destination, `if_newer` with a newer one: seen in that listing);
- one Append Block of report lines for the blobs that ended;
- only when asked: one Acquire Lease and one Release Lease per blob (`lease_source`), one Renew
  Lease per pending copy per third of a renewed lease's life, one Abort Copy Blob per copy past
  `blob_timeout_seconds`.

So a blob costs one Copy Blob plus its share of a few listings per round: no Get Blob
Properties, no per-blob SAS (one container SAS per round), no per-blob activity.

This module is the round itself: it follows the pending copies and decides, per listed blob,
whether to skip, adopt or start it. What it reads is shared/batchlisting.py, how it starts
shared/batchstarts.py, its leases shared/batchleases.py.

A round may run twice (its answer lost to a crash, then retried): it never starts a second copy
into a destination that already holds this round's copy (same source, pending or written since
the round was decided), and the report's append is conditional on its length, so no line is
written twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from azure.storage.blob import BlobClient, BlobProperties, ContainerClient

from shared.accounts import BlobLocation
from shared.batchleases import BatchLeases
from shared.batchlisting import BatchListing
from shared.batchreport import append_lines, report_line
from shared.batchrequests import BatchRequest
from shared.batchstarts import BatchStarts, PlannedStart, holds_whole
from shared.blobops import BlobOps, storage
from shared.blueprints import ActivityBlueprint
from shared.contracts import (
    BATCH_ABORT,
    BATCH_ROUND,
    BatchAbortJob,
    BatchBlob,
    BatchRound,
    BatchRoundJob,
    BatchTally,
    BlobCopyStatus,
)
from shared.copylimits import SAS_MARGIN
from shared.copyprops import parse_progress
from shared.errors import CopyFailed, PermanentStorageError, map_storage_errors, retry_transient
from shared.replicaops import source_key, stamped_version
from shared.timestamps import iso, parse_iso, utc

#: How far storage's clock may lag the orchestration's when a retried round judges whether a
#: copy it finds was started by its lost attempt (a larger lag makes it copy that blob again).
ADOPTION_SKEW = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class RoundClock:
    """The two clocks a round judges by. `asked`, the orchestration's time when the round was
    decided, is the same in every attempt of the round: timeouts and adoption are judged by
    it, so a retried round decides as its lost attempt did. `now`, this attempt's clock taken
    before any call, dates the leases it takes or renews: a lease's life runs from before the
    call that gave it, so the renewal is never later than it should be."""

    asked: dt.datetime
    now: dt.datetime


@dataclass
class RoundLedger:
    """What one round has found so far: the pending copies, the report lines, the tally."""

    pending: list[BatchBlob] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    tally: BatchTally = field(default_factory=BatchTally)
    errors: dict[str, int] = field(default_factory=dict)
    pending_copied: int = 0
    pending_total: int = 0

    def started(
        self, starts: list[PlannedStart], answers: list[BatchBlob | dict[str, Any]]
    ) -> None:
        """The round's starts, in listing order: a pending copy each, or its report line."""
        for planned, answer in zip(starts, answers, strict=True):
            if isinstance(answer, BatchBlob):
                self.pending.append(answer)
                self.pending_total += planned.blob.size or 0
            else:
                self.end(answer)

    def end(self, line: dict[str, Any]) -> None:
        """A blob reached its end (or, in a dry run, its verdict): report and count it."""
        self.lines.append(line)
        state = line["state"]
        counted = {"would_copy": "succeeded", "would_skip": "skipped"}.get(state, state)
        delta = BatchTally(**{counted: 1, "bytes_copied": line.get("bytes") or 0})
        if state in ("would_copy", "would_skip"):
            delta = replace(delta, bytes_copied=0)
        self.tally = self.tally.plus(delta)
        if line.get("error"):
            self.errors[line["error"]] = self.errors.get(line["error"], 0) + 1


class BatchOps:
    """One batch round: its listing, its leases and its starts, through the process's BlobOps."""

    def __init__(self, ops: BlobOps, job: BatchRoundJob | BatchAbortJob) -> None:
        self.ops = ops
        self.request = BatchRequest.model_validate(job.request)
        self.stopping = isinstance(job, BatchRoundJob) and job.stopping
        #: Pending copies whose renewed lease was lost this round: name -> storage's code.
        self.leases_lost: dict[str, str] = {}
        source = self._container(self.request.source.url)
        self.destination = self._container(self.request.destination.url)
        self.listing = BatchListing(ops, self.request, source, self.destination)
        lease_seconds = job.lease_seconds if isinstance(job, BatchRoundJob) else 60
        self.leases = BatchLeases(ops, self.listing, job.batch_id, lease_seconds)
        self.starts = BatchStarts(self.listing, self.leases)

    def _container(self, url: str) -> BlobLocation:
        location = self.ops.locate(url)
        if location is None:
            raise CopyFailed("ContainerNotConfigured", "batches copy between configured accounts")
        return location

    # --- the round ----------------------------------------------------------------------

    def run_round(self, job: BatchRoundJob, now: dt.datetime) -> BatchRound:
        """Read the pending copies, fill the slots they left, append the report.

        The slots are counted after the status read, so copies that ended this round make
        room in this round (one listing of the pending window, one of the new names')."""
        ledger, clock = RoundLedger(), RoundClock(parse_iso(job.asked_at), now)
        listing = self.listing
        pending = listing.destinations([self.request.destination_name(p.name) for p in job.pending])
        followed, self.leases_lost = self.leases.renew_due(job.pending, pending, now)
        for blob in followed:
            self.follow(blob, pending.get(self.request.destination_name(blob.name)), ledger, clock)
        sources: list[BlobProperties] = []
        marker, exhausted = job.marker, False
        free = self.request.max_concurrency - len(ledger.pending) if job.fill else 0
        if free > 0:
            sources, marker, exhausted = listing.list_sources(job.marker, free, job.page_size)
        names = [self.request.destination_name(b.name) for b in sources]
        seen = listing.destinations(names, metadata=True)  # whose copies they are: replica stamps
        starts = [s for p in sources if (s := self.take(p, seen, clock, ledger)) is not None]
        if starts:
            answers = self.starts.start_all(starts, parse_iso(job.deadline) + SAS_MARGIN, now)
            ledger.started(starts, answers)
        length = retry_transient(
            append_lines, self.report_container(), job.batch_id, job.report_length, ledger.lines
        )
        return BatchRound(
            pending=ledger.pending,
            marker=marker,
            exhausted=exhausted,
            tally=ledger.tally,
            pending_bytes_copied=ledger.pending_copied,
            pending_bytes_total=ledger.pending_total,
            report_length=length,
            errors=ledger.errors,
        )

    def follow(
        self, blob: BatchBlob, dest: BlobProperties | None, ledger: RoundLedger, clock: RoundClock
    ) -> None:
        """A pending copy: still pending (unless it must stop now), or ended (as the
        destination's copy status says)."""
        name = self.request.destination_name(blob.name)
        if dest is None or dest.copy.id != blob.copy_id:
            code = "DestinationDeleted" if dest is None else "CopyReplaced"
            line = report_line(blob.name, name, "failed", None, blob.copy_id, code)
            ledger.end(self.leases.release(blob, line))
            return
        status = dest.copy.status or BlobCopyStatus.SUCCESS
        if status != BlobCopyStatus.PENDING:
            ledger.end(self.leases.release(blob, self.ended(blob, name, dest, status, clock)))
            return
        if blob.foreign and self.stopping:  # not ours to abort: the batch stops watching it
            ledger.end(
                report_line(blob.name, name, "skipped", None, blob.copy_id, "DestinationBusy")
            )
            return
        reason = self.stop_reason(blob, clock)
        if reason and (stopped := self.stop_copy(blob, name, reason)) is not None:
            ledger.end(stopped)
            return
        copied, total = parse_progress(dest.copy.progress)
        ledger.pending.append(blob)
        ledger.pending_copied += copied or 0
        ledger.pending_total += total or blob.size or 0

    def ended(
        self, blob: BatchBlob, name: str, dest: BlobProperties, status: str, clock: RoundClock
    ) -> dict[str, Any]:
        """The report line of a copy that is over, verified against the listing if asked. An
        aborted copy past its timeout is one this round's lost attempt stopped for it."""
        if status == BlobCopyStatus.SUCCESS:
            problem = self.verification_problem(blob, dest) if self.request.verify else None
            if problem:
                return report_line(
                    blob.name, name, "failed", None, blob.copy_id, "VerificationFailed"
                )
            return report_line(blob.name, name, "succeeded", dest.size, blob.copy_id, None)
        if status == BlobCopyStatus.ABORTED and self.timed_out(blob, clock):
            return report_line(blob.name, name, "failed", None, blob.copy_id, "Timeout")
        state = "aborted" if status == BlobCopyStatus.ABORTED else "failed"
        code = "Aborted" if state == "aborted" else "CopyFailed"
        return report_line(blob.name, name, state, None, blob.copy_id, code)

    # --- stopping one copy: its timeout, its lost lease ---------------------------------

    def timed_out(self, blob: BatchBlob, clock: RoundClock) -> bool:
        """Whether the copy has been pending for `blob_timeout_seconds` (orchestration time)."""
        limit = self.request.blob_timeout_seconds
        if not limit or not blob.started_at:
            return False
        return (clock.asked - parse_iso(blob.started_at)).total_seconds() >= limit

    def stop_reason(self, blob: BatchBlob, clock: RoundClock) -> str | None:
        """Why a pending copy must stop now: its timeout, or its renewed lease lost (someone
        broke or took it: the source may change under the copy)."""
        if blob.foreign:
            return None
        if self.timed_out(blob, clock):
            return "Timeout"
        return self.leases_lost.get(blob.name)

    def stop_copy(self, blob: BatchBlob, name: str, code: str) -> dict[str, Any] | None:
        """Abort one pending copy: its failed line, or None if it ended before the abort came
        (the next round reads how)."""
        target = self.listing.client(self.destination).get_blob_client(name)
        try:
            retry_transient(_abort_one, target, blob.copy_id)
        except PermanentStorageError:
            return None
        return self.leases.release(
            blob, report_line(blob.name, name, "failed", None, blob.copy_id, code)
        )

    @staticmethod
    def verification_problem(blob: BatchBlob, dest: BlobProperties) -> str | None:
        """Length, and MD5 where both sides have one, from the two listings: no extra read."""
        if blob.size is not None and dest.size != blob.size:
            return "length"
        theirs = dest.content_settings.content_md5
        if blob.md5 and theirs and bytes(theirs).hex() != blob.md5:
            return "md5"
        return None

    def take(
        self,
        props: BlobProperties,
        seen: dict[str, BlobProperties],
        clock: RoundClock,
        ledger: RoundLedger,
    ) -> PlannedStart | None:
        """A newly listed source blob: skip it, adopt the copy a lost attempt of this round
        already started, or plan its copy (the copies of a round start together)."""
        ledger.tally = ledger.tally.plus(BatchTally(listed=1))
        name = self.request.destination_name(props.name)
        dest = seen.get(name)
        blob = self.pending_blob(props, clock)
        if dest is not None and not self.request.dry_run and self.ours(dest, props, clock.asked):
            # The lost attempt leased it at `asked` at the earliest: dated so, it is renewed
            # by the next round that finds it due (taken back if it lapsed meanwhile).
            adopted = replace(blob, copy_id=str(dest.copy.id))
            if adopted.leased_at:
                adopted = replace(adopted, leased_at=iso(clock.asked))
            self.follow(adopted, dest, ledger, clock)
            return None
        if dest is not None and not self.request.dry_run and self.copying_elsewhere(dest, props):
            watched = replace(blob, copy_id=str(dest.copy.id), foreign=True)
            self.follow(replace(watched, started_at=None, leased_at=None), dest, ledger, clock)
            return None
        verdict = needs_no_copy(self.request, props, dest)
        if self.request.dry_run:
            state = "would_skip" if verdict else "would_copy"
            ledger.end(report_line(props.name, name, state, props.size, None, verdict))
            return None
        if verdict:
            ledger.end(report_line(props.name, name, "skipped", None, None, None))
            return None
        return PlannedStart(blob, name, dest)

    def pending_blob(self, props: BlobProperties, clock: RoundClock) -> BatchBlob:
        """The blob as a round carries it once its copy starts (its copy id still to come),
        dated only as its timeout and its renewed lease need."""
        md5 = props.content_settings.content_md5
        return BatchBlob(
            props.name,
            "",
            props.size,
            bytes(md5).hex() if md5 else None,
            started_at=iso(clock.asked) if self.request.blob_timeout_seconds else None,
            leased_at=iso(clock.now) if self.leases.renewed else None,
        )

    def ours(self, dest: BlobProperties, props: BlobProperties, asked: dt.datetime) -> bool:
        """Whether the destination holds a copy of this source that this round started (in a
        lost attempt): one written (a pending copy: started, as Copy Blob writes the
        destination when it starts) since the round was decided. A copy that an earlier batch
        made, or that someone else started, was written before, so it is not ours."""
        copy = dest.copy
        if not copy.id or not self.ops.same_source(
            copy.source, self.listing.source_url(props.name)
        ):
            return False
        if self.replica_of_this_source(dest, props):
            return False  # an event's copy, however recent (a back-fill running beside it)
        return utc(dest.last_modified) >= utc(asked) - ADOPTION_SKEW

    def replica_of_this_source(self, dest: BlobProperties, props: BlobProperties) -> bool:
        """Whether replication wrote (or is writing) the destination from this very source
        blob: its stamp names the source (shared/replicaops.py). A batch's own copy never
        carries such a stamp (its Copy Blob keeps the source's metadata, or the request's)."""
        source = BlobLocation(
            self.listing.source.account, self.listing.source.container, props.name
        )
        return stamped_version(dest, source_key(source)) is not None

    def copying_elsewhere(self, dest: BlobProperties, props: BlobProperties) -> bool:
        """A copy of this very source, started by someone else (a replica's copy, another
        batch), is pending on the destination: Azure would refuse ours (PendingCopyOperation)
        and it brings the same bytes. The round watches it to its end and reports how it
        ended, but never aborts, times out, leases or releases for it: it is not ours."""
        copy = dest.copy
        return bool(
            copy.id
            and copy.status == BlobCopyStatus.PENDING
            and self.ops.same_source(copy.source, self.listing.source_url(props.name))
        )

    def report_container(self) -> ContainerClient:
        """The container of reports (BLOBCOPY_REPORT_CONTAINER) in the destination account."""
        service = self.ops.service(self.destination.account)
        return service.get_container_client(self.ops.settings.report_container)

    # --- abort --------------------------------------------------------------------------

    def abort_all(self, pending: list[BatchBlob]) -> None:
        """Abort each pending copy; one that already ended is left as it is."""
        client = self.listing.client(self.destination)
        for blob in (b for b in pending if not b.foreign):
            target = client.get_blob_client(self.request.destination_name(blob.name))
            try:
                retry_transient(_abort_one, target, blob.copy_id)
            except PermanentStorageError:
                continue  # ended, or replaced: the next round reads how


def needs_no_copy(
    request: BatchRequest, props: BlobProperties, dest: BlobProperties | None
) -> str | None:
    """Why the overwrite rule leaves this destination alone (None: copy it)."""
    if dest is None:
        return None
    if request.overwrite == "never":
        return "DestinationExists"
    if (
        request.overwrite == "if_newer"
        and holds_whole(dest)
        and utc(dest.last_modified) >= utc(props.last_modified)
    ):
        return "DestinationNewer"
    return None


def _abort_one(target: BlobClient, copy_id: str) -> None:
    with map_storage_errors():
        target.abort_copy(copy_id)


# --- the batch activities (shared/contracts.py) ------------------------------------------

bp = ActivityBlueprint()


@bp.activity(BATCH_ROUND)
def batch_round(job: BatchRoundJob) -> BatchRound:
    """One round of a batch: read the pending copies, report those that ended, start more."""
    return BatchOps(storage(), job).run_round(job, dt.datetime.now(dt.UTC))


@bp.activity(BATCH_ABORT)
def batch_abort(job: BatchAbortJob) -> None:
    """Abort every pending copy of a batch."""
    BatchOps(storage(), job).abort_all(job.pending)
