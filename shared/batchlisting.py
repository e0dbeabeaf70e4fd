"""What a batch round reads: the selected source blobs, page by page, and the destination
blobs over the window of names it asks about.

Both are List Blobs calls, whatever the number of blobs: a source page from the carried
continuation token (at most `MAX_PAGES_PER_ROUND` pages when filters drop names), and one
listing `include=copy` of the destination over the names' common prefix, stopping past the
last name: the status of every pending copy, or what each new name already holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.storage.blob import BlobPrefix, BlobProperties, ContainerClient

from shared.accounts import BlobLocation
from shared.batchrequests import BatchRequest
from shared.blobaccess import BlobAccess
from shared.errors import map_storage_errors, retry_transient

#: Source pages read at most in one round when filters drop names (bounds a round's time).
MAX_PAGES_PER_ROUND = 10


@dataclass(frozen=True)
class BatchListing:
    """The batch's two containers, as a round lists them."""

    access: BlobAccess
    request: BatchRequest
    source: BlobLocation
    destination: BlobLocation

    def client(self, location: BlobLocation) -> ContainerClient:
        return self.access.service(location.account).get_container_client(location.container)

    def source_url(self, name: str) -> str:
        """A source blob's URL (no SAS), spelled as the service expects."""
        return BlobLocation(self.source.account, self.source.container, name).base_url

    def list_sources(
        self, marker: str | None, wanted: int, page_size: int
    ) -> tuple[list[BlobProperties], str | None, bool]:
        """Up to `wanted` selected source blobs from `marker`: (blobs, next marker, exhausted)."""
        client, prefix = self.client(self.source), self.request.source.prefix
        found: list[BlobProperties] = []
        for _ in range(MAX_PAGES_PER_ROUND):
            size = max(1, min(wanted - len(found), page_size))
            page, marker = retry_transient(_source_page, client, prefix, marker, size)
            found += [b for b in page if self.request.selects(b.name[len(prefix) :])]
            if not marker or len(found) >= wanted:
                break
        return found, marker, not marker

    def destinations(self, names: list[str], metadata: bool = False) -> dict[str, BlobProperties]:
        """The destination blobs with these names, with their copy properties (and metadata,
        in the same transaction, if asked), in one listing over the window the names span
        (they come in name order)."""
        if not names:
            return {}
        return retry_transient(self._destination_window, names, metadata)

    def _destination_window(self, names: list[str], metadata: bool) -> dict[str, BlobProperties]:
        first, last = min(names), max(names)
        client, wanted = self.client(self.destination), set(names)
        found: dict[str, BlobProperties] = {}
        include = ["copy", "metadata"] if metadata else ["copy"]
        with map_storage_errors():
            for blob in client.list_blobs(
                name_starts_with=common_prefix(first, last), include=include
            ):
                if isinstance(blob, BlobPrefix):
                    continue
                if blob.name > last:
                    break
                if blob.name in wanted:
                    found[blob.name] = blob
        return found


def _source_page(
    client: ContainerClient, prefix: str, marker: str | None, size: int
) -> tuple[list[BlobProperties], str | None]:
    """One page of the source listing after `marker`, and the marker after it."""
    with map_storage_errors():
        listing = client.list_blobs(name_starts_with=prefix, results_per_page=size)
        page_iter = listing.by_page(continuation_token=marker)
        page = list(next(page_iter, []))
        return page, getattr(page_iter, "continuation_token", None)  # azure-core PageIterator


def common_prefix(a: str, b: str) -> str:
    """The longest prefix both names share: the listing window's `name_starts_with`."""
    size = 0
    while size < min(len(a), len(b)) and a[size] == b[size]:
        size += 1
    return a[:size]
