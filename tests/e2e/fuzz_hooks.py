"""What schemathesis needs to know of this API beyond what JSON Schema can say in openapi.json.

`schemathesis run` loads this module (SCHEMATHESIS_HOOKS=tests.e2e.fuzz_hooks). Each hook
states one rule the document states in words, so that "valid" data is valid and a failure is
the service's fault, never the fuzzer's misreading:

- `continuation` is a token this API gave (`format: continuation`, and a report's own
  `format: report-continuation`): valid ones are built here.
- A copy's destination differs from its source; a batch into its own container takes prefixes
  that do not overlap. JSON Schema cannot compare two fields, so such bodies are not
  generated as valid data (they are still sent as invalid data, and must answer 400).
- `poll.min_seconds` is at most `poll.max_seconds` (two fields again): valid data has them in
  order.
- Metadata names are C# identifiers and tag keys 1-128 characters of a small alphabet, with
  metadata at most 8 KiB in all: Swagger 2.0 (JSON Schema draft 4) has no `propertyNames`, so
  valid data gets its names (and total size) made to fit.
- Swagger 2.0 says a response without `schema` has no body (Response Object), so it has no
  media type either; `content_type_conformance` reads `produces` for every status. A bodiless
  answer to a bodiless response (the Functions host's 401) is not held against the service.
- Valid copies and batches copy real blobs (the `FUZZ_*` settings contract_fuzz.Targets gives):
  a URL the document allows but that names no configured account is a 403 by design, and a
  fuzzer that only ever meets 403s never starts a copy, reads one that runs, or aborts it.
- A method a route does not list never reaches the app: the Functions host answers 404 with
  no body, not 405 (azure-functions-host issue 10098), and devhost answers as the host does.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.openapi.checks import MissingContentType, UnsupportedMethodResponse

from shared.instances import Cursor
from shared.reportapi import encode_offset
from tests.e2e.contract_fuzz import TARGET_SETTINGS

#: schemathesis calls its hooks by these names.
__all__ = ["filter_case", "filter_failure", "map_case"]

#: The continuations the API gives: a first-page cursor resumed after any number of rows.
schemathesis.openapi.format(
    "continuation",
    st.integers(min_value=0, max_value=10_000).map(lambda skip: Cursor(None, skip).encode()),
)
#: A report's continuations carry a byte offset that starts a line of that very report
#: (shared/reportapi.py); the one valid for any batch is its start.
schemathesis.openapi.format("report-continuation", st.just(encode_offset(0)))


def _url(part: Any) -> str | None:
    return part.get("url") if isinstance(part, dict) else None


def _prefix(part: Any) -> str:
    return str(part.get("prefix") or "") if isinstance(part, dict) else ""


def onto_itself(body: Any) -> bool:
    """Whether a body copies onto its own source: the same URL, or the same container with
    prefixes one of which starts the other."""
    if not isinstance(body, dict):
        return False
    source, destination = body.get("source"), body.get("destination")
    src, dst = _url(source), _url(destination)
    if not isinstance(src, str) or not isinstance(dst, str):
        return False
    if src.split("?")[0].rstrip("/") != dst.split("?")[0].rstrip("/"):
        return False
    if "prefix" not in (source or {}) and "prefix" not in (destination or {}):
        return True  # a copy (or a batch over whole containers): the same blob or container
    a, b = _prefix(source), _prefix(destination)
    return a.startswith(b) or b.startswith(a)


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Valid data never copies onto itself (a rule across two fields)."""
    positive = case.meta is None or case.meta.generation.mode.is_positive
    return not (positive and onto_itself(case.body))


MAX_METADATA_BYTES = 8 * 1024
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
_NOT_TAG_TEXT = re.compile(r"[^A-Za-z0-9 +\-./:=_]")


def fitting_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The same values under C# identifiers (`m<i>_<letters kept>`), while 8 KiB lasts."""
    fitted: dict[str, Any] = {}
    used = 0
    for i, (name, value) in enumerate(metadata.items()):
        key = f"m{i}_{_NOT_IDENTIFIER.sub('', name)}"
        used += len(key) + len(str(value))
        if used > MAX_METADATA_BYTES:
            break
        fitted[key] = value
    return fitted


def fitting_tags(tags: dict[str, Any]) -> dict[str, Any]:
    """The same values under keys of 1-128 allowed characters (`t<i><characters kept>`)."""
    return {f"t{i}{_NOT_TAG_TEXT.sub('', k)}"[:128]: v for i, (k, v) in enumerate(tags.items())}


def ordered_poll(poll: dict[str, Any]) -> dict[str, Any]:
    """The bounds swapped when the shortest interval exceeds the longest."""
    low, high = poll.get("min_seconds"), poll.get("max_seconds")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        return {**poll, "min_seconds": high, "max_seconds": low}
    return poll


def onto_targets(path: str, body: dict[str, Any]) -> None:
    """Point a valid copy or batch at the real blobs of the run, each copy at a blob of its own."""
    source, destination = body.get("source"), body.get("destination")
    if not (isinstance(source, dict) and isinstance(destination, dict)):
        return
    targets = {name: os.environ.get(name) for name in TARGET_SETTINGS}
    if not all(targets.values()):
        return
    if path == "/copies":
        source["url"] = targets["FUZZ_COPY_SOURCE"]
        destination["url"] = f"{targets['FUZZ_DESTINATIONS']}/fuzz-{uuid.uuid4().hex}.bin"
        if isinstance(body.get("poll"), dict):  # a copy read once an hour would outlive the run
            body["poll"] = {"min_seconds": 0.5, "max_seconds": 1}
    elif path == "/batches":
        source["url"] = targets["FUZZ_BATCH_SOURCE"]
        destination["url"] = targets["FUZZ_DESTINATIONS"]


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Valid data copies real blobs, names its metadata and tags as the service requires, and
    orders its poll bounds."""
    positive = case.meta is None or case.meta.generation.mode.is_positive
    body = case.body
    if positive and isinstance(body, dict):
        if case.method.upper() == "POST":
            onto_targets(case.operation.path, body)
        if isinstance(body.get("poll"), dict):
            body["poll"] = ordered_poll(body["poll"])
        if isinstance(body.get("metadata"), dict):
            body["metadata"] = fitting_metadata(body["metadata"])
        if isinstance(body.get("tags"), dict):
            body["tags"] = fitting_tags(body["tags"])
    return case


def _declares_no_body(case: Any, status: int) -> bool:
    responses = case.operation.definition.raw.get("responses", {})
    declared = responses.get(str(status))
    return isinstance(declared, dict) and "schema" not in declared


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but the host's own bodiless answers: a missing media type on a
    response the document declares bodiless, and the 404 for a method the route does not list."""
    if response.content:
        return True
    if isinstance(failure, MissingContentType):
        return not _declares_no_body(case, response.status_code)
    if isinstance(failure, UnsupportedMethodResponse):
        return bool(response.status_code != 404)
    return True
