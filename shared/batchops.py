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

A round may run twice (its answer lost to a crash, then retried): it never starts a second copy
into a destination that already holds this round's copy (same source, pending or written since
the round was decided), and the report's append is conditional on its length, so no line is
written twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from azure.core import MatchConditions
from azure.storage.blob import (
    BlobClient,
    BlobPrefix,
    BlobProperties,
    ContainerClient,
    ContainerSasPermissions,
    StandardBlobTier,
    generate_container_sas,
)

from shared.accounts import Account, BlobLocation
from shared.batchreport import append_lines
from shared.batchrequests import BatchRequest
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
from shared.copylimits import CLOCK_SKEW, MAX_DELEGATION, SAS_MARGIN
from shared.errors import CopyFailed, PermanentStorageError, map_storage_errors, retry_transient
from shared.polling import RENEW_FRACTION
from shared.replicaops import source_key, stamped_version
from shared.timestamps import iso, parse_iso, utc

#: How far storage's clock may lag the orchestration's when a retried round judges whether a
#: copy it finds was started by its lost attempt (a larger lag makes it copy that blob again).
ADOPTION_SKEW = dt.timedelta(seconds=2)
#: Copy Blob calls of one round in flight at once (each is one short request).
START_THREADS = 8
#: Source pages read at most in one round when filters drop names (bounds a round's time).
MAX_PAGES_PER_ROUND = 10
#: Refusals of Copy Blob that mean "nothing to do" under the request's overwrite rule.
_SKIP_CODES = {
    "never": {"ConditionNotMet", "BlobAlreadyExists"},
    "if_newer": {"SourceConditionNotMet", "ConditionNotMet"},
}


@dataclass(frozen=True)
class RoundClock:
    """The two clocks a round judges by. `asked`, the orchestration's time when the round was
    decided, is the same in every attempt of the round: timeouts and adoption are judged by
    it, so a retried round decides as its lost attempt did. `now`, this attempt's clock taken
    before any call, dates the leases it takes or renews: a lease's life runs from before the
    call that gave it, so the renewal is never later than it should be."""

    asked: dt.datetime
    now: dt.datetime


@dataclass(frozen=True)
class PlannedStart:
    """A copy a round will start: the blob as listed, its destination name, and what the
    destination listing said of that name (for `if_newer`)."""

    blob: BatchBlob
    name: str
    dest: BlobProperties | None


