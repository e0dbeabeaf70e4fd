"""Abort Copy Blob of a copy the engine runs, checked as Azure checks it.

`refusal` gives the verdict, the copy manager acts on it (stops the job, answers 204). The checks
await Azurite (authorization, the destination's lease), so the copy may end, or its destination
go, meanwhile: the record is checked again after them, and an ended copy answers 409
NoPendingCopyOperation instead of being marked aborted. No await follows a None verdict before
the manager acts, so the check still holds when it does.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from devhost.storage.auth import authorize_write
from devhost.storage.copystate import BlobKey, CopyRecord, CopyStore
from devhost.storage.errors import error_response, storage_error
from devhost.storage.upstream import BlobRef, Upstream, UpstreamClient


async def refusal(
    request: web.Request,
    key: BlobKey,
    record: CopyRecord,
    *,
    upstream: Upstream,
    client: UpstreamClient,
    store: CopyStore,
) -> web.Response | None:
    """The error answer to Abort Copy Blob on `key` (last copy `record`), or None: abort it now."""
    denied = await authorize_write(request, upstream)
    if denied is not None:
        return denied
    copy_id = request.query.get("copyid", "")
    try:
        uuid.UUID(copy_id)
    except ValueError:
        return error_response(
            request,
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            extra={"QueryParameterName": "copyid", "QueryParameterValue": copy_id},
        )
    if record.status != "pending":
        return storage_error(request, 409, "NoPendingCopyOperation")
    if copy_id != record.copy_id:
        return storage_error(request, 409, "CopyIdMismatch")
    lease_error = await check_lease(client, request, BlobRef(*key))
    if lease_error is not None:
        return lease_error
    if store.get(key) is not record or record.status != "pending":
        # The copy ended (or its blob went) during the awaits above: nothing left to abort.
        return storage_error(request, 409, "NoPendingCopyOperation")
    return None


async def check_lease(
    client: UpstreamClient, request: web.Request, ref: BlobRef
) -> web.Response | None:
    """The destination's lease must be matched by the request's lease id, as for writes."""
    props = await client.properties(ref)
    leased = props.headers.get("x-ms-lease-state") == "leased"
    given = request.headers.get("x-ms-lease-id")
    if not leased:
        return storage_error(request, 412, "LeaseNotPresentWithBlobOperation") if given else None
    if not given:
        return storage_error(request, 412, "LeaseIdMissing")
    # Renewing with the given id proves it without changing anything else on the blob.
    renew = await client.call(
        "PUT",
        ref,
        query={"comp": "lease"},
        headers={"x-ms-lease-action": "renew", "x-ms-lease-id": given},
    )
    if not renew.ok:
        return storage_error(request, 412, "LeaseIdMismatchWithBlobOperation")
    return None
