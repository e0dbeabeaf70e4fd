"""The error hierarchy and the one boundary that maps azure.core errors onto it."""

from __future__ import annotations

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
    exc = azure_errors.HttpResponseError(message=message, response=FakeResponse(status))  # type: ignore[arg-type]
    exc.error_code = code
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
    exc.error_code = StorageErrorCode.LEASE_ALREADY_PRESENT  # type: ignore[assignment]
    mapped = from_azure(exc)
    assert isinstance(mapped, LeaseConflict) and mapped.code == "LeaseAlreadyPresent"
