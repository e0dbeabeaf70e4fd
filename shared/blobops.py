"""Storage operations of a copy: SAS, lease, start / check / abort, snapshot, verify, publish.

Clients are built lazily from an account URL and a credential (account key for Azurite and
connection strings, DefaultAzureCredential otherwise), never at import. Every SDK call runs
inside `map_storage_errors`, so callers only see `shared.errors` types; no message carries a SAS
signature. Answers are the types of shared/contracts.py (`CopyStatus` for a copy). The copy's
activities are declared at the end, each beside the operation it runs.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobProperties,
    BlobSasPermissions,
    BlobServiceClient,
    StandardBlobTier,
    generate_blob_sas,
)

from shared.accounts import Account, BlobLocation
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
from shared.copylimits import CLOCK_SKEW, MAX_DELEGATION, SAS_MARGIN
from shared.copyprops import copy_status, created_since, refuse_if_leased, same_md5
from shared.errors import (
    CopyFailed,
    DestinationExists,
    LeaseConflict,
    PermanentStorageError,
    SourceUnreadable,
    StorageError,
    UnsafeBlobPath,
    map_storage_errors,
)
from shared.files import FileSas
from shared.hoststorage import host_queue_service
from shared.replicaops import ReplicaStart, holds_version, source_key
from shared.settings import STORAGE_CLIENT_OPTIONS, Settings, get_settings
from shared.timestamps import iso, parse_iso, utc


@contextlib.contextmanager
def as_copy_blob_reports_a_missing_source() -> Iterator[None]:
    """Storage errors mapped, and a missing source named as Copy Blob names it
    (CannotVerifyCopySource), whichever call touched the source first (a lease, a type check):
    the error code must not depend on unrelated options."""
    try:
        with map_storage_errors():
            yield
    except SourceUnreadable as exc:
        if exc.code not in ("BlobNotFound", "ContainerNotFound"):
            raise
        raise SourceUnreadable(
            "CannotVerifyCopySource", f"the copy source does not exist ({exc.code})"
        ) from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def copy_replaced() -> CopyFailed:
    """The error for a destination whose last copy is not ours: never report it as ours."""
    return CopyFailed("CopyReplaced", "another copy replaced ours on the destination")


class BlobOps:
    """Storage calls for the configured accounts; one instance per process."""

    def __init__(self, settings: Settings, **client_options: Any) -> None:
        self.settings = settings
        self.client_options = client_options  # e.g. retry_total=0 where the caller retries
        self._services: dict[str, BlobServiceClient] = {}

    @cached_property
    def _token_credential(self) -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def _credential(self, account: Account) -> Any:
        if account.account_key:
            return {"account_name": account.name, "account_key": account.account_key}
        if account.client_id:
            from azure.identity import DefaultAzureCredential

            return DefaultAzureCredential(managed_identity_client_id=account.client_id)
        return self._token_credential

    def service(self, account: Account) -> BlobServiceClient:
        """The account's service client, built on first use."""
        if account.name not in self._services:
            self._services[account.name] = BlobServiceClient(
                account.blob_endpoint, credential=self._credential(account), **self.client_options
            )
        return self._services[account.name]

    def locate(self, url: str) -> BlobLocation | None:
        """The configured account a URL belongs to, or None for external sources.

        A path that could resolve elsewhere is a permanent failure here too, for requests that
        reached an activity without the edge's check (an orchestration started before it).
        """
        try:
            return self.settings.registry.locate(url)
        except UnsafeBlobPath as exc:
            raise CopyFailed("InvalidBlobPath", str(exc)) from exc

    def blob(self, location: BlobLocation, snapshot: str | None = None) -> BlobClient:
        """A client for the blob (or one of its snapshots)."""
        return self.service(location.account).get_blob_client(
            location.container,
            location.blob,
            snapshot=snapshot or location.snapshot,
            version_id=None if snapshot else location.version_id,
        )

    def destination(self, url: str) -> BlobClient:
        """The destination's client; the edge already refused unconfigured destinations."""
        location = self.locate(url)
        if location is None:
            raise CopyFailed("DestinationNotConfigured", "destination account is not configured")
        return self.blob(location)

    def create_source_sas(self, location: BlobLocation, expiry: dt.datetime) -> str:
        """A read-only SAS query for one blob (snapshot or version), expiring at `expiry`."""
        start = _now() - CLOCK_SKEW
        common: dict[str, Any] = {
            "account_name": location.account.name,
            "container_name": location.container,
            "blob_name": location.blob,
            "snapshot": location.snapshot,
            "version_id": location.version_id,
            "permission": BlobSasPermissions(read=True),
            "start": start,
        }
        if location.account.account_key:
            return generate_blob_sas(
                account_key=location.account.account_key, expiry=expiry, **common
            )
        # The edge keeps deadline + margin within this (shared/copylimits.py); the cap only
        # keeps a copy accepted before that bound from failing at Get User Delegation Key.
        expiry = min(expiry, start + MAX_DELEGATION)
        with map_storage_errors():
            key = self.service(location.account).get_user_delegation_key(start, expiry)
        return generate_blob_sas(user_delegation_key=key, expiry=expiry, **common)

    @cached_property
    def files(self) -> FileSas:
        """SAS for Azure Files sources (shared/files.py), signed as the account allows."""
        return FileSas(self._credential, **self.client_options)

    def readable_source(self, url: str, deadline: dt.datetime) -> str:
        """The URL the service copies from: ours get a SAS, others are used as given."""
        location = self.locate(url)
        if location is None:  # a file of ours gets a file SAS; anything else is used as given
            return self.files.readable(self.settings.registry, url, deadline + SAS_MARGIN)
        if location.has_sas:
            return url
        sas = self.create_source_sas(location, deadline + SAS_MARGIN)
        query = [
            p
            for p in (
                f"snapshot={quote(location.snapshot, safe='')}" if location.snapshot else "",
                f"versionid={quote(location.version_id, safe='')}" if location.version_id else "",
            )
            if p
        ]
        return f"{location.base_url}?{'&'.join([*query, sas])}"

    def _lease(self, url: str, lease_id: str) -> BlobLeaseClient:
        location = self.locate(url)
        if location is None:
            raise LeaseConflict("SourceNotConfigured", "only sources in configured accounts lease")
        base = BlobLocation(location.account, location.container, location.blob)
        return BlobLeaseClient(self.blob(base), lease_id=lease_id)

    def acquire_lease(self, url: str, lease_id: str, duration: int) -> None:
        """Acquire (or, with the same id, re-acquire) the source lease.

        The lease is the first call to touch the source, so a missing source fails here; it is
        reported as Copy Blob reports it (CannotVerifyCopySource), whatever the lease mode.
        """
        with as_copy_blob_reports_a_missing_source():
            self._lease(url, lease_id).acquire(lease_duration=duration)

    def renew_lease(self, url: str, lease_id: str, duration: int) -> None:
        """Renew our lease; if it expired meanwhile and nobody took it, take it back.

        A broken lease is never taken back: breaking is how an operator takes a blob away from
        its lease holder, so the copy must stop instead.
        """
        try:
            with map_storage_errors():
                self._lease(url, lease_id).renew()
        except LeaseConflict as exc:
            if exc.code == "LeaseIsBrokenAndCannotBeRenewed":
                raise
            self.acquire_lease(url, lease_id, duration)

    def release_lease(self, url: str, lease_id: str) -> None:
        """Release our lease; a lease already gone is fine."""
        try:
            with map_storage_errors():
                self._lease(url, lease_id).release()
        except LeaseConflict:
            return

    def start_copy(
        self,
        request: dict[str, Any],
        deadline: dt.datetime,
        started_after: dt.datetime | None = None,
    ) -> CopyStatus:
        """Start the copy (requires_sync=False) honouring overwrite, metadata, tags and tier.

        `started_after` (when the orchestration asked for this start) lets a retried start
        recognise a destination that its own earlier attempt created.
        """
        dest = self.destination(request["destination"]["url"])
        options: dict[str, Any] = {"requires_sync": False}
        if request.get("tags"):
            options["tags"] = request["tags"]
        if request.get("tier"):
            options["standard_blob_tier"] = StandardBlobTier(request["tier"])
        overwrite = request.get("overwrite", "always")
        if overwrite == "never":
            options["match_condition"] = MatchConditions.IfMissing  # If-None-Match: *
        else:
            existing = self.properties_if_any(dest)
            if existing is not None and self.started_here(existing, request, started_after):
                return copy_status(existing)
            emptied = existing is not None and existing.copy.status in (
                BlobCopyStatus.FAILED,
                BlobCopyStatus.ABORTED,
            )  # a failed or aborted copy left it empty: never newer than its source
            if overwrite == "if_newer" and existing is not None and not emptied:
                options["source_if_modified_since"] = existing.last_modified
        self.check_source_type(request)
        source = self.readable_source(request["source"]["url"], deadline)
        try:
            with map_storage_errors():
                started = dest.start_copy_from_url(
                    source, request.get("metadata") or None, **options
                )
        except StorageError as exc:
            return self._start_refused(exc, dest, request, overwrite, started_after)
        if started.get("copy_status") == BlobCopyStatus.PENDING:
            copy_id = str(started.get("copy_id") or "") or None
            return CopyStatus(BlobCopyStatus.PENDING, copy_id, bytes_copied=0)
        with map_storage_errors():
            return copy_status(dest.get_blob_properties())

    def check_source_type(self, request: dict[str, Any]) -> None:
        """`destination.blob_type` against an account blob's own type, which Copy Blob keeps:
        without this a PageBlob asked for of a block blob silently made a block blob. Costs one
        Get Blob Properties, only when the type is asked for. A file source was checked at the
        edge (block blobs only); an external URL's type is not known, so it is not checked."""
        wanted = request["destination"].get("blob_type")
        location = self.locate(request["source"]["url"]) if wanted else None
        if location is None:
            return
        with as_copy_blob_reports_a_missing_source():
            found = self.blob(location).get_blob_properties().blob_type
        made = getattr(found, "value", found)  # a BlobType, whose str() is its Python name
        if made != wanted:
            raise CopyFailed(
                "InvalidBlobType",
                f"the source is a {made}, and a blob copy keeps its source's type: "
                f"destination.blob_type {wanted} cannot be made from it",
            )

    @staticmethod
    def properties_if_any(blob: BlobClient) -> BlobProperties | None:
        """The blob's properties, or None where there is no blob (one Get Blob Properties)."""
        with map_storage_errors():
            try:
                return blob.get_blob_properties()
            except ResourceNotFoundError:
                return None

    def lost_attempt(
        self, request: dict[str, Any], started_after: dt.datetime | None
    ) -> CopyStatus | None:
        """The copy an earlier attempt of this start made (its answer lost), if there is one."""
        props = self.properties_if_any(self.destination(request["destination"]["url"]))
        if props is None or not self.started_here(props, request, started_after):
            return None
        return copy_status(props)

    def started_here(
        self, props: BlobProperties, request: dict[str, Any], started_after: dt.datetime | None
    ) -> bool:
        """Whether the destination holds the copy an earlier attempt of this very start made:
        a copy of our source, pending or written since the orchestration asked for the start.

        An attempt's answer is lost when a status read after the Copy Blob fails, or the host
        dies before the answer is in history; the retry must not copy a second time (an
        overwrite=always copy would be accepted again, an if_newer one read as skipped)."""
        copy = props.copy
        if started_after is None or not copy.id:
            return False
        if not self.same_source(copy.source, request["source"]["url"]):
            return False
        if request.get("replica") and not self.holds_replica(props, request):
            return False  # a copy of another write of the same source: not this start's
        if copy.status == BlobCopyStatus.PENDING:
            return True
        return utc(props.last_modified) >= utc(started_after).replace(microsecond=0)

    def holds_replica(self, props: BlobProperties, request: dict[str, Any]) -> bool:
        """Whether the destination's copy is of the write this replica request names."""
        location = self.locate(request["source"]["url"])
        if location is None:
            return False
        return holds_version(props, source_key(location), request["replica"]["version"])

    def _start_refused(
        self,
        exc: StorageError,
        dest: BlobClient,
        request: dict[str, Any],
        overwrite: str,
        started_after: dt.datetime | None,
    ) -> CopyStatus:
        """Interpret a refused start: skip, adopt our own earlier attempt, or raise."""
        if overwrite == "never" and exc.code in ("ConditionNotMet", "BlobAlreadyExists"):
            with map_storage_errors():
                props = dest.get_blob_properties()
            if created_since(props, started_after) and self.same_source(
                props.copy.source, request["source"]["url"]
            ):
                return copy_status(props)
            raise DestinationExists("DestinationExists", "destination exists and overwrite=never")
        if overwrite == "if_newer" and exc.code in ("SourceConditionNotMet", "ConditionNotMet"):
            return CopyStatus(BlobCopyStatus.SUCCESS, description="destination newer", skipped=True)
        if exc.code == "PendingCopyOperation":  # a retried start whose first attempt got through
            with map_storage_errors():
                props = dest.get_blob_properties()
            if self.same_source(props.copy.source, request["source"]["url"]):
                return copy_status(props)
        raise exc

    def same_source(self, copied_from: str | None, requested: str) -> bool:
        """Whether a destination's recorded copy source is the blob or URL we asked to copy.

        The service records the URL we sent (our endpoint's spelling, our SAS), so compare
        what the URLs resolve to, not their text.
        """
        if not copied_from:
            return False
        ours = self.locate(requested)
        try:
            theirs = self.locate(copied_from)
        except CopyFailed:  # a recorded source we would refuse is not the one we asked for
            return False
        if ours is not None and theirs is not None:  # the same blob, and the same point in time
            return (ours.key, ours.snapshot, ours.version_id) == (
                theirs.key,
                theirs.snapshot,
                theirs.version_id,
            )
        return copied_from.split("?")[0] == requested.split("?")[0]

    def check_copy(self, url: str, copy_id: str | None) -> CopyStatus:
        """Read the destination's copy status (one Get Blob Properties)."""
        with map_storage_errors():
            props = self.destination(url).get_blob_properties()
        seen = copy_status(props)
        if copy_id and seen.copy_id != copy_id:
            raise copy_replaced()
        return seen

    def abort_copy(self, url: str, copy_id: str | None) -> CopyStatus:
        """Abort the copy; if it already ended, say how (the true final state)."""
        dest = self.destination(url)
        try:
            with map_storage_errors():
                if copy_id:
                    dest.abort_copy(copy_id)
                seen = copy_status(dest.get_blob_properties())
                return replace(seen, status=BlobCopyStatus.ABORTED)
        except PermanentStorageError as exc:
            if exc.code == "CopyIdMismatch":  # someone else's copy now: never report it as ours
                raise copy_replaced() from exc
            if exc.code not in ("NoPendingCopyOperation", "BlobNotFound"):
                raise
        with map_storage_errors():
            if not dest.exists():
                return CopyStatus(BlobCopyStatus.ABORTED, copy_id)
            seen = copy_status(dest.get_blob_properties())
        # Nothing is pending, whoever copied last: as in check_copy, only the id says it is ours.
        if copy_id and seen.copy_id != copy_id:
            raise copy_replaced()
        return seen

    def snapshot_destination(self, url: str) -> str | None:
        """Snapshot the destination so an abort can restore it; None if it does not exist.

        A destination leased by someone else fails here (DestinationLeased), before anything
        is written: the Copy Blob that follows would be refused (we send no lease id).
        """
        dest = self.destination(url)
        with map_storage_errors():
            try:
                props = dest.get_blob_properties()
            except ResourceNotFoundError:
                return None
            # a blob someone else leases refuses our Copy Blob: fail before the snapshot
            refuse_if_leased(props)
            return str(dest.create_snapshot()["snapshot"])

    def finish_snapshot(self, url: str, snapshot: str, restore: bool) -> None:
        """Copy the snapshot back over the destination if asked, then drop it once safe.

        An empty `snapshot` means the destination did not exist: restoring deletes what the
        copy left there (an aborted copy leaves an empty blob).
        """
        location = self.locate(url)
        if location is None:
            return
        dest = self.blob(location)
        with map_storage_errors():
            if not snapshot:
                if restore and dest.exists():
                    dest.delete_blob(delete_snapshots="include")
                return
            if restore:
                # A same-account source is authorized by our own credential (key or Entra ID),
                # so no SAS: with managed identity that would need a user delegation key on
                # the destination account, which its role does not grant.
                result = dest.start_copy_from_url(f"{location.base_url}?snapshot={snapshot}")
                if result.get("copy_status") != "success":
                    return  # still copying from the snapshot: keep it
            self.blob(location, snapshot=snapshot).delete_blob()

    def verify(
        self,
        source_url: str,
        dest_url: str,
        total_bytes: int | None,
        start_asked_at: str | None = None,
    ) -> list[str]:
        """Check length (and MD5 when both sides have one); the checks made, or CopyFailed.
        A file source is read too, and one written since the start was asked fails."""
        with map_storage_errors():
            dest = self.destination(dest_url).get_blob_properties()
        checked = ["length"]
        if total_bytes is not None and dest.size != total_bytes:
            raise CopyFailed("VerificationFailed", f"length {dest.size} != {total_bytes}")
        location = self.locate(source_url)
        if location is not None:
            with map_storage_errors():
                src = self.blob(location).get_blob_properties()
            return checked + same_bytes(src.size, src.content_settings.content_md5, dest)
        file = self.files.properties(self.settings.registry, source_url)
        if file is None:  # an external URL: nothing to read it with
            return checked
        checked += same_bytes(file.size, file.content_settings.content_md5, dest)
        if not start_asked_at:  # a copy started before the start was carried: nothing to check
            return checked
        if written_since(file.last_modified, parse_iso(start_asked_at)):
            raise CopyFailed(
                "VerificationFailed",
                f"the source file was written during the copy (at {iso(file.last_modified)})",
            )
        return [*checked, "unchanged"]

    def publish(self, queue: str, document: dict[str, Any]) -> None:
        """Send the result to a queue in the host's storage (base64, as Functions reads)."""
        settings = self.settings
        if not (settings.host_connection_string or settings.queue_service_url):
            raise CopyFailed("QueueNotConfigured", "set AzureWebJobsStorage to notify")
        with map_storage_errors():
            service = host_queue_service(
                settings.host_connection_string, settings.queue_service_url, **self.client_options
            )
            client = service.get_queue_client(queue)
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            text = json.dumps(document)
            client.send_message(base64.b64encode(text.encode()).decode())


# --- the copy's storage activities (shared/contracts.py holds their jobs and answers) ------

bp = ActivityBlueprint()


def same_bytes(size: int, md5: bytearray | None, dest: BlobProperties) -> list[str]:
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


@lru_cache(maxsize=1)
def storage() -> BlobOps:
    """The process's BlobOps, built on first use from the environment.

    SDK retries are off: `call_activity_with_retry` retries transient errors, visibly in history;
    both layers together turned one 503 into some 17 s of back-off.
    """
    return BlobOps(get_settings(), **STORAGE_CLIENT_OPTIONS)


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
