"""Azure Files sources: recognising a file URL, checking the request at the edge, and the
read-only file SAS the service makes for one.

Copy Blob reads a file in the Azure File service (version 2015-02-21 and later) only through a
SAS in `x-ms-copy-source`, and writes it to a block blob only: "Copying from files to page
blobs or append blobs isn't supported" (the seed article; REST Copy Blob). So:

- a URL on a configured account's Files endpoint (`BLOBCOPY_ACCOUNT_<NAME>_FILE_URL`, or a
  connection string's `FileEndpoint`) is a file source; one that already carries a SAS (`sig`)
  is used as given;
- otherwise the service signs a read-only SAS for that one file: with the account key when it
  has one (`generate_file_sas`), else a user delegation SAS, which the File service accepts
  since version 2025-07-05 (Get User Delegation Key on the Files endpoint, with an OAuth token
  sent with the `backup` intent that Files requires);
- `destination.blob_type` other than BlockBlob answers 400 before any storage call;
- a file is never leased: Files has its own lease API (Lease File: infinite only, it blocks the
  share's writers, not a reader), so `lease_source` is `none` for a file source whatever the
  request says, as for snapshots and versions (shared/copyplan.py `build_plan`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from azure.core.credentials import AzureSasCredential
from azure.storage.fileshare import (
    FileProperties,
    FileSasPermissions,
    ShareServiceClient,
    generate_file_sas,
)

from shared.accounts import Account, AccountRegistry, FileLocation, callers_sas
from shared.copylimits import CLOCK_SKEW, MAX_DELEGATION
from shared.errors import CopyFailed, RequestRejected, UnsafeBlobPath, map_storage_errors

#: How long the SAS that reads a file's properties (for `verify`) lasts.
PROPERTIES_SAS_LIFE = dt.timedelta(minutes=5)
#: The only blob type Copy Blob makes from a file.
FILE_DESTINATION_TYPE = "BlockBlob"
FILE_ONLY = (
    "a file source copies to a block blob only (Copy Blob does not copy files to page or "
    "append blobs)"
)
#: The Azure Files hosts of the public and sovereign clouds.
AZURE_FILES_HOST_SUFFIXES = (
    ".file.core.windows.net",
    ".file.core.chinacloudapi.cn",
    ".file.core.usgovcloudapi.net",
    ".file.storage.azure.net",  # Azure DNS zone endpoints: <acct>.zNN.file.storage.azure.net
)


def locate_file(registry: AccountRegistry, url: str) -> FileLocation | None:
    """The file a source URL names, or None when it is not on a configured Files endpoint;
    a path that could resolve elsewhere is a 400 on `source.url`."""
    try:
        return registry.locate_file(url)
    except UnsafeBlobPath as exc:
        raise RequestRejected(400, "invalid copy request", {"source.url": str(exc)}) from None
    except ValueError:  # a URL urlsplit cannot read: the request's URL check names it
        return None


def check_file_source(
    registry: AccountRegistry, source_url: str, blob_type: str | None
) -> FileLocation | None:
    """The file source of a request, checked as the edge must (400, 403), or None when the
    source is not a file. Makes no storage call."""
    location = locate_file(registry, source_url)
    if location is None:
        check_external_file_type(source_url, blob_type)
        return None
    fields: dict[str, str] = {}
    if not location.path or location.path.endswith("/"):
        fields["source.url"] = "must name a file, not a share or directory"
    if blob_type not in (None, FILE_DESTINATION_TYPE):
        fields["destination.blob_type"] = FILE_ONLY
    if fields:
        raise RequestRejected(400, "invalid copy request", fields)
    if not registry.source_allowed(location):
        raise RequestRejected(
            403, "source not allowed", {"source.url": "outside BLOBCOPY_ALLOWED_SOURCES"}
        )
    return location


def is_azure_files_url(url: str) -> bool:
    """Whether a URL names Azure Files by its host, configured here or not."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host.endswith(AZURE_FILES_HOST_SUFFIXES)