@dataclass
class RoundLedger:
    """What one round has found so far: the pending copies, the report lines, the tally."""

    pending: list[BatchBlob] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    tally: BatchTally = field(default_factory=BatchTally)
    errors: dict[str, int] = field(default_factory=dict)
    pending_copied: int = 0
    pending_total: int = 0

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
    """One batch round's storage calls, through the process's BlobOps clients."""

    def __init__(self, ops: BlobOps, job: BatchRoundJob | BatchAbortJob) -> None:
        self.ops = ops
        self.batch_id = job.batch_id
        self.request = BatchRequest.model_validate(job.request)
        self.leases = self.request.lease_source != "none" and not self.request.dry_run
        self.renews = self.leases and self.request.lease_source == "renewed"
        self.lease_seconds = job.lease_seconds if isinstance(job, BatchRoundJob) else 60
        self.stopping = isinstance(job, BatchRoundJob) and job.stopping
        #: Pending copies whose renewed lease was lost this round: name -> storage's code.
        self.leases_lost: dict[str, str] = {}
        self.source = self._container(self.request.source.url)
        self.destination = self._container(self.request.destination.url)

    def _container(self, url: str) -> BlobLocation:
        location = self.ops.locate(url)
        if location is None:
            raise CopyFailed("ContainerNotConfigured", "batches copy between configured accounts")
        return location

    def client(self, location: BlobLocation) -> ContainerClient:
        return self.ops.service(location.account).get_container_client(location.container)

    def source_url(self, name: str) -> str:
        """A source blob's URL (no SAS), spelled as the service expects."""
        return BlobLocation(self.source.account, self.source.container, name).base_url

    # --- reading ------------------------------------------------------------------------

    def list_sources(
        self, marker: str | None, wanted: int, page_size: int
    ) -> tuple[list[BlobProperties], str | None, bool]:
        """Up to `wanted` selected source blobs from `marker`: (blobs, next marker, exhausted)."""
        client, prefix = self.client(self.source), self.request.source.prefix
        found: list[BlobProperties] = []
        for _ in range(MAX_PAGES_PER_ROUND):
            size = max(1, min(wanted - len(found), page_size))
            page, marker = retry_transient(self._source_page, client, prefix, marker, size)
            found += [b for b in page if self.request.selects(b.name[len(prefix) :])]
            if not marker or len(found) >= wanted:
                break
        return found, marker, not marker

    @staticmethod
    def _source_page(
        client: ContainerClient, prefix: str, marker: str | None, size: int
    ) -> tuple[list[BlobProperties], str | None]:
        """One page of the source listing after `marker`, and the marker after it."""
        with map_storage_errors():
            listing = client.list_blobs(name_starts_with=prefix, results_per_page=size)
            page_iter = listing.by_page(continuation_token=marker)
            page = list(next(page_iter, []))
            return page, getattr(page_iter, "continuation_token", None)  # azure-core PageIterator

    def destinations(self, names: list[str], metadata: bool = False) -> dict[str, BlobProperties]:
        """The destination blobs with these names, with their copy properties (and metadata,
        in the same transaction, if asked), in one listing over the window the names span
        (they come in name order)."""
        if not names:
            return {}
        return retry_transient(self._destination_window, names, metadata)

    def _destination_window(self, names: list[str], metadata: bool) -> dict[str, BlobProperties]:
        first, last = min(names), max(names)
        common = _common_prefix(first, last)
        client, wanted = self.client(self.destination), set(names)
        found: dict[str, BlobProperties] = {}
        include = ["copy", "metadata"] if metadata else ["copy"]
        with map_storage_errors():
            for blob in client.list_blobs(name_starts_with=common, include=include):
                if isinstance(blob, BlobPrefix):
                    continue
                if blob.name > last:
                    break
                if blob.name in wanted:
                    found[blob.name] = blob
        return found

    # --- the round ----------------------------------------------------------------------

    def run_round(self, job: BatchRoundJob, now: dt.datetime) -> BatchRound:
        """Read the pending copies, fill the slots they left, append the report.

        The slots are counted after the status read, so copies that ended this round make
        room in this round (one listing of the pending window, one of the new names')."""
        ledger, clock = RoundLedger(), RoundClock(parse_iso(job.asked_at), now)
        pending = self.destinations([self.request.destination_name(p.name) for p in job.pending])
        for blob in self.renew_due(job.pending, pending, now):
            self.follow(blob, pending.get(self.request.destination_name(blob.name)), ledger, clock)
        sources: list[BlobProperties] = []
        marker, exhausted = job.marker, False
        free = self.request.max_concurrency - len(ledger.pending) if job.fill else 0
        if free > 0:
            sources, marker, exhausted = self.list_sources(job.marker, free, job.page_size)
        names = [self.request.destination_name(b.name) for b in sources]
        seen = self.destinations(names, metadata=True)  # whose copies they are: replica stamps
        starts = [s for p in sources if (s := self.take(p, seen, clock, ledger)) is not None]
        if starts:
            self.start_all(starts, parse_iso(job.deadline) + SAS_MARGIN, now, ledger)
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
            line = _line(blob.name, name, "failed", None, blob.copy_id, code)
            ledger.end(self.release(blob, line))
            return
        status = dest.copy.status or BlobCopyStatus.SUCCESS
        if status != BlobCopyStatus.PENDING:
            ledger.end(self.release(blob, self.ended(blob, name, dest, status, clock)))
            return
        if blob.foreign and self.stopping:  # not ours to abort: the batch stops watching it
            ledger.end(_line(blob.name, name, "skipped", None, blob.copy_id, "DestinationBusy"))
            return
        reason = self.stop_reason(blob, clock)
        if reason and (stopped := self.stop_copy(blob, name, reason)) is not None:
            ledger.end(stopped)
            return
        copied, total = _progress(dest)
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
                return _line(blob.name, name, "failed", None, blob.copy_id, "VerificationFailed")
            return _line(blob.name, name, "succeeded", dest.size, blob.copy_id, None)
        if status == BlobCopyStatus.ABORTED and self.timed_out(blob, clock):
            return _line(blob.name, name, "failed", None, blob.copy_id, "Timeout")
        state = "aborted" if status == BlobCopyStatus.ABORTED else "failed"
        code = "Aborted" if state == "aborted" else "CopyFailed"
        return _line(blob.name, name, state, None, blob.copy_id, code)

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
        target = self.client(self.destination).get_blob_client(name)
        try:
            retry_transient(_abort_one, target, blob.copy_id)
        except PermanentStorageError:
            return None
        return self.release(blob, _line(blob.name, name, "failed", None, blob.copy_id, code))

    # --- renewed leases -----------------------------------------------------------------

    def renew_due(
        self, blobs: list[BatchBlob], dests: dict[str, BlobProperties], now: dt.datetime
    ) -> list[BatchBlob]:
        """Renew, `START_THREADS` at a time, the leases of the copies still pending whose
        lease has lived a third of its life; the blobs, their `leased_at` updated. A lease
        lost is noted (`leases_lost`) and no longer dated, so its copy stops."""
        due = [b for b in blobs if self.renewal_due(b, dests, now)]
        if not due:
            return blobs
        with ThreadPoolExecutor(max_workers=min(START_THREADS, len(due))) as pool:
            lost = dict(zip((b.name for b in due), pool.map(self.renew, due), strict=True))
        self.leases_lost = {name: code for name, code in lost.items() if code}
        stamp = {name: None if code else iso(now) for name, code in lost.items()}
        return [replace(b, leased_at=stamp[b.name]) if b.name in stamp else b for b in blobs]

    def renewal_due(
        self, blob: BatchBlob, dests: dict[str, BlobProperties], now: dt.datetime
    ) -> bool:
        """A renewed lease a third through its life, on a copy the listing shows pending."""
        dest = dests.get(self.request.destination_name(blob.name))
        if not (self.renews and blob.leased_at) or dest is None:
            return False
        if dest.copy.id != blob.copy_id or dest.copy.status != BlobCopyStatus.PENDING:
            return False  # ended: released this round, not renewed
        age = (now - parse_iso(blob.leased_at)).total_seconds()
        return age >= self.lease_seconds * RENEW_FRACTION

    def renew(self, blob: BatchBlob) -> str | None:
        """Renew one lease (taking it back if it lapsed unclaimed); storage's code if lost."""
        try:
            retry_transient(
                self.ops.renew_lease, self.source_url(blob.name), self.lease_id(blob),
                self.lease_seconds,
            )  # fmt: skip
        except PermanentStorageError as exc:
            return exc.code
        return None

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
        verdict = self.needs_no_copy(props, dest)
        if self.request.dry_run:
            state = "would_skip" if verdict else "would_copy"
            ledger.end(_line(props.name, name, state, props.size, None, verdict))
            return None
        if verdict:
            ledger.end(_line(props.name, name, "skipped", None, None, None))
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
            leased_at=iso(clock.now) if self.renews else None,
        )

    def ours(self, dest: BlobProperties, props: BlobProperties, asked: dt.datetime) -> bool:
        """Whether the destination holds a copy of this source that this round started (in a
        lost attempt): one written (a pending copy: started, as Copy Blob writes the
        destination when it starts) since the round was decided. A copy that an earlier batch
        made, or that someone else started, was written before, so it is not ours."""
        copy = dest.copy
        if not copy.id or not self.ops.same_source(copy.source, self.source_url(props.name)):
            return False
        if self.replica_of_this_source(dest, props):
            return False  # an event's copy, however recent (a back-fill running beside it)
        return utc(dest.last_modified) >= utc(asked) - ADOPTION_SKEW

    def replica_of_this_source(self, dest: BlobProperties, props: BlobProperties) -> bool:
        """Whether replication wrote (or is writing) the destination from this very source
        blob: its stamp names the source (shared/replicaops.py). A batch's own copy never
        carries such a stamp (its Copy Blob keeps the source's metadata, or the request's)."""
        source = BlobLocation(self.source.account, self.source.container, props.name)
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
            and self.ops.same_source(copy.source, self.source_url(props.name))
        )

    def needs_no_copy(self, props: BlobProperties, dest: BlobProperties | None) -> str | None:
        """Why the overwrite rule leaves this destination alone (None: copy it)."""
        if dest is None:
            return None
        if self.request.overwrite == "never":
            return "DestinationExists"
        if (
            self.request.overwrite == "if_newer"
            and holds_whole(dest)
            and utc(dest.last_modified) >= utc(props.last_modified)
        ):
            return "DestinationNewer"
        return None

    def start_all(
        self, starts: list[PlannedStart], expiry: dt.datetime, now: dt.datetime, ledger: RoundLedger
    ) -> None:
        """Start the round's copies, `START_THREADS` at a time (one container SAS for all),
        and take each answer into the ledger in listing order."""
        sas = self.source_sas(expiry, now)
        with ThreadPoolExecutor(max_workers=min(START_THREADS, len(starts))) as pool:
            answers = list(pool.map(lambda planned: self.start(planned, sas), starts))
        for planned, answer in zip(starts, answers, strict=True):
            if isinstance(answer, BatchBlob):
                ledger.pending.append(answer)
                ledger.pending_total += planned.blob.size or 0
            else:
                ledger.end(answer)

    def start(self, planned: PlannedStart, sas: str) -> BatchBlob | dict[str, Any]:
        """Start one copy (asynchronous), honouring overwrite, metadata and tier: the pending
        copy, or the report line of a copy that ended at once or was refused."""
        blob, name, dest = planned.blob, planned.name, planned.dest
        target = self.client(self.destination).get_blob_client(name)
        options: dict[str, Any] = {"requires_sync": False}
        if self.request.tier:
            options["standard_blob_tier"] = StandardBlobTier(self.request.tier)
        if self.request.overwrite == "never":
            options["match_condition"] = MatchConditions.IfMissing
        elif self.request.overwrite == "if_newer" and dest is not None and holds_whole(dest):
            options["source_if_modified_since"] = dest.last_modified
        try:
            if self.leases:  # before the copy: a writer must not change the source under it
                source, lease_id = self.source_url(blob.name), self.lease_id(blob)
                duration = self.lease_seconds if self.renews else -1
                retry_transient(self.ops.acquire_lease, source, lease_id, duration)
            started = retry_transient(
                self._start_one, target, f"{self.source_url(blob.name)}?{sas}", options
            )
        except PermanentStorageError as exc:
            if exc.code in _SKIP_CODES.get(self.request.overwrite, set()):
                return self.release(blob, _line(blob.name, name, "skipped", None, None, None))
            return self.release(blob, _line(blob.name, name, "failed", None, None, exc.code))
        copy_id = str(started.get("copy_id") or "")
        if started.get("copy_status") == BlobCopyStatus.PENDING:
            return replace(blob, copy_id=copy_id)
        line = _line(blob.name, name, "succeeded", blob.size, copy_id, None)
        return self.release(blob, line)

    def _start_one(self, target: BlobClient, source: str, options: dict[str, Any]) -> Any:
        """One Copy Blob (asynchronous), with the request's metadata."""
        with map_storage_errors():
            return target.start_copy_from_url(source, self.request.metadata or None, **options)

    def lease_id(self, blob: BatchBlob) -> str:
        """The same lease id in every attempt of a round: a retried acquire is idempotent."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"blobcopy-batch/{self.batch_id}/{blob.name}"))

    def release(self, blob: BatchBlob, line: dict[str, Any]) -> dict[str, Any]:
        """Release the source's lease once its copy has ended. A lease that is not there (the
        acquire was refused, the source is gone) is nothing to release: the blob's line says
        what happened; a transient error raises, and the retried round releases again."""
        if self.leases and not blob.foreign:
            with contextlib.suppress(PermanentStorageError):
                self.ops.release_lease(self.source_url(blob.name), self.lease_id(blob))
        return line

    def source_sas(self, expiry: dt.datetime, now: dt.datetime) -> str:
        """One read-only container SAS for the round's copies (one delegation key, if any)."""
        start = now - CLOCK_SKEW
        account = self.source.account
        common: dict[str, Any] = {
            "account_name": account.name,
            "container_name": self.source.container,
            "permission": ContainerSasPermissions(read=True),
            "start": start,
        }
        if account.account_key:
            return generate_container_sas(account_key=account.account_key, expiry=expiry, **common)
        expiry = min(expiry, start + MAX_DELEGATION)
        key = retry_transient(self._delegation_key, account, start, expiry)
        return generate_container_sas(user_delegation_key=key, expiry=expiry, **common)

    def _delegation_key(self, account: Account, start: dt.datetime, expiry: dt.datetime) -> Any:
        with map_storage_errors():
            return self.ops.service(account).get_user_delegation_key(start, expiry)

    def report_container(self) -> ContainerClient:
        """The container of reports (BLOBCOPY_REPORT_CONTAINER) in the destination account."""
        service = self.ops.service(self.destination.account)
        return service.get_container_client(self.ops.settings.report_container)

    # --- abort --------------------------------------------------------------------------

    def abort_all(self, pending: list[BatchBlob]) -> None:
        """Abort each pending copy; one that already ended is left as it is."""
        client = self.client(self.destination)
        for blob in (b for b in pending if not b.foreign):
            target = client.get_blob_client(self.request.destination_name(blob.name))
            try:
                retry_transient(_abort_one, target, blob.copy_id)
            except PermanentStorageError:
                continue  # ended, or replaced: the next round reads how


def _abort_one(target: BlobClient, copy_id: str) -> None:
    with map_storage_errors():
        target.abort_copy(copy_id)


def holds_whole(dest: BlobProperties) -> bool:
    """Whether the destination holds a whole blob: one whose last copy failed or was aborted
    was emptied by it (as Azure does), so it is never `newer` than its source, however recent."""
    return dest.copy.status not in (BlobCopyStatus.FAILED, BlobCopyStatus.ABORTED)


def _common_prefix(a: str, b: str) -> str:
    """The longest prefix both names share: the listing window's `name_starts_with`."""
    size = 0
    while size < min(len(a), len(b)) and a[size] == b[size]:
        size += 1
    return a[:size]


def _progress(dest: BlobProperties) -> tuple[int | None, int | None]:
    try:
        copied, total = (dest.copy.progress or "").split("/")
        return int(copied), int(total)
    except ValueError:
        return None, None


def _line(
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
