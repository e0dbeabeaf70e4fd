"""A copy request made into its orchestration input (`CopyPlan`), at the edge: the accounts
resolved, the allowlists checked for both ends before any storage call (403), the requests
no copy could serve refused with the field to blame (400), the defaults filled in.

Checked here, once, because a refusal after the orchestration started would cost a Durable
instance and reach the caller only through its status document.
"""

from __future__ import annotations

import datetime as dt

from shared.accounts import BlobLocation
from shared.copystate import CopyPlan
from shared.errors import RequestRejected, UnsafeBlobPath
from shared.files import check_file_source
from shared.requests import CopyRequest
from shared.restore import request_for_plan, restore_fingerprint, restore_of
from shared.settings import Settings
from shared.timestamps import iso


def _locate(settings: Settings, url: str, field_name: str) -> BlobLocation | None:
    """registry.locate, with a path that could resolve elsewhere refused as a 400 on the field."""
    try:
        return settings.registry.locate(url)
    except UnsafeBlobPath as exc:
        raise RequestRejected(400, "invalid copy request", {field_name: str(exc)}) from None


def build_plan(request: CopyRequest, settings: Settings, instance_id: str) -> CopyPlan:
    """Resolve accounts and defaults into the orchestration input; 403 outside the allowlist."""
    registry = settings.registry
    dest = _locate(settings, request.destination.url, "destination.url")
    if not registry.allowed_destinations:
        raise RequestRejected(
            403,
            "no destination is allowed: set BLOBCOPY_ALLOWED_DESTINATIONS",
            {"destination.url": "outside the allowlist"},
        )
    if dest is not None and not dest.blob:
        raise RequestRejected(
            400, "invalid copy request", {"destination.url": "must name a blob, not a container"}
        )
    if dest is None or not registry.destination_allowed(dest):
        raise RequestRejected(
            403, "destination not allowed", {"destination.url": "outside the allowlist"}
        )
    src = _locate(settings, request.source.url, "source.url")
    blob_type = request.destination.blob_type
    file_src = None if src else check_file_source(registry, request.source.url, blob_type)
    if file_src is None and not registry.source_allowed(src):
        raise RequestRejected(
            403, "source not allowed", {"source.url": "outside BLOBCOPY_ALLOWED_SOURCES"}
        )
    if src is not None and not src.blob:
        raise RequestRejected(
            400, "invalid copy request", {"source.url": "must name a blob, not a container"}
        )
    leasable = src is not None and not (src.snapshot or src.version_id)
    restore = restore_of(src, dest)
    if restore is not None and request.overwrite != "always":
        # The point in time is never newer than its base, and the base always exists.
        raise RequestRejected(
            400,
            "invalid copy request",
            {"overwrite": "a restore replaces its base: must be always"},
        )
    if restore is None and src is not None and src.key == dest.key:  # however it is spelled
        raise RequestRejected(
            400, "invalid copy request", {"destination.url": "must differ from source.url"}
        )
    return CopyPlan(
        id=instance_id,
        request=request_for_plan(
            request.model_dump(mode="json"), request.model_fields_set, restore
        ),
        fingerprint=restore_fingerprint(request, restore),
        created=iso(dt.datetime.now(dt.UTC)),
        lease=request.lease_source if leasable else "none",
        lease_seconds=settings.lease_seconds,
        timeout_seconds=request.timeout_seconds or settings.default_timeout_seconds,
        restore=restore,
        **settings.plan_tuning(),
    )
