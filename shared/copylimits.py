"""How long a copy may be given: Azure's limits, and the longest timeout each source allows.

Two Azure limits bound a copy's deadline:

- A user delegation key, and so every user delegation SAS signed with it, is valid for at most
  seven days from its start ("You can specify the length of time that the key remains valid, up
  to a maximum of seven days": learn.microsoft.com/azure/storage/blobs/
  storage-blob-user-delegation-sas-create-python, "Get the user delegation key"; REST Get User
  Delegation Key: start and expiry must be within seven days of the current time).
- A Copy Blob still pending after two weeks fails (learn.microsoft.com/rest/api/storageservices/
  copy-blob, "Working with a pending copy operation": a two-week timeout).

The source SAS starts CLOCK_SKEW before now and must last until the deadline plus SAS_MARGIN
(the last status read, an abort and the lease release may run after the deadline). The deadline
is fixed when the orchestration starts, before the SAS is made, so a timeout of at most
MAX_DELEGATION - SAS_MARGIN - CLOCK_SKEW always fits in one user delegation key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shared.accounts import Account, BlobLocation, FileLocation

SAS_MARGIN = dt.timedelta(minutes=15)
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_DELEGATION = dt.timedelta(days=7)
MAX_PENDING_COPY = dt.timedelta(days=14)

MAX_PENDING_TIMEOUT_SECONDS = int(MAX_PENDING_COPY.total_seconds())
MAX_DELEGATED_TIMEOUT_SECONDS = int((MAX_DELEGATION - SAS_MARGIN - CLOCK_SKEW).total_seconds())
PENDING_REASON = "Azure fails a copy still pending after 14 days"
DELEGATION_REASON = (
    "the source's account uses managed identity, and a user delegation SAS lasts at most 7 days"
)


@dataclass(frozen=True)
class TimeoutLimit:
    """The longest timeout a source allows, and why (said in the 400 that refuses more)."""

    seconds: int
    reason: str


def signs_with_user_delegation(account: Account) -> bool:
    """Whether sources in this account are read through a user delegation SAS (no key)."""
    return not account.uses_key


def source_timeout_limit(location: BlobLocation | FileLocation | None) -> TimeoutLimit:
    """The longest timeout for a source: `None` is an external URL, used as given like a URL
    that carries its own SAS; a source of ours gets a SAS signed as its account allows."""
    delegated = location is not None and signs_with_user_delegation(location.account)
    if delegated and location is not None and not location.has_sas:
        return TimeoutLimit(MAX_DELEGATED_TIMEOUT_SECONDS, DELEGATION_REASON)
    return TimeoutLimit(MAX_PENDING_TIMEOUT_SECONDS, PENDING_REASON)
