"""How the service reaches a blob: clients, credentials, and what a URL points at.

Clients are built lazily from an account URL and a credential (account key for Azurite and
connection strings, DefaultAzureCredential otherwise), never at import. `BlobAccess` answers
the questions every storage operation asks first: which configured account a URL belongs to,
its client, a URL the service itself can read (a read-only SAS for ours), and whether two URLs
name the same source. The copy's operations build on it (shared/blobops.py `BlobOps`), and so
does a batch round (shared/batchops.py).
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import (
    BlobClient,
    BlobProperties,
    BlobSasPermissions,
    BlobServiceClient,
    generate_blob_sas,
)

from shared.accounts import Account, BlobLocation, callers_sas
from shared.copylimits import CLOCK_SKEW, MAX_DELEGATION, SAS_MARGIN
from shared.errors import CopyFailed, UnsafeBlobPath, map_storage_errors
from shared.files import FileSas
from shared.settings import Settings


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BlobAccess:
    """Clients and addressing for the configured accounts; one instance per process."""

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

    def source_reader(self, url: str, location: BlobLocation) -> BlobClient:
        """A client that reads a source of ours (Get Blob Properties: its type, for verify),
        as shared/files.py `FileSas.properties` reads a file: with our own credential where
        the account has a key (the caller's SAS may have lapsed once the copy ended), else
        with the caller's SAS if the URL has one (our identity may have no right that SAS
        had: the copy itself read through it), else with our identity."""
        if location.account.account_key or not location.has_sas:
            return self.blob(location)
        return BlobClient(
            location.account.blob_endpoint,
            location.container,
            location.blob,
            snapshot=location.snapshot,
            version_id=location.version_id,
            credential=callers_sas(url, "snapshot", "versionid"),
            **self.client_options,
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

    @staticmethod
    def properties_if_any(blob: BlobClient) -> BlobProperties | None:
        """The blob's properties, or None where there is no blob (one Get Blob Properties)."""
        with map_storage_errors():
            try:
                return blob.get_blob_properties()
            except ResourceNotFoundError:
                return None

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
