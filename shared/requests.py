"""Copy and abort requests: frozen models, validated once where data enters (HTTP or queue).

`parse_copy_request` names every wrong field in one `RequestRejected(400)`, so a caller fixes a
request in one round trip; it never raises anything else for bad input (no 500s). Checks that
need the configuration (timeout limit, the destination allowlist) take the settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from shared.accounts import BlobLocation, FileLocation, unsafe_path_reason
from shared.errors import RequestRejected
from shared.restore import copies_onto_itself, point_in_time
from shared.settings import Settings

MAX_BODY_BYTES = 64 * 1024
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_QUEUE = r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){1,62}$"
_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TAG_TEXT = re.compile(r"^[A-Za-z0-9 +\-./:=_]*$")
_HEADER_TEXT = re.compile(r"^[\x20-\x7e]*$")  # metadata travels as HTTP header values
URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
MAX_METADATA_BYTES = 8 * 1024  # Azure's limit on all names and values together
FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True)
#: Both URLs travel in the orchestration's custom status, which Azure caps at 16 KB (8192 UTF-16
#: units; the extension fails an out-of-process orchestration over it): 2 x 2048 leaves room
#: for the rest of the document, its error and its warnings.
URL_MAX_LENGTH = 2048


def check_metadata(value: dict[str, str]) -> dict[str, str]:
    """Metadata Azure accepts: C#-identifier names, printable ASCII values, 8 KiB in all."""
    bad = [k for k in value if not _METADATA_NAME.match(k)]
    if bad:
        raise ValueError(f"names must be C# identifiers: {', '.join(sorted(bad))}")
    unprintable = [k for k, v in value.items() if not _HEADER_TEXT.match(v)]
    if unprintable:
        raise ValueError(f"values must be printable ASCII: {', '.join(sorted(unprintable))}")
    if sum(len(k) + len(v) for k, v in value.items()) > MAX_METADATA_BYTES:
        raise ValueError("names and values together must be at most 8 KiB")
    return value


