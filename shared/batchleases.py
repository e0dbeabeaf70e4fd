"""A batch's source leases, when it asks for them (`lease_source`): one per blob, acquired
before its copy starts and released when it ends; `renewed` ones renewed by the rounds.

The lease id is derived from the batch and the blob, so every attempt of a round uses the same
one and a retried acquire is idempotent. Costs one Acquire and one Release Lease per blob, and
one Renew Lease per pending copy per third of a renewed lease's life.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from azure.storage.blob import BlobProperties

from shared.batchlisting import BatchListing
from shared.blobops import BlobOps
from shared.contracts import BatchBlob, BlobCopyStatus
from shared.errors import PermanentStorageError, retry_transient
from shared.polling import RENEW_FRACTION
from shared.timestamps import iso, parse_iso

#: Lease calls of one round in flight at once (each is one short request).
LEASE_THREADS = 8


@dataclass(frozen=True)
class BatchLeases:
    """The leases of one batch, as a round takes, renews and releases them."""

    ops: BlobOps
    listing: BatchListing
    batch_id: str
    lease_seconds: int

    @property
    def held(self) -> bool:
        """Whether this batch leases its sources (never in a dry run)."""
        request = self.listing.request
        return request.lease_source != "none" and not request.dry_run

    @property
    def renewed(self) -> bool:
        """Whether its leases are finite and renewed (else infinite until released)."""
        return self.held and self.listing.request.lease_source == "renewed"

    def lease_id(self, blob: BatchBlob) -> str:
        """The same lease id in every attempt of a round: a retried acquire is idempotent."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"blobcopy-batch/{self.batch_id}/{blob.name}"))

    def acquire(self, blob: BatchBlob) -> None:
        """Lease the source before its copy: a writer must not change it under the copy."""
        duration = self.lease_seconds if self.renewed else -1
        source = self.listing.source_url(blob.name)
        retry_transient(self.ops.acquire_lease, source, self.lease_id(blob), duration)

    def release(self, blob: BatchBlob, line: dict[str, Any]) -> dict[str, Any]:
        """Release the source's lease once its copy has ended. A lease that is not there (the
        acquire was refused, the source is gone) is nothing to release: the blob's line says
        what happened; a transient error raises, and the retried round releases again."""
        if self.held and not blob.foreign:
            with contextlib.suppress(PermanentStorageError):
                self.ops.release_lease(self.listing.source_url(blob.name), self.lease_id(blob))
        return line

    def renew_due(
        self, blobs: list[BatchBlob], dests: dict[str, BlobProperties], now: dt.datetime
    ) -> tuple[list[BatchBlob], dict[str, str]]:
        """Renew, `LEASE_THREADS` at a time, the leases of the copies still pending whose
        lease has lived a third of its life: the blobs, their `leased_at` updated, and the
        leases lost (name -> storage's code), no longer dated, so their copies stop."""
        due = [b for b in blobs if self.renewal_due(b, dests, now)]
        if not due:
            return blobs, {}
        with ThreadPoolExecutor(max_workers=min(LEASE_THREADS, len(due))) as pool:
            lost = dict(zip((b.name for b in due), pool.map(self.renew, due), strict=True))
        stamp = {name: None if code else iso(now) for name, code in lost.items()}
        renewed = [replace(b, leased_at=stamp[b.name]) if b.name in stamp else b for b in blobs]
        return renewed, {name: code for name, code in lost.items() if code}

    def renewal_due(
        self, blob: BatchBlob, dests: dict[str, BlobProperties], now: dt.datetime
    ) -> bool:
        """A renewed lease a third through its life, on a copy the listing shows pending."""
        dest = dests.get(self.listing.request.destination_name(blob.name))
        if not (self.renewed and blob.leased_at) or dest is None:
            return False
        if dest.copy.id != blob.copy_id or dest.copy.status != BlobCopyStatus.PENDING:
            return False  # ended: released this round, not renewed
        age = (now - parse_iso(blob.leased_at)).total_seconds()
        return age >= self.lease_seconds * RENEW_FRACTION

    def renew(self, blob: BatchBlob) -> str | None:
        """Renew one lease (taking it back if it lapsed unclaimed); storage's code if lost."""
        try:
            retry_transient(
                self.ops.renew_lease, self.listing.source_url(blob.name), self.lease_id(blob),
                self.lease_seconds,
            )  # fmt: skip
        except PermanentStorageError as exc:
            return exc.code
        return None
