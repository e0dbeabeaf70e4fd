"""The copy's storage operations: lease, start / check / abort, snapshot, verify, publish.

`BlobOps` adds them to `BlobAccess` (shared/blobaccess.py: clients, addressing, the source's
SAS). Every SDK call runs inside `map_storage_errors`, so callers only see `shared.errors`
types; no message carries a SAS signature. Answers are the types of shared/contracts.py
(`CopyStatus` for a copy). The activities that run these operations are declared in
shared/copy_activities.py; `storage()` is the one instance a process uses.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobProperties, StandardBlobTier

from shared.accounts import BlobLocation
from shared.blobaccess import BlobAccess
from shared.contracts import BlobCopyStatus, CopyStatus
from shared.copyprops import (
    copy_status,
    created_since,
    refuse_if_leased,
    same_bytes,
    written_since,
)
from shared.errors import (
    CopyFailed,
    DestinationExists,
    LeaseConflict,
    PermanentStorageError,
    SourceUnreadable,
    StorageError,
    map_storage_errors,
)
from shared.hoststorage import host_queue_service
from shared.replicaops import holds_version, source_key
from shared.settings import STORAGE_CLIENT_OPTIONS, get_settings
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


def copy_replaced() -> CopyFailed:
    """The error for a destination whose last copy is not ours: never report it as ours."""
    return CopyFailed("CopyReplaced", "another copy replaced ours on the destination")


class BlobOps(BlobAccess):
    """The copy's storage operations for the configured accounts; one instance per process."""

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
            reader = self.source_reader(request["source"]["url"], location)
            found = reader.get_blob_properties().blob_type
        made = getattr(found, "value", found)  # a BlobType, whose str() is its Python name
        if made != wanted:
            raise CopyFailed(
                "InvalidBlobType",
                f"the source is a {made}, and a blob copy keeps its source's type: "
                f"destination.blob_type {wanted} cannot be made from it",
            )

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
                src = self.source_reader(source_url, location).get_blob_properties()
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


@lru_cache(maxsize=1)
def storage() -> BlobOps:
    """The process's BlobOps, built on first use from the environment.

    SDK retries are off: `call_activity_with_retry` retries transient errors, visibly in history;
    both layers together turned one 503 into some 17 s of back-off.
    """
    return BlobOps(get_settings(), **STORAGE_CLIENT_OPTIONS)