def http_url_parts(value: str) -> SplitResult:
    """The parts of an absolute http(s) URL fit to show in a status document; ValueError
    (a field's message) otherwise."""
    if URL_UNSAFE.search(value):
        raise ValueError("must not contain spaces or control characters (percent-encode)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        # It would be shown in every status document; a SAS is the way to grant access.
        raise ValueError("must not carry a user name or password")
    _ = parts.port  # raises ValueError for a port that is not a number in range
    return parts


class BlobRef(BaseModel):
    """A source or destination: an absolute http(s) URL."""

    model_config = FROZEN
    url: Annotated[str, Field(min_length=1, max_length=URL_MAX_LENGTH)]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = http_url_parts(value)
        if not parts.path.strip("/"):
            raise ValueError("must name a blob or object, not just a host")
        reason = unsafe_path_reason(parts.path)
        if reason:  # resolved by the HTTP client, it would name another blob than we checked
            raise ValueError(reason)
        return value


class DestinationRef(BlobRef):
    """The destination blob, and optionally the blob type the copy must make there.

    `blob_type` is checked where the service knows what the source can make without a storage
    call: a file source makes block blobs only (shared/files.py). Left out of the request's
    JSON when unset, so requests from before it keep their fingerprint.
    """

    blob_type: Literal["BlockBlob", "PageBlob", "AppendBlob"] | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_type(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("blob_type") is None:
            data.pop("blob_type", None)
        return data


class PollBounds(BaseModel):
    """Caller's bounds on the interval between two status reads, in seconds."""

    model_config = FROZEN
    min_seconds: Annotated[float, Field(gt=0, le=3600)] | None = None
    max_seconds: Annotated[float, Field(gt=0, le=604800)] | None = None


class Notify(BaseModel):
    """Where to publish the final result: a storage queue in the host's storage account.

    Without `queue`, the result goes to the app's default results queue (BLOBCOPY_RESULTS_QUEUE).
    """

    model_config = FROZEN
    queue: Annotated[str, Field(min_length=3, max_length=63, pattern=_QUEUE)] | None = None


class Replica(BaseModel):
    """Which write of the source this copy replicates; replication rules set it.

    Copies of one destination then apply in `version` order whatever order they start in: a
    copy waits while another is pending on the destination, and one whose version is not newer
    than the destination's (or whose source no longer has `source_etag`) is skipped. The
    version is Event Grid's `sequencer` (fixed-width hex; compared by length, then text).
    """

    model_config = FROZEN
    version: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$")]
    #: Printable ASCII: it travels as the `x-ms-source-if-match` header.
    source_etag: (
        Annotated[str, Field(min_length=1, max_length=128, pattern=_HEADER_TEXT.pattern)] | None
    ) = None


class CopyRequest(BaseModel):
    """One blob copy, as callers send it over HTTP or the `copy-requests` queue."""

    model_config = FROZEN
    source: BlobRef
    destination: DestinationRef
    id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    overwrite: Literal["always", "never", "if_newer"] = "always"
    lease_source: Literal["renewed", "none", "infinite"] = "renewed"
    metadata: dict[str, Annotated[str, Field(max_length=8192)]] = Field(default_factory=dict)
    tags: dict[str, Annotated[str, Field(max_length=256)]] = Field(default_factory=dict)
    tier: Literal["Hot", "Cool", "Cold", "Archive"] | None = None
    timeout_seconds: Annotated[int, Field(gt=0)] | None = None
    poll: PollBounds | None = None
    snapshot_destination: bool = False
    verify: bool = False
    notify: Notify | None = None
    replica: Replica | None = None

    _metadata_names = field_validator("metadata")(check_metadata)

    @field_validator("tags")
    @classmethod
    def _tag_rules(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 10:
            raise ValueError("at most 10 tags")
        for key, text in value.items():
            if not 1 <= len(key) <= 128 or not _TAG_TEXT.match(key) or not _TAG_TEXT.match(text):
                raise ValueError(f"tag {key!r}: 1-128 char key, letters digits space +-./:=_")
        return value

    def fingerprint(self) -> str:
        """A hash of the normalized request: equal for the same request, whatever the key order."""
        # Fields added later are left out while unset, so a request sent again after an
        # upgrade still matches the instance it started.
        unset_new = {"replica"} if self.replica is None else set()
        data = self.model_dump(mode="json", exclude=unset_new)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class AbortRequest(BaseModel):
    """A queue message asking to abort a running copy."""

    model_config = FROZEN
    action: Literal["abort"]
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    reason: Annotated[str, Field(max_length=500)] | None = None


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def errors_of(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False):
        name, message = _field(err["loc"]), err["msg"].removeprefix("Value error, ")
        fields[name] = f"{fields[name]}; {message}" if name in fields else message
    return fields


def _cross_field_errors(raw: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Checks that span fields or need settings; each guarded against malformed raw values."""
    errors: dict[str, str] = {}
    src, dst = raw.get("source"), raw.get("destination")
    src_url = src.get("url") if isinstance(src, dict) else None
    dst_url = dst.get("url") if isinstance(dst, dict) else None
    if isinstance(dst_url, str):
        try:
            query = {k.lower() for k in parse_qs(urlsplit(dst_url).query)}
        except ValueError:  # malformed (e.g. "http://[::1/c/b"): the URL check names it
            query = set()
        if query & {"sig", "snapshot", "versionid"}:
            errors["destination.url"] = "must be a plain blob URL (no SAS, snapshot or version)"
        elif isinstance(src_url, str) and copies_onto_itself(src_url, dst_url):
            errors["destination.url"] = "must differ from source.url"
    if isinstance(src_url, str) and len(point_in_time(src_url)) > 1:
        errors["source.url"] = "must name a snapshot or a version, not both"
    replica, src_url_ok = raw.get("replica"), isinstance(src_url, str)
    if replica is not None and src_url_ok and _source_location(src_url, settings) is None:
        errors["replica"] = "needs a source in a configured account (its write is compared)"
    timeout = raw.get("timeout_seconds")
    if isinstance(timeout, int):
        limit = settings.max_timeout_for(_timed_source(src_url, settings))
        if timeout > limit.seconds:
            errors["timeout_seconds"] = f"must be <= {limit.seconds} ({limit.reason})"
    poll = raw.get("poll")
    if isinstance(poll, dict):
        low, high = poll.get("min_seconds"), poll.get("max_seconds")
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            errors["poll.min_seconds"] = "must be <= poll.max_seconds"
    return errors


def _source_location(url: Any, settings: Settings) -> BlobLocation | None:
    """The source's account, for its timeout limit; None when external or malformed (the URL
    check names a malformed one)."""
    if not isinstance(url, str):
        return None
    try:
        return settings.registry.locate(url)
    except ValueError:  # UnsafeBlobPath, or a URL urlsplit cannot read
        return None


def _timed_source(url: Any, settings: Settings) -> BlobLocation | FileLocation | None:
    """The source whose SAS bounds the timeout: a blob or a file of ours, else None."""
    found = _source_location(url, settings)
    if found is not None or not isinstance(url, str):
        return found
    try:
        return settings.registry.locate_file(url)
    except ValueError:  # UnsafeBlobPath, or a URL urlsplit cannot read: named elsewhere
        return None


def decode_json(body: bytes | str) -> Any:
    """Decode a JSON body, refusing oversize or malformed input with a 400."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestRejected(400, "request too large", {"body": f"over {MAX_BODY_BYTES} bytes"})
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestRejected(400, "body is not JSON", {"body": f"invalid JSON: {exc}"}) from None
    except RecursionError:
        raise RequestRejected(400, "body is not JSON", {"body": "nested too deeply"}) from None


Model = TypeVar("Model", bound=BaseModel)


def validate_body(
    model: type[Model], raw: Any, what: str, cross: Callable[[dict[str, Any]], dict[str, str]]
) -> Model:
    """Validate a decoded body into `model`, or raise RequestRejected(400) naming every wrong
    field: the model's own, then those `cross` finds across fields (each guarded against
    malformed raw values)."""
    if not isinstance(raw, dict):
        raise RequestRejected(400, f"invalid {what}", {"body": "must be a JSON object"})
    fields: dict[str, str] = {}
    request: Model | None = None
    try:
        request = model.model_validate(raw)
    except ValidationError as exc:
        fields.update(errors_of(exc))
    for name, message in cross(raw).items():
        fields.setdefault(name, message)
    if fields or request is None:
        raise RequestRejected(400, f"invalid {what}", fields)
    return request


def parse_copy_request(raw: Any, settings: Settings) -> CopyRequest:
    """Validate a decoded body into a CopyRequest, or raise RequestRejected naming every field."""
    return validate_body(
        CopyRequest, raw, "copy request", lambda body: _cross_field_errors(body, settings)
    )


def parse_queue_message(body: bytes | str, settings: Settings) -> CopyRequest | AbortRequest:
    """A `copy-requests` message: a copy request, or `{"action": "abort", "id": ...}`."""
    raw = decode_json(body)
    if isinstance(raw, dict) and "action" in raw:
        try:
            return AbortRequest.model_validate(raw)
        except ValidationError as exc:
            raise RequestRejected(400, "invalid abort message", errors_of(exc)) from None
    return parse_copy_request(raw, settings)


def is_copy_id(text: str) -> bool:
    """Whether `text` can be a copy's id: what `id` accepts, or a queue message's `q-<id>`.

    The Durable SDK builds management URLs with ids unquoted, so an id holding `#`, `?` or `/`
    would address another instance or route: such ids are unknown, never looked up.
    """
    return re.fullmatch(ID_PATTERN, text) is not None