def check_external_file_type(source_url: str, blob_type: str | None) -> None:
    """An Azure Files URL of an account not configured here (signed by the caller) still
    copies to block blobs only: its host says so, so the edge answers 400 rather than Copy
    Blob failing later."""
    if blob_type not in (None, FILE_DESTINATION_TYPE) and is_azure_files_url(source_url):
        raise RequestRejected(400, "invalid copy request", {"destination.blob_type": FILE_ONLY})


class FileSas:
    """Makes the read-only SAS of one file, with the account's key or its identity.

    `credential_for` gives an account's token credential (the blob side's, so one identity
    serves both services); it is only asked for accounts without a key.
    """

    def __init__(self, credential_for: Callable[[Account], Any], **client_options: Any) -> None:
        self._credential = credential_for
        self.client_options = client_options
        self._services: dict[str, ShareServiceClient] = {}

    def service(self, account: Account) -> ShareServiceClient:
        """The account's Files service client (OAuth; Files needs the `backup` intent)."""
        if account.name not in self._services:
            self._services[account.name] = ShareServiceClient(
                str(account.file_endpoint),
                credential=self._credential(account),
                token_intent="backup",
                **self.client_options,
            )
        return self._services[account.name]

    def create(self, location: FileLocation, expiry: dt.datetime) -> str:
        """A SAS query reading this one file until `expiry` (a user delegation one at most
        seven days long, as its key is)."""
        start = dt.datetime.now(dt.UTC) - CLOCK_SKEW
        common: dict[str, Any] = {
            "account_name": location.account.name,
            "share_name": location.share,
            "file_path": location.path.split("/"),
            "permission": FileSasPermissions(read=True),
            "start": start,
        }
        if location.account.account_key:
            return generate_file_sas(
                account_key=location.account.account_key, expiry=expiry, **common
            )
        expiry = min(expiry, start + MAX_DELEGATION)
        with map_storage_errors():
            key = self.service(location.account).get_user_delegation_key(start=start, expiry=expiry)
        return generate_file_sas(user_delegation_key=key, expiry=expiry, **common)

    def properties(self, registry: AccountRegistry, url: str) -> FileProperties | None:
        """A file source's properties (Get File Properties), or None when the URL is not a
        file of ours. Read through a SAS of ours where the account has a key (the caller's own
        may have lapsed once the copy ended), else through the caller's SAS if the URL has one
        (our identity may have no right the caller's SAS had), else a user delegation SAS."""
        try:
            location = registry.locate_file(url)
        except (UnsafeBlobPath, ValueError):
            return None
        if location is None:
            return None
        if location.has_sas and not location.account.account_key:
            credential = callers_sas(url, "sharesnapshot")
        else:
            sas = self.create(location, dt.datetime.now(dt.UTC) + PROPERTIES_SAS_LIFE)
            credential = AzureSasCredential(sas)
        # Built from the account's endpoint: `from_file_url` misreads an emulator's
        # path-style URL (account in the path) and turns http into https.
        service = ShareServiceClient(
            str(location.account.file_endpoint),
            credential=credential,
            **self.client_options,
        )
        share = service.get_share_client(location.share, snapshot=location.share_snapshot)
        with map_storage_errors():
            return share.get_file_client(location.path).get_file_properties()

    def readable(self, registry: AccountRegistry, url: str, expiry: dt.datetime) -> str:
        """The URL Copy Blob reads a source from: a file of ours gets our SAS; a file URL with
        the caller's own SAS, and any URL that is not a file of ours, are used as given."""
        try:
            location = registry.locate_file(url)
        except UnsafeBlobPath as exc:  # the edge refuses these: one that got past it is not signed
            raise CopyFailed("InvalidBlobPath", str(exc)) from exc
        except ValueError:  # a URL urlsplit cannot read is nothing of ours
            return url
        if location is None or location.has_sas:
            return url
        snapshot = location.share_snapshot
        query = f"sharesnapshot={quote(snapshot, safe='')}&" if snapshot else ""
        return f"{location.base_url}?{query}{self.create(location, expiry)}"
