"""Authorizing the requests the engine answers itself (async Copy Blob, Abort Copy Blob).

Those requests never reach Azurite as sent, so the engine must check them as the service would:
Shared Key signatures are verified locally (every account has the well-known key); a SAS or a
bearer token is checked by probing Azurite with the client's own credential on the same blob.
A probe that fails only for lack of read permission proves a valid signature, and the SAS's
`sp` must then grant write or create.
"""

from __future__ import annotations

from email.utils import formatdate

from aiohttp import web

from devhost.storage import sharedkey
from devhost.storage.errors import SERVICE_VERSION, error_response
from devhost.storage.upstream import Upstream

_AUTH_FAILED = (
    "Server failed to authenticate the request. Make sure the value of Authorization header is "
    "formed correctly including the signature."
)
_NO_AUTH = (
    "Server failed to authenticate the request. Please refer to the information in the "
    "www-authenticate header."
)
_PERMISSION = "This request is not authorized to perform this operation using this permission."


async def authorize_write(request: web.Request, upstream: Upstream) -> web.Response | None:
    """None if the request may write its blob; otherwise the error answer to send."""
    auth = request.headers.get("Authorization", "")
    raw_path, _, raw_query = request.raw_path.partition("?")
    if auth.startswith("SharedKey "):
        if sharedkey.verify(
            request.method, raw_path, raw_query, request.headers.items(), auth, upstream.account_key
        ):
            return None
        return error_response(request, 403, "AuthenticationFailed", _AUTH_FAILED)
    if not auth and "sig" not in request.query:
        return error_response(request, 401, "NoAuthenticationInformation", _NO_AUTH)
    headers = {
        "x-ms-version": request.headers.get("x-ms-version", SERVICE_VERSION),
        "x-ms-date": formatdate(usegmt=True),
    }
    if auth:
        headers["Authorization"] = auth
    async with upstream.session.head(upstream.url(request.raw_path), headers=headers) as resp:
        status, code = resp.status, resp.headers.get("x-ms-error-code", "")
    if status < 300 or code in ("BlobNotFound", "ContainerNotFound"):
        granted = True
    elif status == 403 and code == "AuthorizationPermissionMismatch":
        granted = False  # signature fine, read not granted: decide on `sp` below
    else:
        return error_response(request, status, code or "AuthenticationFailed", _AUTH_FAILED)
    permissions = request.query.get("sp")
    if permissions is not None and not set(permissions) & {"w", "c"}:
        return error_response(request, 403, "AuthorizationPermissionMismatch", _PERMISSION)
    if not granted and permissions is None:
        return error_response(request, 403, "AuthorizationPermissionMismatch", _PERMISSION)
    return None
