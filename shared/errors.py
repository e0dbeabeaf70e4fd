"""The service's exceptions, and the one place storage SDK errors become ours.

    BlobCopyError                  base of everything this package raises on purpose
    ├── ConfigurationError         an environment setting is missing or malformed (names it)
    ├── RequestRejected            a request the edge refuses; carries the HTTP status and fields
    └── StorageError               a storage call failed; carries the storage error code
        ├── TransientStorageError  throttling, 5xx, timeouts, network: worth retrying
        └── PermanentStorageError  retrying cannot help; the copy ends as failed with `code`
            ├── SourceUnreadable   the source is missing or we may not read it
            ├── DestinationExists  overwrite=never and the destination is there
            ├── LeaseConflict      the source is leased by someone else, or our lease was lost
            ├── SourceChanged      the source changed during the copy
            ├── AccessDenied       our identity may not perform the operation
            └── CopyFailed         the service reported the copy as failed, or anything else

`map_storage_errors` is the boundary: activities wrap every SDK call in it, so nothing above
`blobops` sees an `azure.core.exceptions` type, and the message never carries a SAS signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.core import exceptions as azure_errors

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_CODES = frozenset({"ServerBusy", "OperationTimedOut", "InternalError"})
_SIG = re.compile(r"(sig=)[^&\s\"']+", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Replace every `sig=` value in free text, since SDK messages may echo request URLs."""
    return _SIG.sub(r"\1REDACTED", text)


class BlobCopyError(Exception):
    """Base class: every error this package raises on purpose."""


class ConfigurationError(BlobCopyError):
    """An environment setting is missing or malformed; the message names the setting."""


class RequestRejected(BlobCopyError):
    """The edge refuses a request: `status` is the HTTP answer, `fields` maps field -> reason."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = dict(fields or {})


class StorageError(BlobCopyError):
    """A storage call failed; `code` is the storage (or our) error code."""

    transient = False

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = redact_text(message)
        super().__init__(f"[{code}] {self.message}")

    def to_dict(self) -> dict[str, Any]:
        """The error as it crosses the activity boundary and appears in the status document."""
        return {"code": self.code, "message": self.message}


class TransientStorageError(StorageError):
    """Throttling, server errors, timeouts or network trouble: the caller retries."""

    transient = True


class PermanentStorageError(StorageError):
    """Retrying cannot help; the copy ends as failed with `code`."""


class SourceUnreadable(PermanentStorageError):
    """The source does not exist or we may not read it."""


class DestinationExists(PermanentStorageError):
    """The request said overwrite=never and the destination exists."""


class LeaseConflict(PermanentStorageError):
    """The source is leased by someone else, or our lease on it was lost."""


class SourceChanged(PermanentStorageError):
    """The source was modified while the copy ran."""


class AccessDenied(PermanentStorageError):
    """Our identity lacks the permission for this operation."""


class CopyFailed(PermanentStorageError):
    """The service reported the copy as failed, or another permanent storage error."""


_BY_CODE: dict[str, type[PermanentStorageError]] = {
    "BlobNotFound": SourceUnreadable,
    "CannotVerifyCopySource": SourceUnreadable,
    "ContainerNotFound": SourceUnreadable,
    "BlobAlreadyExists": DestinationExists,
    "LeaseAlreadyPresent": LeaseConflict,
    "LeaseIdMismatchWithLeaseOperation": LeaseConflict,
    "LeaseLost": LeaseConflict,
    "LeaseNotPresentWithLeaseOperation": LeaseConflict,
    "LeaseIsBreakingAndCannotBeAcquired": LeaseConflict,
    "LeaseIsBrokenAndCannotBeRenewed": LeaseConflict,
    "SourceConditionNotMet": SourceChanged,
    "AuthorizationFailure": AccessDenied,
    "AuthorizationPermissionMismatch": AccessDenied,
    "AuthenticationFailed": AccessDenied,
    "InsufficientAccountPermissions": AccessDenied,
}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def from_azure(exc: BaseException) -> StorageError:
    """Translate one azure.core exception into ours (not raised: callers chain it)."""
    if isinstance(exc, azure_errors.ServiceRequestError | azure_errors.ServiceResponseError):
        return TransientStorageError("NetworkError", _first_line(exc))
    status = getattr(exc, "status_code", None)
    raw = getattr(exc, "error_code", None)
    code = str(getattr(raw, "value", raw) or "") or (  # the SDK may give a StorageErrorCode
        f"Http{status}" if status else type(exc).__name__
    )
    message = _first_line(exc)
    if status in TRANSIENT_STATUS or code in TRANSIENT_CODES:
        return TransientStorageError(code, message)
    if code in _BY_CODE:
        return _BY_CODE[code](code, message)
    if status == 404:
        return SourceUnreadable(code, message)
    if status == 403:
        return AccessDenied(code, message)
    return CopyFailed(code, message)


@contextmanager
def map_storage_errors() -> Iterator[None]:
    """Run SDK calls, turning azure.core errors into ours with the cause chained."""
    try:
        yield
    except azure_errors.AzureError as exc:
        raise from_azure(exc) from exc
