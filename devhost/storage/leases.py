"""Lease behaviour where Azurite and Azure differ.

Azure refuses to renew a broken lease (`409 LeaseIsBrokenAndCannotBeRenewed`: "once a lease is
broken, it cannot be renewed"); Azurite 3.37 renews it and locks the blob again. A copy that
holds a source lease must notice when someone breaks it, so the engine answers as Azure does.
"""

from __future__ import annotations

from aiohttp import web

from devhost.storage.auth import authorize_write
from devhost.storage.copystate import BlobKey
from devhost.storage.errors import storage_error
from devhost.storage.upstream import BlobRef, Upstream, UpstreamClient


def is_lease_renewal(request: web.Request) -> bool:
    """Lease Blob with `x-ms-lease-action: renew`."""
    return (
        request.method == "PUT"
        and request.query.get("comp") == "lease"
        and request.headers.get("x-ms-lease-action", "").lower() == "renew"
    )


async def refuse_renewing_broken_lease(
    request: web.Request,
    key: BlobKey,
    client: UpstreamClient,
    upstream: Upstream,
) -> web.StreamResponse | None:
    """Azure's 409 for a renewal of a broken lease; None to let Azurite handle the request."""
    props = await client.properties(BlobRef(*key))
    if props.headers.get("x-ms-lease-state", "").lower() != "broken":
        return None
    denied = await authorize_write(request, upstream)
    if denied is not None:
        return denied
    return storage_error(request, 409, "LeaseIsBrokenAndCannotBeRenewed")
