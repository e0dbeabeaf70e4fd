"""The ordered start of a replica copy: copies of one destination apply in write order.

Event Grid redelivers and does not order, so two writes of one source blob can start two copy
orchestrations into one destination in any order. A copy request with a `replica` block
(shared/requests.py; replication rules set it) starts through `start_replica` here instead of
the plain start, which makes the outcome the same whatever the order:

- the destination carries the version it holds in its metadata (`STAMP`), set by the very
  Copy Blob that writes it, so the version and the content change together;
- a copy whose version is not newer than the destination's is skipped, and so is one whose
  source no longer has the event's ETag (a newer write replaced it: its own event copies it);
- while another copy is pending on the destination, nothing is started: the orchestration is
  told `DestinationBusy` and asks again later (Azure refuses a second Copy Blob with
  `PendingCopyOperation`; waiting is what keeps the newer write from being lost);
- the Copy Blob is conditional on what was read: `If-Match` the destination's ETag (or
  `If-None-Match: *`) and `x-ms-source-if-match` the source's, so a write between the read and
  the start is seen, and the decision taken again.

Cost: one Get Blob Properties on each side and one Copy Blob per copy (the plain `if_newer`
start reads only the destination). What it guarantees, and how it is tested:
docs/replication.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties, StandardBlobTier

from shared.accounts import BlobLocation
from shared.contracts import BlobCopyStatus, CopyStatus, DestinationBusy
from shared.copyprops import copy_status, same_md5
from shared.errors import (
    CopyFailed,
    DestinationExists,
    StorageError,
    TransientStorageError,
    map_storage_errors,
)
from shared.timestamps import utc

#: The destination metadata that names the source write it holds: `<source blob key>.<Event
#: Grid's sequencer>` (`stamp_of`).
STAMP = "blobcopy_replica_version"
#: Reads and conditional starts before giving up on a destination that keeps changing (the
#: activity's retries then try again).
START_ROUNDS = 3


def source_key(location: BlobLocation) -> str:
    """Which source blob a stamp is of: sequencers order the writes of one blob name only, so a
    stamp copied along (a replica of a replica) or written by another rule's source is never
    compared with this source's."""
    name = "/".join(location.key)
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def stamp_of(key: str, version: str) -> str:
    """The metadata value a replica's Copy Blob writes: the source blob and its write."""
    return f"{key}.{version}"


def stamped_version(props: BlobProperties, key: str) -> str | None:
    """The write of this source the destination's stamp names; None when it has no stamp, or a
    stamp of another source blob."""
    stamp = str((props.metadata or {}).get(STAMP) or "")
    found, _, version = stamp.partition(".")
    return version if found == key and version else None


def not_older(held: str, version: str) -> bool:
    """Whether `held` is the same write as `version` or a later one. Event Grid documents
    sequencers of one blob as compared as strings; two of different lengths are not of one
    scheme (an odd event), so they order nothing and never block a write."""
    return len(held) == len(version) and held >= version


def held_version(props: BlobProperties | None, key: str) -> str | None:
    """The write of this source the destination holds whole: none where it is missing, was
    written by someone else (or from another source), or its last copy failed or was aborted."""
    if props is None or props.copy.status in (BlobCopyStatus.FAILED, BlobCopyStatus.ABORTED):
        return None
    return stamped_version(props, key)


def holds_version(props: BlobProperties, key: str, version: str) -> bool:
    """Whether the destination's current (or pending) copy is of this very write."""
    return stamped_version(props, key) == version


def same_etag(a: str | None, b: str | None) -> bool:
    """ETags compared without the quotes some producers drop."""
    return bool(a) and bool(b) and str(a).strip('"') == str(b).strip('"')


def skipped(why: str) -> CopyStatus:
    """A copy that had nothing to do: reported `succeeded` with `skipped: true`."""
    return CopyStatus(BlobCopyStatus.SUCCESS, description=why, skipped=True)


