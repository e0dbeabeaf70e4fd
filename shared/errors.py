"""The service's exceptions, and the one place storage SDK errors become ours.

    BlobCopyError                  base of everything this package raises on purpose
    ├── ConfigurationError         an environment setting is missing or malformed (names it)
    ├── RequestRejected            a request the edge refuses; carries the HTTP status and fields
    ├── UnsafeBlobPath             a URL path with `.`, `..` or empty segments (also a ValueError)
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
the storage operations (`blobops`, `batchops`) sees an `azure.core.exceptions` type, and the
message never carries a SAS signature.
`AZURE_ERROR_KINDS` says, for every azure.core exception class, whether it is transient, decided
by the response it carries, or permanent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from azure.core import exceptions as azure_errors

from shared.redaction import redact_text

T = TypeVar("T")
P = ParamSpec("P")

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Tries of one call within a batch round, and the first pause (doubling) between them.
CALL_ATTEMPTS = 3
CALL_FIRST_PAUSE_S = 0.2
TRANSIENT_CODES = frozenset({"ServerBusy", "OperationTimedOut", "InternalError"})


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


class UnsafeBlobPath(BlobCopyError, ValueError):
    """A URL whose path has `.`, `..` or empty segments, raw or percent-encoded.

    HTTP clients (urllib3) resolve dot segments before sending, so such a URL is checked against
    the allowlists as one blob and then reaches another; nothing signs the path under Entra ID.
    """


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


# Every class azure.core.exceptions defines, classified on purpose (a unit test checks none is
# missing). BY_RESPONSE: decided by the HTTP status and storage error code it carries; raised
# without a response, the exchange broke before the service answered, so it is transient (e.g.
# azure.identity's token fetch failing, or azure-core's requests transport raising a bare
# HttpResponseError when a body stream breaks). azure-storage's own StorageRetryPolicy.send
# retries every AzureError except AzureSigningError; azure-core's RetryPolicy only skips
# ClientAuthenticationError because its own pipeline "can't succeed", not because a later call
# could not.
TRANSIENT, BY_RESPONSE, PERMANENT = "transient", "by_response", "permanent"
AZURE_ERROR_KINDS: dict[type[BaseException], str] = {
    azure_errors.AzureError: PERMANENT,  # base class raised for client-side checks (e.g. MD5)
    azure_errors.ServiceRequestError: TRANSIENT,  # the request never reached the service
    azure_errors.ServiceRequestTimeoutError: TRANSIENT,
    azure_errors.ServiceResponseError: TRANSIENT,  # sent, but no (complete) answer came back
    azure_errors.ServiceResponseTimeoutError: TRANSIENT,
    azure_errors.HttpResponseError: BY_RESPONSE,
    azure_errors.ClientAuthenticationError: BY_RESPONSE,  # no response: token fetch failed
    azure_errors.ODataV4Error: BY_RESPONSE,
    azure_errors.ResourceExistsError: BY_RESPONSE,
    azure_errors.ResourceNotFoundError: BY_RESPONSE,
    azure_errors.ResourceModifiedError: BY_RESPONSE,
    azure_errors.ResourceNotModifiedError: BY_RESPONSE,
    azure_errors.DecodeError: TRANSIENT,  # a body that arrived damaged (gzip, truncated)
    azure_errors.IncompleteReadError: TRANSIENT,  # the connection closed mid-body
    azure_errors.DeserializationError: TRANSIENT,  # an answer the SDK could not parse
    azure_errors.SerializationError: PERMANENT,  # our own request cannot be encoded
    azure_errors.TooManyRedirectsError: PERMANENT,  # a redirect loop does not fix itself
    azure_errors.ResponseNotReadError: PERMANENT,  # SDK misuse: body read before download
    azure_errors.StreamConsumedError: PERMANENT,
    azure_errors.StreamClosedError: PERMANENT,
}
_NETWORK = (azure_errors.ServiceRequestError, azure_errors.ServiceResponseError)
_MAPPED = (
    azure_errors.AzureError,
    azure_errors.SerializationError,
    azure_errors.DeserializationError,
)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _kind(exc: BaseException) -> str:
    """The kind of the nearest classified class in the exception's MRO."""
    return next(
        (AZURE_ERROR_KINDS[c] for c in type(exc).__mro__ if c in AZURE_ERROR_KINDS), PERMANENT
    )


def _is_signing_error(exc: BaseException) -> bool:
    # azure-storage's AzureSigningError (a ClientAuthenticationError raised without a response
    # when the account key cannot sign) lives in a private module: match it by name.
    return any(c.__name__ == "AzureSigningError" for c in type(exc).__mro__)


def from_azure(exc: BaseException) -> StorageError:
    """Translate one azure.core exception into ours (not raised: callers chain it)."""
    kind, message = _kind(exc), _first_line(exc)
    if kind == TRANSIENT:
        code = "NetworkError" if isinstance(exc, _NETWORK) else type(exc).__name__
        return TransientStorageError(code, message)
    status = getattr(exc, "status_code", None)
    if kind == BY_RESPONSE and status is None:
        if _is_signing_error(exc):
            return AccessDenied("SigningFailed", message)
        return TransientStorageError(type(exc).__name__, message)
    raw = getattr(exc, "error_code", None)
    code = str(getattr(raw, "value", raw) or "") or (  # the SDK may give a StorageErrorCode
        f"Http{status}" if status else type(exc).__name__
    )
    if status in TRANSIENT_STATUS or code in TRANSIENT_CODES:
        return TransientStorageError(code, message)
    if code in _BY_CODE:
        return _BY_CODE[code](code, message)
    if status == 404:
        return SourceUnreadable(code, message)
    if status in (401, 403):
        return AccessDenied(code, message)
    return CopyFailed(code, message)


@contextmanager
def map_storage_errors() -> Iterator[None]:
    """Run SDK calls, turning azure.core errors into ours with the cause chained."""
    try:
        yield
    except _MAPPED as exc:
        raise from_azure(exc) from exc


def retry_transient(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)`, tried again after a short pause (CALL_ATTEMPTS tries at most)
    while it raises a TransientStorageError.

    Single-copy activities make one or two storage calls each and leave retries to
    `call_activity_with_retry`, where history shows them. A batch round makes dozens: at 5 %
    transient failures a 40-call round would fail six times in seven and redo all of its work,
    so its calls are each retried in place, and the round fails only when one keeps failing.
    """
    for attempt in range(CALL_ATTEMPTS - 1):
        try:
            return call(*args, **kwargs)
        except TransientStorageError:
            time.sleep(CALL_FIRST_PAUSE_S * 2**attempt)
    return call(*args, **kwargs)
