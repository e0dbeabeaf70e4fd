"""Storage-service style error and success responses written by the engine itself.

The SDK turns `x-ms-error-code` and the XML `<Error>` body into its typed exceptions
(ResourceExistsError, HttpResponseError with `.error_code`), so the engine answers in exactly
the service's format for the errors it owns.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

#: The API version the engine reports on its own answers (what the current SDK sends).
SERVICE_VERSION = "2026-10-06"


def http_date(when: datetime | None = None) -> str:
    """RFC 1123 date, as the service writes Date, Last-Modified and copy completion time."""
    return format_datetime(when or datetime.now(UTC), usegmt=True)


def service_headers(request: web.Request | None = None) -> dict[str, str]:
    """Headers every service answer carries."""
    headers = {
        "x-ms-request-id": str(uuid.uuid4()),
        "x-ms-version": (request.headers.get("x-ms-version") if request else None)
        or SERVICE_VERSION,
        "Date": http_date(),
        "Server": "devhost-copyengine",
    }
    if request is not None and "x-ms-client-request-id" in request.headers:
        headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
    return headers


def error_response(
    request: web.Request | None,
    status: int,
    code: str,
    message: str,
    *,
    extra: dict[str, str] | None = None,
) -> web.Response:
    """An `<Error>` answer with `x-ms-error-code`; `extra` adds child elements."""
    headers = service_headers(request)
    headers["x-ms-error-code"] = code
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    full = f"{message}\nRequestId:{headers['x-ms-request-id']}\nTime:{when}"
    children = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (extra or {}).items())
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(full)}</Message>{children}</Error>"
    )
    if request is not None and request.method == "HEAD":
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        headers=headers,
        body=body.encode("utf-8"),
        content_type="application/xml",
    )


# Messages as the service words them, for the codes the engine answers itself.
MESSAGES = {
    "PendingCopyOperation": "There is currently a pending copy operation.",
    "NoPendingCopyOperation": "There is currently no pending copy operation.",
    "CopyIdMismatch": "The specified copy ID did not match the copy ID for the pending copy "
    "operation.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
    "InvalidBlobType": "The blob type is invalid for this operation.",
    "SourceConditionNotMet": "The source condition specified using HTTP conditional header(s) "
    "is not met.",
    "CannotVerifyCopySource": "Could not verify the copy source within the specified time.",
    "BlobNotFound": "The specified blob does not exist.",
    "LeaseIsBrokenAndCannotBeRenewed": "The lease ID matched, but the lease has been broken "
    "explicitly and cannot be renewed.",
    "LeaseIdMissing": "There is currently a lease on the blob and no lease ID was specified in "
    "the request.",
    "LeaseIdMismatchWithBlobOperation": "The lease ID specified did not match the lease ID for "
    "the blob.",
    "LeaseNotPresentWithBlobOperation": "There is currently no lease on the blob.",
}


def storage_error(
    request: web.Request | None, status: int, code: str, **extra: str
) -> web.Response:
    """`error_response` with the service's own message for `code`."""
    return error_response(request, status, code, MESSAGES.get(code, code), extra=extra or None)