class Storage(Protocol):
    """What an ordered start needs of shared/blobops.py `BlobOps` (which imports this module)."""

    def locate(self, url: str) -> BlobLocation | None: ...
    def blob(self, location: BlobLocation, snapshot: str | None = None) -> BlobClient: ...
    def destination(self, url: str) -> BlobClient: ...
    def readable_source(self, url: str, deadline: dt.datetime) -> str: ...
    def properties_if_any(self, blob: BlobClient) -> BlobProperties | None: ...
    def started_here(
        self, props: BlobProperties, request: dict[str, Any], started_after: dt.datetime | None
    ) -> bool: ...


class ReplicaStart:
    """One ordered start; `run` decides from fresh reads each round."""

    def __init__(
        self,
        ops: Storage,
        request: dict[str, Any],
        deadline: dt.datetime,
        started_after: dt.datetime | None,
    ) -> None:
        self.ops = ops
        self.request = request
        self.version = str(request["replica"]["version"])
        self.source_etag = request["replica"].get("source_etag")
        self.deadline = deadline
        self.started_after = started_after
        self.dest = ops.destination(request["destination"]["url"])
        location = ops.locate(request["source"]["url"])
        if location is None:  # the edge refuses this; an old instance could still carry it
            raise CopyFailed("ReplicaSourceNotConfigured", "a replica's source must be ours")
        self.source = ops.blob(location)
        self.key = source_key(location)

    def run(self) -> CopyStatus | DestinationBusy:
        """Read both sides, decide, start conditionally; again if either side changed."""
        for _ in range(START_ROUNDS):
            decided = self.decide_and_start()
            if decided is not None:
                return decided
        raise TransientStorageError("DestinationChanging", "a side changed on every start")

    def decide_and_start(self) -> CopyStatus | DestinationBusy | None:
        """One round; None when a condition failed (someone wrote in between)."""
        existing = self.ops.properties_if_any(self.dest)
        if existing is not None:
            early = self.decided_by_destination(existing)
            if early is not None:
                return early
        source = self.ops.properties_if_any(self.source)
        if source is None:
            return skipped("superseded: the source no longer exists")
        if self.source_etag and not same_etag(source.etag, self.source_etag):
            return skipped("superseded: the source was written again since this version")
        if self.kept_by_if_newer(existing, source):
            return skipped("destination newer (overwrite: if_newer)")
        return self.start(existing, source)

    def decided_by_destination(
        self, existing: BlobProperties
    ) -> CopyStatus | DestinationBusy | None:
        """What the destination alone decides: our own copy, another to wait for, a newer
        version already there, or an existing blob that overwrite=never keeps."""
        if self.ops.started_here(existing, self.request, self.started_after):
            return copy_status(existing)
        if existing.copy.status == BlobCopyStatus.PENDING:
            return DestinationBusy(existing.copy.id)
        held = held_version(existing, self.key)
        if held is not None and not_older(held, self.version):
            return skipped(f"destination holds version {held}, not older than {self.version}")
        if self.request.get("overwrite") == "never":
            raise DestinationExists("DestinationExists", "destination exists and overwrite=never")
        return None

    def kept_by_if_newer(self, existing: BlobProperties | None, source: BlobProperties) -> bool:
        """`overwrite: if_newer` on a destination replication did not write (no stamp of this
        source) and that holds a whole blob written since the source: it is kept, as a plain
        copy request with if_newer keeps it (a back-filled copy of this very write too)."""
        if self.request.get("overwrite") != "if_newer" or existing is None:
            return False
        if existing.copy.status in (BlobCopyStatus.FAILED, BlobCopyStatus.ABORTED):
            return False
        if stamped_version(existing, self.key) is not None:
            return False
        return holds_the_source_or_newer(existing, source)

    def start(
        self, existing: BlobProperties | None, source: BlobProperties
    ) -> CopyStatus | DestinationBusy | None:
        """Copy Blob, conditional on both sides as read; None when a condition failed."""
        metadata = dict(self.request.get("metadata") or source.metadata or {})
        metadata[STAMP] = stamp_of(self.key, self.version)  # given metadata replaces the source's
        options: dict[str, Any] = {
            "requires_sync": False,
            "source_etag": source.etag,
            "source_match_condition": MatchConditions.IfNotModified,
        }
        if existing is None:
            options["match_condition"] = MatchConditions.IfMissing
        else:
            options["etag"] = existing.etag
            options["match_condition"] = MatchConditions.IfNotModified
        if self.request.get("tags"):
            options["tags"] = self.request["tags"]
        if self.request.get("tier"):
            options["standard_blob_tier"] = StandardBlobTier(self.request["tier"])
        url = self.ops.readable_source(self.request["source"]["url"], self.deadline)
        try:
            with map_storage_errors():
                started = self.dest.start_copy_from_url(url, metadata, **options)
        except StorageError as exc:
            return self.refused(exc)
        if started.get("copy_status") == BlobCopyStatus.PENDING:
            copy_id = str(started.get("copy_id") or "") or None
            return CopyStatus(BlobCopyStatus.PENDING, copy_id, bytes_copied=0)
        with map_storage_errors():
            return copy_status(self.dest.get_blob_properties())

    def refused(self, exc: StorageError) -> CopyStatus | DestinationBusy | None:
        """A refused conditional start: look again, wait, or raise."""
        if exc.code in ("ConditionNotMet", "BlobAlreadyExists", "SourceConditionNotMet"):
            return None  # a side changed between the read and the start: decide again
        if exc.code == "PendingCopyOperation":
            return DestinationBusy(None)
        raise exc


