"""The error hierarchy and the one boundary that maps azure.core errors onto it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from azure.core import exceptions as azure_errors

from shared import errors
from shared.errors import (
    AccessDenied,
    CopyFailed,
    LeaseConflict,
    PermanentStorageError,
    SourceUnreadable,
    StorageError,
    TransientStorageError,
    from_azure,
    map_storage_errors,
)


class FakeResponse:
    """Just enough of an HTTP response for HttpResponseError."""

    def __init__(self, status: int, reason: str = "") -> None:
        self.status_code, self.reason = status, reason
        self.headers: dict[str, str] = {}
        self.request = None

    def text(self) -> str:
        return ""


def http_error(status: int, code: str, message: str = "failed") -> azure_errors.HttpResponseError:
    """An SDK error as the storage client raises it."""
    exc = azure_errors.HttpResponseError(message=message, response=FakeResponse(status))
    exc.error_code = code  # type: ignore[attr-defined]  # azure.storage adds it at runtime
    return exc


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (503, "ServerBusy"),
        (500, "InternalError"),
        (429, "x"),
        (408, "y"),
        (200, "OperationTimedOut"),
    ],
)
def test_throttling_and_server_errors_are_transient(status: int, code: str) -> None:
    """5xx, 408, 429 and the storage busy/timeout codes map to TransientStorageError."""
    assert isinstance(from_azure(http_error(status, code)), TransientStorageError)


def test_network_errors_are_transient() -> None:
    """Connection failures map to TransientStorageError."""
    assert isinstance(from_azure(azure_errors.ServiceRequestError("down")), TransientStorageError)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "BlobNotFound", SourceUnreadable),
        (409, "LeaseAlreadyPresent", LeaseConflict),
        (403, "AuthorizationPermissionMismatch", AccessDenied),
        (403, "SomethingElse", AccessDenied),
        (409, "PendingCopyOperation", CopyFailed),
    ],
)
def test_permanent_errors_keep_the_storage_code(status: int, code: str, kind: type) -> None:
    """Permanent errors map to the named class and keep the storage error code."""
    mapped = from_azure(http_error(status, code))
    assert isinstance(mapped, kind) and isinstance(mapped, PermanentStorageError)
    assert mapped.code == code and not mapped.transient


@pytest.mark.parametrize("code", ["ResourceNotFound", None], ids=["unlisted-code", "no-code"])
def test_any_other_404_is_source_unreadable(code: str | None) -> None:
    """A 404 whose code is not one we name (or that has none, as a HEAD answer) is still
    SourceUnreadable, not a generic CopyFailed."""
    exc = azure_errors.ResourceNotFoundError(response=FakeResponse(404))
    exc.error_code = code  # type: ignore[attr-defined]  # azure.storage adds it at runtime
    mapped = from_azure(exc)
    assert type(mapped) is SourceUnreadable
    assert mapped.code == (code or "Http404")


def test_boundary_chains_the_cause() -> None:
    """map_storage_errors raises ours with the SDK error as __cause__."""
    original = http_error(404, "BlobNotFound")
    with pytest.raises(SourceUnreadable) as caught, map_storage_errors():
        raise original
    assert caught.value.__cause__ is original


def test_messages_never_carry_a_signature() -> None:
    """A storage message that echoes a SAS URL is redacted."""
    mapped = from_azure(
        http_error(403, "AuthenticationFailed", "bad https://a/c/b?sv=1&sig=s3cr3t")
    )
    assert "s3cr3t" not in str(mapped) and "sig=REDACTED" in mapped.message


def test_every_exception_class_is_drawn_in_the_module_docstring() -> None:
    """The module docstring's tree names every exception class defined there."""
    classes = [
        n
        for n, v in vars(errors).items()
        if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == errors.__name__
    ]
    assert len(classes) >= 10
    assert all(name in (errors.__doc__ or "") for name in classes)


def test_storage_error_crosses_the_boundary_as_a_dict() -> None:
    """to_dict is the {code, message} block of the status document."""
    assert StorageError("X", "m").to_dict() == {"code": "X", "message": "m"}


def test_enum_error_codes_become_their_text() -> None:
    """A StorageErrorCode enum (as the blob SDK sets it) maps by its value, not its repr."""
    from azure.storage.blob import StorageErrorCode

    exc = http_error(409, "x")
    exc.error_code = StorageErrorCode.LEASE_ALREADY_PRESENT  # type: ignore[attr-defined]  # azure.storage adds it at runtime
    mapped = from_azure(exc)
    assert isinstance(mapped, LeaseConflict) and mapped.code == "LeaseAlreadyPresent"


