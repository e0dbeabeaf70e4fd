"""Build the copy request JSON from command-line values.

Only what the user set goes into the request, so the service's own defaults apply to the rest.
The service validates the request again and names every wrong field; the checks here catch typing
slips early, with the option's name in the message.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OVERWRITE_CHOICES = ("always", "never", "if_newer")
LEASE_CHOICES = ("renewed", "none", "infinite")
BATCH_LEASE_CHOICES = ("none", "renewed", "infinite")  # each source leased while its copy runs
TIER_CHOICES = ("Hot", "Cool", "Cold", "Archive")
STATE_CHOICES = ("running", "succeeded", "failed", "aborted", "timed_out")


class RequestOptionError(ValueError):
    """Raised when a command-line value cannot go into a copy request."""


@dataclass(frozen=True, kw_only=True)
class CopyOptions:
    """What `blobcopy start` was told; None means "let the service decide"."""

    source: str
    destination: str
    copy_id: str | None = None
    overwrite: str | None = None
    lease_source: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tier: str | None = None
    timeout_seconds: int | None = None
    poll_min_seconds: float | None = None
    poll_max_seconds: float | None = None
    snapshot_destination: bool | None = None
    verify: bool | None = None
    notify_queue: str | None = None


def check_url(value: str, what: str) -> str:
    """`value` if it is an absolute http(s) URL; else RequestOptionError naming `what`.

    A path with `.`, `..` or empty segments (also percent-encoded) is refused too: HTTP clients
    resolve them, so `c/../other/b` names another blob than it seems to (the service refuses it
    as well; this says so before anything is sent).
    """
    parsed = urllib.parse.urlsplit(value)
    shown = value.split("?")[0]
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        raise RequestOptionError(f"{what} must be an http(s) URL, got {shown!r}")
    if _has_dot_segment(parsed.path):
        raise RequestOptionError(
            f"{what} must not have '.', '..' or empty path segments, got {shown!r}"
        )
    return value


def _has_dot_segment(path: str) -> bool:
    """Whether the path, raw or percent-decoded (repeatedly), has a `.`, `..` or empty segment."""
    spelled, seen = path.removeprefix("/"), set()
    while spelled not in seen:
        seen.add(spelled)
        if any(part in ("", ".", "..") for part in re.split(r"[/\\]", spelled)):
            return True
        spelled = urllib.parse.unquote(spelled)
    return False


def parse_pairs(values: Iterable[str], what: str) -> dict[str, str]:
    """{"k": "v"} from ["k=v", ...]; a missing '=' or empty key is an error naming `what`."""
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RequestOptionError(f"{what} takes KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def optional_fields(
    scalars: Mapping[str, Any],
    *,
    metadata: Mapping[str, str],
    notify_queue: str | None,
    **collections: Mapping[str, Any],
) -> dict[str, Any]:
    """The optional fields of a request (copy or batch), only those the user set, in this order:
    each of `scalars` that is not None, `metadata` and then each of `collections` that is not
    empty, and `notify` when a queue is named. What is left out, the service decides."""
    fields = {name: value for name, value in scalars.items() if value is not None}
    for name, collection in {"metadata": metadata, **collections}.items():
        if collection:
            fields[name] = dict(collection)
    if notify_queue:
        fields["notify"] = {"queue": notify_queue}
    return fields


def build_copy_request(options: CopyOptions) -> dict[str, Any]:
    """The POST /api/copies body for `options`."""
    request: dict[str, Any] = {
        "source": {"url": check_url(options.source, "SOURCE")},
        "destination": {"url": check_url(options.destination, "DESTINATION")},
    }
    low, high = options.poll_min_seconds, options.poll_max_seconds
    if low is not None and high is not None and low > high:
        raise RequestOptionError("--poll-min must not be greater than --poll-max")
    scalars = {
        "id": options.copy_id,
        "overwrite": options.overwrite,
        "lease_source": options.lease_source,
        "tier": options.tier,
        "timeout_seconds": options.timeout_seconds,
        "snapshot_destination": options.snapshot_destination,
        "verify": options.verify,
    }
    poll = {"min_seconds": low, "max_seconds": high}
    request.update(
        optional_fields(
            scalars,
            metadata=options.metadata,
            notify_queue=options.notify_queue,
            tags=options.tags,
            poll={name: value for name, value in poll.items() if value is not None},
        )
    )
    return request


@dataclass(frozen=True, kw_only=True)
class RestoreOptions:
    """What `blobcopy restore` was told: the base blob and the point in time to bring back."""

    blob_url: str
    snapshot: str | None = None
    version_id: str | None = None
    copy_id: str | None = None
    timeout_seconds: int | None = None
    snapshot_destination: bool | None = None
    verify: bool | None = None
    notify_queue: str | None = None


def build_restore_request(options: RestoreOptions) -> dict[str, Any]:
    """The POST /api/copies body that restores `options.blob_url` from one of its snapshots or
    versions: that point in time as the source, the blob itself as the destination."""
    url = check_url(options.blob_url, "BLOB_URL")
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise RequestOptionError(
            "BLOB_URL must be the blob's plain URL (no query or fragment); name the point in "
            "time with --snapshot or --version"
        )
    if (options.snapshot is None) == (options.version_id is None):
        raise RequestOptionError("give exactly one of --snapshot and --version")
    if not (options.snapshot or options.version_id or "").strip():
        raise RequestOptionError("--snapshot and --version take a non-empty value")
    name, value = (
        ("snapshot", options.snapshot)
        if options.snapshot is not None
        else ("versionid", options.version_id)
    )
    point = urllib.parse.urlencode({name: value})
    request: dict[str, Any] = {"source": {"url": f"{url}?{point}"}, "destination": {"url": url}}
    scalars = {
        "id": options.copy_id,
        "timeout_seconds": options.timeout_seconds,
        "snapshot_destination": options.snapshot_destination,
        "verify": options.verify,
    }
    request.update(optional_fields(scalars, metadata={}, notify_queue=options.notify_queue))
    return request
