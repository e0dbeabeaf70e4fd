"""`GET /api/batches/{id}/report[?state=&limit=&continuation=]`: a batch's report, a page at a time.

The report is an append blob in the destination account (shared/batchreport.py); callers used
to need their own access to that account to read it. The service reads it with its own
credential, in ranged reads from a byte offset that the continuation carries, so no request
holds more than a page in memory whatever the batch's size:

    {"id": ..., "state": <the batch's>, "lines": [{name, destination, state, bytes, copy_id,
     error}, ...], "continuation": token | null}

`continuation` is null only once the batch is over and every line has been read; while it
runs, the token of the last page points at the end, and reading it later gives the lines
written since.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import Any

from shared import status
from shared.batchreport import LINE_STATES, NotALineStart, read_page
from shared.blobops import storage
from shared.errors import RequestRejected
from shared.instances import InstanceReader, exists, input_of
from shared.jobapi import ApiResponse, Resource, rejected
from shared.requests import is_copy_id

DEFAULT_LIMIT, MAX_LIMIT = 1000, 5000
_DIGITS = re.compile(r"[0-9]{1,9}")
_TOKEN_PREFIX = "report:"


def encode_offset(offset: int) -> str:
    """A continuation for a byte offset of the report."""
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_offset(token: str) -> int | None:
    """The byte offset a continuation this API gave carries; None for any other string."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    digits = text.removeprefix(_TOKEN_PREFIX)
    if not text.startswith(_TOKEN_PREFIX) or not re.fullmatch(r"[0-9]{1,15}", digits):
        return None
    return int(digits)


def parse_query(params: dict[str, str]) -> tuple[int, int, str | None]:
    """(limit, offset, state) of the query, or a 400 naming each wrong parameter."""
    fields: dict[str, str] = {}
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if _DIGITS.fullmatch(raw_limit.strip()) and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            fields["limit"] = f"an integer from 1 to {MAX_LIMIT}"
    offset = 0
    token = params.get("continuation")
    if token is not None:
        decoded = decode_offset(token)
        if decoded is None:
            fields["continuation"] = "not a continuation this API gave"
        offset = decoded or 0
    state = params.get("state")
    if state is not None and state not in LINE_STATES:
        fields["state"] = f"one of {', '.join(LINE_STATES)}"
    if fields:
        raise RequestRejected(400, "invalid report query", fields)
    return limit, offset, state


async def get_report(
    client: InstanceReader, instance_id: str, params: dict[str, str], kind: Resource
) -> ApiResponse:
    """One page of the batch's report lines, read with the service's own credential."""
    try:
        limit, offset, state = parse_query(params)
    except RequestRejected as exc:
        return rejected(exc)
    if not is_copy_id(instance_id):
        return kind.unknown()
    found = await client.get_status(instance_id, show_input=True)
    if not exists(found) or not kind.owns(found):
        return kind.unknown()
    batch_state = kind.describe(found)["state"]  # read first: a final batch's report is whole
    try:
        page = await asyncio.to_thread(_read, input_of(found), offset, limit, state)
    except RequestRejected as exc:
        return rejected(exc)
    except NotALineStart as exc:  # a forged token: the API's own always start a line
        return rejected(RequestRejected(400, "invalid report query", {"continuation": str(exc)}))
    over = batch_state in status.FINAL_STATES and page.at_end
    body: dict[str, Any] = {
        "id": instance_id,
        "state": batch_state,
        "lines": page.lines,
        "continuation": None if over else encode_offset(page.next_offset),
    }
    return ApiResponse(200, body)


def _read(plan: dict[str, Any], offset: int, limit: int, state: str | None) -> Any:
    """The page, from the report blob the batch's plan names."""
    ops = storage()
    location = ops.locate(str(plan.get("report_url") or ""))
    if location is None:
        raise RequestRejected(404, "this batch has no report", {"id": "no report"})
    return read_page(ops.blob(location), offset, limit, state)
