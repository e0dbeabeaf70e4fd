"""How a batch round starts its copies: one read-only container SAS for all of them, then one
Copy Blob per blob (`START_THREADS` in flight), honouring overwrite, metadata and tier.

A blob that needs no copy under the overwrite rule was left out before (shared/batchops.py
`needs_no_copy`); a refusal of Copy Blob that means the same (the destination changed since
the listing) is counted as a skip.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from azure.core import MatchConditions
from azure.storage.blob import (
    BlobClient,
    BlobProperties,
    ContainerSasPermissions,
    StandardBlobTier,
    generate_container_sas,
)

from shared.accounts import Account
from shared.batchleases import BatchLeases
from shared.batchlisting import BatchListing
from shared.batchreport import report_line
from shared.batchrequests import BatchRequest
from shared.contracts import BatchBlob, BlobCopyStatus
from shared.copylimits import CLOCK_SKEW, MAX_DELEGATION
from shared.errors import PermanentStorageError, map_storage_errors, retry_transient

#: Copy Blob calls of one round in flight at once (each is one short request).
START_THREADS = 8
#: Refusals of Copy Blob that mean "nothing to do" under the request's overwrite rule.
_SKIP_CODES = {
    "never": {"ConditionNotMet", "BlobAlreadyExists"},
    "if_newer": {"SourceConditionNotMet", "ConditionNotMet"},
}


@dataclass(frozen=True)
class PlannedStart:
    """A copy a round will start: the blob as listed, its destination name, and what the
    destination listing said of that name (for `if_newer`)."""

    blob: BatchBlob
    name: str
    dest: BlobProperties | None


@dataclass(frozen=True)
class BatchStarts:
    """The starts of one round, through the batch's listing (its containers) and leases."""

    listing: BatchListing
    leases: BatchLeases

    @property
    def request(self) -> BatchRequest:
        return self.listing.request

    def start_all(
        self, starts: list[PlannedStart], expiry: dt.datetime, now: dt.datetime
    ) -> list[BatchBlob | dict[str, Any]]:
        """Start the round's copies, `START_THREADS` at a time (one container SAS for all):
        for each, in listing order, its pending copy or its report line."""
        sas = self.source_sas(expiry, now)
        with ThreadPoolExecutor(max_workers=min(START_THREADS, len(starts))) as pool:
            return list(pool.map(lambda planned: self.start(planned, sas), starts))

    def start(self, planned: PlannedStart, sas: str) -> BatchBlob | dict[str, Any]:
        """Start one copy (asynchronous), honouring overwrite, metadata and tier: the pending
        copy, or the report line of a copy that ended at once or was refused."""
        blob, name = planned.blob, planned.name
        target = self.listing.client(self.listing.destination).get_blob_client(name)
        release = self.leases.release
        try:
            if self.leases.held:  # before the copy: a writer must not change the source under it
                self.leases.acquire(blob)
            source = f"{self.listing.source_url(blob.name)}?{sas}"
            started = retry_transient(self._start_one, target, source, self.options(planned))
        except PermanentStorageError as exc:
            if exc.code in _SKIP_CODES.get(self.request.overwrite, set()):
                return release(blob, report_line(blob.name, name, "skipped", None, None, None))
            return release(blob, report_line(blob.name, name, "failed", None, None, exc.code))
        copy_id = str(started.get("copy_id") or "")
        if started.get("copy_status") == BlobCopyStatus.PENDING:
            return replace(blob, copy_id=copy_id)
        return release(blob, report_line(blob.name, name, "succeeded", blob.size, copy_id, None))

    def options(self, planned: PlannedStart) -> dict[str, Any]:
        """Copy Blob's options for one blob: asynchronous, the tier, the overwrite rule's
        condition (`if_newer` against what the destination listing showed)."""
        options: dict[str, Any] = {"requires_sync": False}
        if self.request.tier:
            options["standard_blob_tier"] = StandardBlobTier(self.request.tier)
        if self.request.overwrite == "never":
            options["match_condition"] = MatchConditions.IfMissing
        dest = planned.dest
        if self.request.overwrite == "if_newer" and dest is not None and holds_whole(dest):
            options["source_if_modified_since"] = dest.last_modified
        return options

    def _start_one(self, target: BlobClient, source: str, options: dict[str, Any]) -> Any:
        """One Copy Blob (asynchronous), with the request's metadata."""
        with map_storage_errors():
            return target.start_copy_from_url(source, self.request.metadata or None, **options)

    def source_sas(self, expiry: dt.datetime, now: dt.datetime) -> str:
        """One read-only container SAS for the round's copies (one delegation key, if any)."""
        start = now - CLOCK_SKEW
        source = self.listing.source
        account = source.account
        common: dict[str, Any] = {
            "account_name": account.name,
            "container_name": source.container,
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
            return self.listing.access.service(account).get_user_delegation_key(start, expiry)


def holds_whole(dest: BlobProperties) -> bool:
    """Whether the destination holds a whole blob: one whose last copy failed or was aborted
    was emptied by it (as Azure does), so it is never `newer` than its source, however recent."""
    return dest.copy.status not in (BlobCopyStatus.FAILED, BlobCopyStatus.ABORTED)
