"""Batch requests: every blob under a prefix, validated once where the request enters.

    {"source": {"url": CONTAINER_URL, "prefix": "p/"},
     "destination": {"url": CONTAINER_URL, "prefix": "q/"},
     "include": ["*.csv"], "exclude": ["tmp/*"], "max_concurrency": 32, "dry_run": false,
     "id": "nightly-2026-12-02", "overwrite": "never", "tier": "Cool", "metadata": {...},
     "verify": true, "timeout_seconds": 86400, "blob_timeout_seconds": 3600,
     "lease_source": "renewed", "notify": {"queue": "copy-results"}}

A blob `p/a/b.csv` is copied to `q/a/b.csv`: the source prefix is replaced by the destination's.
Globs match the name after the prefix (`fnmatch`, case-sensitive: `*` crosses `/`). Like
`parse_copy_request`, `parse_batch_request` names every wrong field in one 400.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from shared.accounts import unsafe_path_reason
from shared.copylimits import MAX_PENDING_TIMEOUT_SECONDS
from shared.requests import (
    FROZEN,
    ID_PATTERN,
    URL_MAX_LENGTH,
    Notify,
    check_metadata,
    http_url_parts,
    validate_body,
)

#: The most copies a batch may keep pending at once: each is carried in orchestration history
#: between rounds, so this bounds the history a round writes.
MAX_CONCURRENCY = 500
#: Azure's longest blob name.
MAX_BLOB_NAME = 1024
#: Long enough for a replication rule's back-fill glob: `*` and its 256-character suffix with
#: every `[`, `*`, `?` escaped as `[[]` (shared/replication_backfill.py).
_Glob = Annotated[str, Field(min_length=1, max_length=1024)]


class ContainerRef(BaseModel):
    """A container (its URL, no blob path) and the prefix of the names taken in it."""

    model_config = FROZEN
    url: Annotated[str, Field(min_length=1, max_length=URL_MAX_LENGTH)]
    prefix: Annotated[str, Field(max_length=MAX_BLOB_NAME)] = ""

    @field_validator("url")
    @classmethod
    def _container_url(cls, value: str) -> str:
        parts = http_url_parts(value)
        if parts.query or parts.fragment:
            raise ValueError("must be a plain container URL (no query: the service signs)")
        if not parts.path.strip("/"):
            raise ValueError("must name a container")
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        # Each blob's name starts with it: a dot segment would make the name's URL resolve to
        # another blob, or another container, than the allowlist was checked for.
        whole = value[:-1] if value.endswith(("/", "\\")) else value
        reason = unsafe_path_reason("/" + whole) if value else None
        if reason:
            raise ValueError(reason)
        return value


class BatchRequest(BaseModel):
    """Copy every blob under `source.prefix` to the same name under `destination.prefix`."""

    model_config = FROZEN
    kind: Literal["batch"] = "batch"  # the discriminator on the copy-requests queue
    source: ContainerRef
    destination: ContainerRef
    include: Annotated[list[_Glob], Field(max_length=20)] = Field(default_factory=list)
    exclude: Annotated[list[_Glob], Field(max_length=20)] = Field(default_factory=list)
    max_concurrency: Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)] = 32
    dry_run: bool = False
    id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    overwrite: Literal["always", "never", "if_newer"] = "always"
    #: Each source blob is leased from just before its copy starts until the copy ends (two
    #: more transactions per blob). `renewed`: a finite lease (BLOBCOPY_LEASE_SECONDS) renewed
    #: by the rounds while its copy is pending, one Renew Lease per blob per third of its life,
    #: so a batch that dies frees its sources within a minute; `infinite`: no renewals, but a
    #: source stays leased until someone breaks the lease if the batch is lost.
    lease_source: Literal["none", "renewed", "infinite"] = "none"
    metadata: dict[str, Annotated[str, Field(max_length=8192)]] = Field(default_factory=dict)
    tier: Literal["Hot", "Cool", "Cold", "Archive"] | None = None
    timeout_seconds: Annotated[int, Field(gt=0)] | None = None
    #: A copy still pending this long after it started is aborted and reported failed with
    #: `Timeout` (seen by the first round after it: the rounds wake for it); the batch goes on.
    #: Longer than the batch's own timeout is allowed (that one then comes first); longer than
    #: Azure keeps a copy pending could never fire.
    blob_timeout_seconds: Annotated[int, Field(gt=0, le=MAX_PENDING_TIMEOUT_SECONDS)] | None = None
    verify: bool = False
    notify: Notify | None = None

    _metadata_names = field_validator("metadata")(check_metadata)

    def selects(self, relative_name: str) -> bool:
        """Whether a name (after the source prefix) is taken: any include, no exclude."""
        if self.include and not any(fnmatch.fnmatchcase(relative_name, g) for g in self.include):
            return False
        return not any(fnmatch.fnmatchcase(relative_name, g) for g in self.exclude)

    def destination_name(self, source_name: str) -> str:
        """The destination blob's name for a source blob's name."""
        return self.destination.prefix + source_name[len(self.source.prefix) :]

    def fingerprint(self) -> str:
        """A hash of the normalized request (equal for the same request in any key order).
        Fields added since batches shipped count only when set, so a batch started by an
        older release keeps its fingerprint (its idempotent re-post still matches)."""
        unset = {name for name in _ADDED_LATER if getattr(self, name) is None}
        body = self.model_dump(mode="json", exclude=unset)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


#: Fields a batch request gained after release; unset, they leave the fingerprint as it was.
_ADDED_LATER = {"blob_timeout_seconds"}


def _overlap_error(raw: dict[str, Any]) -> dict[str, str]:
    """A batch into its own source range would list its own copies: refused."""
    src, dst = raw.get("source"), raw.get("destination")
    if not (isinstance(src, dict) and isinstance(dst, dict)):
        return {}
    same = str(src.get("url", "")).rstrip("/") == str(dst.get("url", "")).rstrip("/")
    a, b = str(src.get("prefix") or ""), str(dst.get("prefix") or "")
    if same and (a.startswith(b) or b.startswith(a)):
        return {"destination.prefix": "must not overlap source.prefix in the same container"}
    return {}


def parse_batch_request(raw: Any) -> BatchRequest:
    """Validate a decoded body into a BatchRequest, or raise RequestRejected naming each field.
    (The timeout's limit depends on the source's account: shared/batchapi.py checks it.)"""
    return validate_body(BatchRequest, raw, "batch request", _overlap_error)
