"""Build the batch request JSON (POST /api/batches) from command-line values.

As for a copy (blobcopy/copy_request.py), only what the user set goes into the request, so the
service's defaults apply to the rest, and the service validates it again, naming every wrong
field. The checks here catch typing slips before anything is sent; a container URL with a query
is refused here too, so a SAS pasted into it never leaves the machine (the service signs).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from blobcopy.copy_request import RequestOptionError, check_url, optional_fields

#: The most copies a batch may keep pending at once (shared/batchrequests.py MAX_CONCURRENCY).
MAX_CONCURRENCY = 500


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """What `blobcopy batch start` was told; None or empty means "let the service decide"."""

    source: str
    destination: str
    prefix: str | None = None
    dest_prefix: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_concurrency: int | None = None
    dry_run: bool = False
    batch_id: str | None = None
    overwrite: str | None = None
    lease_source: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tier: str | None = None
    timeout_seconds: int | None = None
    blob_timeout_seconds: int | None = None
    verify: bool | None = None
    notify_queue: str | None = None


def check_container_url(value: str, what: str) -> str:
    """`value` (without a trailing /) if it is a plain http(s) container URL; else
    RequestOptionError naming `what`."""
    url = check_url(value.rstrip("/"), what)
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment:
        shown = value.split("?")[0].split("#")[0]
        raise RequestOptionError(
            f"{what} must be a plain container URL, with no query (the service signs), "
            f"got {shown!r} with a query"
        )
    return url


def build_batch_request(options: BatchOptions) -> dict[str, Any]:
    """The POST /api/batches body for `options`."""
    source: dict[str, Any] = {"url": check_container_url(options.source, "SRC_CONTAINER_URL")}
    destination: dict[str, Any] = {
        "url": check_container_url(options.destination, "DST_CONTAINER_URL")
    }
    if options.prefix:
        source["prefix"] = options.prefix
    if options.dest_prefix:
        destination["prefix"] = options.dest_prefix
    for option, globs in (("--include", options.include), ("--exclude", options.exclude)):
        if any(not glob for glob in globs):
            raise RequestOptionError(f"{option} takes a non-empty glob")
    request: dict[str, Any] = {"source": source, "destination": destination}
    if options.include:
        request["include"] = list(options.include)
    if options.exclude:
        request["exclude"] = list(options.exclude)
    scalars = {
        "max_concurrency": options.max_concurrency,
        "dry_run": True if options.dry_run else None,
        "id": options.batch_id,
        "overwrite": options.overwrite,
        "lease_source": options.lease_source,
        "tier": options.tier,
        "timeout_seconds": options.timeout_seconds,
        "blob_timeout_seconds": options.blob_timeout_seconds,
        "verify": options.verify,
    }
    request.update(
        optional_fields(scalars, metadata=options.metadata, notify_queue=options.notify_queue)
    )
    return request