def holds_the_source_or_newer(existing: BlobProperties, source: BlobProperties) -> bool:
    """Whether a destination was written after the source, or in the same second with the
    same bytes (by MD5).

    Last-Modified has a resolution of one second, so a tie says nothing about order: a
    back-fill of the source's previous version and the write that replaced it can share a
    second, and keeping the destination then loses that write for good (it was the flake of
    `test_a_back_filled_second_hop_still_takes_the_next_write`). Without both MD5s (blobs
    put block by block may have none) a tie copies: one copy too many costs a Copy Blob, one
    too few costs the data."""
    written, source_written = utc(existing.last_modified), utc(source.last_modified)
    if written != source_written:
        return written > source_written
    ours, theirs = existing.content_settings.content_md5, source.content_settings.content_md5
    return bool(same_md5(ours, theirs)) and existing.size == source.size


def delete_replica(ops: Storage, source_url: str, destination_url: str, version: str) -> str:
    """Mirror a source's delete (its event's sequencer is `version`); what was done, in words.

    Only a destination replication wrote from this source, holding an older write than the
    delete, is deleted, and only as read (`If-Match`): a destination a newer write replaced
    stays. A copy of an older write still pending is aborted first (its source is gone, so
    it could only fail; waiting for it would hold the event until the queue poisons it).
    """
    location = ops.locate(source_url)
    if location is None:  # rules name configured accounts only
        return "kept: the source is not in a configured account"
    dest = ops.destination(destination_url)
    props = ops.properties_if_any(dest)
    if props is None:
        return "absent"
    held = stamped_version(props, source_key(location))
    if held is None:
        return "kept: not written by replication from this source"
    if not_older(held, version):
        return f"kept: holds write {held}, newer than the delete"
    if props.copy.status == BlobCopyStatus.PENDING:
        with map_storage_errors():
            dest.abort_copy(str(props.copy.id))
        props = ops.properties_if_any(dest)
        if props is None:
            return "absent"
    with map_storage_errors():
        try:
            dest.delete_blob(
                delete_snapshots="include",
                etag=props.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceNotFoundError:
            return "absent"
    return "deleted"
