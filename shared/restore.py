"""Restoring a blob: a copy whose source is a snapshot or a version of its own destination.

"Copy a snapshot over its base blob. By promoting a snapshot to the position of the base
blob, you can restore an earlier version of a blob" (the seed article; Copy Blob takes a
version as a source the same way). Such a copy is a *restore*:

- it is allowed, although source and destination name the same blob (any other copy of a blob
  onto itself is refused at the edge, shared/requests.py);
- the source lease does not apply: the base blob is the destination, and a snapshot or a
  version cannot be leased (shared/copyplan.py `build_plan` leases no point-in-time source);
- `snapshot_destination` is on unless the request says otherwise, and the snapshot it takes is
  kept when the restore succeeds, so the restore itself can be undone; the status document's
  `restore` block names it (`previous_snapshot`);
- a base blob leased by someone else fails the copy before anything is written
  (`DestinationLeased`: shared/copyprops.py `refuse_if_leased`, before the snapshot).

Pure: URL text and resolved locations in, plain values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.accounts import BlobLocation

#: Query parameters that name a blob at a point in time, by what the restore block calls them.
POINT_IN_TIME = {"snapshot": "snapshot", "versionid": "version_id"}


def point_in_time(url: str) -> dict[str, str]:
    """`{"snapshot": ...}` or `{"version_id": ...}` when the URL names one, else `{}`."""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:  # malformed: the URL check names it
        return {}
    found: dict[str, str] = {}
    for name, values in query.items():
        key = POINT_IN_TIME.get(name.lower())
        if key is not None and values and values[0]:
            found[key] = values[0]
    return found


def copies_onto_itself(source_url: str, destination_url: str) -> bool:
    """The same blob by its text, and not a restore (the source names no snapshot or version):
    a copy that would replace a blob with itself."""
    same = source_url.split("?")[0] == destination_url.split("?")[0]
    return same and not point_in_time(source_url)


def restore_of(source: BlobLocation | None, destination: BlobLocation) -> dict[str, str] | None:
    """What a copy restores (its snapshot or version), or None when it is no restore: the
    source is a point in time of the destination blob itself, however its URL is spelled."""
    if source is None or source.key != destination.key:
        return None
    if source.snapshot:
        return {"snapshot": source.snapshot}
    if source.version_id:
        return {"version_id": source.version_id}
    return None


def request_for_plan(request: dict[str, Any], asked: set[str], restore: Any) -> dict[str, Any]:
    """The request as the orchestration runs it: a restore snapshots its base unless the
    request said `snapshot_destination` itself (`asked`: the fields the caller sent)."""
    if restore is None or "snapshot_destination" in asked:
        return request
    return {**request, "snapshot_destination": True}


def restore_fingerprint(request: Any, restore: Any) -> str:
    """The request's fingerprint, with a restore's default `snapshot_destination` applied: a
    restore that omits it and one that says `false` run differently, so they differ (restores
    are newer than every stored fingerprint, so no earlier instance changes)."""
    if restore is not None and "snapshot_destination" not in request.model_fields_set:
        request = request.model_copy(update={"snapshot_destination": True})
    fingerprint: str = request.fingerprint()
    return fingerprint


def restore_block(
    restore: Mapping[str, str] | None, previous_snapshot: str | None
) -> dict[str, Any] | None:
    """The status document's `restore` block: what was restored and which snapshot holds the
    content it replaced (None once that snapshot is gone, or when none was taken)."""
    if restore is None:
        return None
    return {
        "snapshot": restore.get("snapshot"),
        "version_id": restore.get("version_id"),
        "previous_snapshot": previous_snapshot or None,
    }