def test_a_token_fetch_failure_is_transient() -> None:
    """A ClientAuthenticationError with no response (azure.identity failing to get a token) is
    transient: the storage service never answered, so nothing says a retry would fail.

    azure.identity raises it, or its subclass CredentialUnavailableError, without a response when
    the token endpoint (IMDS, the managed identity endpoint) is unreachable or answers badly.
    """
    from azure.identity import CredentialUnavailableError

    for exc in (
        azure_errors.ClientAuthenticationError("ManagedIdentityCredential: IMDS timed out"),
        CredentialUnavailableError("ManagedIdentityCredential: no response from IMDS"),
    ):
        assert isinstance(from_azure(exc), TransientStorageError)


def test_an_incomplete_read_is_transient() -> None:
    """IncompleteReadError (azure-core: the connection closed mid-body) is transient."""
    mapped = from_azure(azure_errors.IncompleteReadError("IncompleteRead(10 bytes read)"))
    assert isinstance(mapped, TransientStorageError)


def test_a_service_401_is_access_denied() -> None:
    """A 401 from the storage service (it did answer) is AccessDenied, not transient."""
    exc = azure_errors.ClientAuthenticationError(response=FakeResponse(401))
    exc.error_code = "InvalidAuthenticationInfo"  # type: ignore[attr-defined]  # azure.storage adds it at runtime
    assert isinstance(from_azure(exc), AccessDenied)


def test_a_signing_failure_is_permanent() -> None:
    """azure-storage's AzureSigningError (a bad account key) is permanent: no retry can sign."""
    from azure.storage.blob._shared.authentication import AzureSigningError

    mapped = from_azure(AzureSigningError("Invalid base64-encoded string"))
    assert isinstance(mapped, AccessDenied) and not mapped.transient


def _azure_core_exception_classes() -> list[type[BaseException]]:
    return [
        value
        for value in vars(azure_errors).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == azure_errors.__name__
    ]


def test_every_azure_core_exception_is_classified_on_purpose() -> None:
    """Each class azure.core.exceptions defines has an explicit kind in errors.AZURE_ERROR_KINDS,
    so an SDK upgrade that adds one fails here instead of defaulting silently."""
    classes = _azure_core_exception_classes()
    assert len(classes) >= 19
    missing = sorted(c.__name__ for c in classes if c not in errors.AZURE_ERROR_KINDS)
    assert not missing, f"classify these in shared/errors.py: {missing}"


def _raised_without_response(cls: type[BaseException]) -> BaseException:
    """An instance as raised with no HTTP answer; the stream errors only format a request."""
    if cls.__name__.startswith(("Stream", "ResponseNotRead")):
        return cls(FakeResponse(200))
    return cls("failed")


_NEEDS_A_RESPONSE = {azure_errors.ODataV4Error}  # its constructor requires the response


@pytest.mark.parametrize(
    "cls",
    [c for c in _azure_core_exception_classes() if c not in _NEEDS_A_RESPONSE],
    ids=lambda c: c.__name__,
)
def test_each_azure_core_exception_maps_as_classified(cls: type[BaseException]) -> None:
    """Raised without an HTTP response, each class maps to the kind it is classified as; those
    decided by the response count as transient then (the exchange broke before an answer)."""
    kind = errors.AZURE_ERROR_KINDS[cls]
    with pytest.raises(StorageError) as caught, map_storage_errors():
        raise _raised_without_response(cls)
    assert caught.value.transient is (kind in (errors.TRANSIENT, errors.BY_RESPONSE))


def test_errors_with_a_response_are_decided_by_its_status() -> None:
    """An OData error (always built from a response) follows the status it carries."""
    conflict = azure_errors.ODataV4Error(FakeResponse(409))
    busy = azure_errors.ODataV4Error(FakeResponse(503))
    assert isinstance(from_azure(conflict), CopyFailed)
    assert isinstance(from_azure(busy), TransientStorageError)


def flaky(failures: Sequence[StorageError]) -> Callable[[], str]:
    """A call that raises each of `failures` in turn, then answers "done"."""
    left = list(failures)

    def call() -> str:
        if left:
            raise left.pop(0)
        return "done"

    return call


def test_retry_transient_rides_out_transient_errors_up_to_its_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two transient failures and then an answer: the answer. One failure more than the
    attempts allow: that failure."""
    monkeypatch.setattr(errors, "CALL_FIRST_PAUSE_S", 0.0)
    busy = [TransientStorageError("ServerBusy", "busy") for _ in range(errors.CALL_ATTEMPTS - 1)]
    assert errors.retry_transient(flaky(busy)) == "done"
    too_many = [TransientStorageError("ServerBusy", "busy") for _ in range(errors.CALL_ATTEMPTS)]
    with pytest.raises(TransientStorageError):
        errors.retry_transient(flaky(too_many))


def test_retry_transient_never_repeats_a_permanent_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "CALL_FIRST_PAUSE_S", 0.0)
    call = flaky([PermanentStorageError("BlobNotFound", "gone"), TransientStorageError("S", "b")])
    with pytest.raises(PermanentStorageError):
        errors.retry_transient(call)
