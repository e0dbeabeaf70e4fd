"""Abort Copy Blob of a copy the engine runs, checked as Azure checks it.

The checks await Azurite (authorization, the destination's lease), so the copy may end, or its
destination go, meanwhile: the record is checked again after them, and an ended copy answers
409 NoPendingCopyOperation instead of being marked aborted.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from aiohttp import web

from devhost.storage.auth import authorize_write
from devhost.storage.copystate import BlobKey, CopyRecord
from devhost.storage.errors import error_response, service_headers, storage_error
from devhost.storage.upstream import BlobRef, UpstreamClient

if TYPE_CHECKING:
    from devhost.storage.copies import CopyManager

log = logging.getLogger(__name__)


async def abort_copy(
    manager: CopyManager, request: web.Request, key: BlobKey, record: CopyRecord
) -> web.Response:
    """Answer Abort Copy Blob on `key`, whose last copy is `record`."""
    config = manager.config
    denied = await authorize_write(request, manager.session, config.upstream, config.account_key)
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
    lease_error = await check_lease(manager.client, request, BlobRef(*key))
    if lease_error is not None:
        return lease_error
    if manager.store.get(key) is not record or record.status != "pending":
        # The copy ended (or its blob went) during the awaits above: nothing left to abort.
        return storage_error(request, 409, "NoPendingCopyOperation")
    job = manager.jobs.pop(key, None)
    if job is not None:
        job.writer.lease_id = request.headers.get("x-ms-lease-id")
        await job.abort()
    else:
        record.finish("aborted")
        manager.store.put(record)
    log.info("copy %s aborted", record.copy_id)
    return web.Response(status=204, headers=service_headers(request))


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
