"""Which Blob service operation a request is, named as Azure's REST reference and billing name it.

The transaction counter keys on these names so that a test or benchmark reads its counts against
Azure's price list ("Map each REST operation to a price", learn.microsoft.com/azure/storage/
blobs/map-rest-apis-transaction-categories) without translating. The REST API tells operations
apart by method, `restype=`, `comp=` and, for the copies, headers; so does this module. It is a
leaf (no aiohttp): the copy manager asks it what Copy Blob is, so both agree.
"""

from __future__ import annotations

from collections.abc import Mapping

COPY_BLOB = "Copy Blob"
ABORT_COPY_BLOB = "Abort Copy Blob"

#: `restype=service` (account level), by (method, comp).
_SERVICE: dict[tuple[str, str | None], str] = {
    ("GET", "properties"): "Get Blob Service Properties",
    ("PUT", "properties"): "Set Blob Service Properties",
    ("GET", "stats"): "Get Blob Service Stats",
    ("POST", "userdelegationkey"): "Get User Delegation Key",
}

#: `restype=container`, by (method, comp); HEAD reads as GET does.
_CONTAINER: dict[tuple[str, str | None], str] = {
    ("PUT", None): "Create Container",
    ("GET", None): "Get Container Properties",
    ("DELETE", None): "Delete Container",
    ("GET", "metadata"): "Get Container Metadata",
    ("PUT", "metadata"): "Set Container Metadata",
    ("GET", "acl"): "Get Container ACL",
    ("PUT", "acl"): "Set Container ACL",
    ("PUT", "lease"): "Lease Container",
    ("PUT", "undelete"): "Restore Container",
    ("PUT", "rename"): "Rename Container",
    ("GET", "list"): "List Blobs",
    ("GET", "blobs"): "Find Blobs by Tags in Container",
    ("POST", "batch"): "Blob Batch",
}

#: No `restype`: the account's own `comp=list|blobs|batch`, and every blob operation.
_BLOB: dict[tuple[str, str | None], str] = {
    ("GET", "list"): "List Containers",
    ("GET", "blobs"): "Find Blobs by Tags",
    ("POST", "batch"): "Blob Batch",
    ("PUT", None): "Put Blob",
    ("GET", None): "Get Blob",
    ("HEAD", None): "Get Blob Properties",
    ("DELETE", None): "Delete Blob",
    ("PUT", "properties"): "Set Blob Properties",
    ("GET", "metadata"): "Get Blob Metadata",
    ("PUT", "metadata"): "Set Blob Metadata",
    ("GET", "tags"): "Get Blob Tags",
    ("PUT", "tags"): "Set Blob Tags",
    ("PUT", "lease"): "Lease Blob",
    ("PUT", "snapshot"): "Snapshot Blob",
    ("PUT", "incrementalcopy"): "Incremental Copy Blob",
    ("PUT", "undelete"): "Undelete Blob",
    ("PUT", "tier"): "Set Blob Tier",
    ("PUT", "expiry"): "Set Blob Expiry",
    ("PUT", "immutabilitypolicies"): "Set Blob Immutability Policy",
    ("DELETE", "immutabilitypolicies"): "Delete Blob Immutability Policy",
    ("PUT", "legalhold"): "Set Blob Legal Hold",
    ("PUT", "block"): "Put Block",
    ("PUT", "blocklist"): "Put Block List",
    ("GET", "blocklist"): "Get Block List",
    ("PUT", "page"): "Put Page",
    ("GET", "pagelist"): "Get Page Ranges",
    ("PUT", "appendblock"): "Append Block",
    ("PUT", "seal"): "Append Blob Seal",
    ("POST", "query"): "Query Blob Contents",
}

#: Writes whose data comes from `x-ms-copy-source` instead of the body are their own operations.
_FROM_URL = {
    "Put Block": "Put Block From URL",
    "Put Page": "Put Page From URL",
    "Append Block": "Append Block From URL",
}


def operation(method: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The REST operation name of a request; `Other <METHOD>` when the table has none.

    `headers` must look names up case-insensitively (aiohttp's do; a plain dict needs lower-case
    keys). `query` values are compared case-insensitively, as the service does for `comp`.
    """
    method = method.upper()
    if method == "OPTIONS":
        return "Preflight Blob Request"
    comp = query.get("comp", "").lower() or None
    restype = query.get("restype", "").lower()
    read = "GET" if method == "HEAD" else method
    if restype == "account":
        return "Get Account Information"
    if restype == "service":
        return _SERVICE.get((method, comp), f"Other {method}")
    if restype == "container":
        return _CONTAINER.get((read, comp), f"Other {method}")
    if method == "PUT" and comp is None and "x-ms-copy-source" in headers:
        return _copy_kind(headers)
    if method == "PUT" and comp == "copy":
        aborting = headers.get("x-ms-copy-action", "").lower() == "abort"
        return ABORT_COPY_BLOB if aborting else f"Other {method}"
    name = _BLOB.get((method, comp)) or _BLOB.get((read, comp)) or f"Other {method}"
    if "x-ms-copy-source" in headers:
        return _FROM_URL.get(name, name)
    return name


def _copy_kind(headers: Mapping[str, str]) -> str:
    """A PUT without `comp` naming a source: Copy Blob, or one of its synchronous relatives."""
    if headers.get("x-ms-requires-sync", "").lower() == "true":
        return "Copy Blob From URL"
    if "x-ms-blob-type" in headers:
        return "Put Blob From URL"
    return COPY_BLOB
