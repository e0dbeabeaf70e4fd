"""Bad requests over real HTTP: each answers 400 and names the field that is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devhost.storage.stack import ACCOUNTS
from devhost.testing import http
from tests.e2e.e2e_helpers import CopyApi

pytestmark = pytest.mark.e2e

# Validation happens before any storage call, so these blobs need not exist; the ports are
# placeholders in the shape of the local stack's path-style URLs.
SRC = f"http://127.0.0.1:10000/{ACCOUNTS[1]}/in/src.bin"
DST = f"http://127.0.0.1:10000/{ACCOUNTS[0]}/out/dst.bin"
GOOD: dict[str, Any] = {"source": {"url": SRC}, "destination": {"url": DST}}


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != name}


BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("non-JSON body", b"{not json", "body"),
    ("JSON array body", [GOOD], "body"),
    ("JSON string body", "copy please", "body"),
    ("missing source", _without("source"), "source"),
    ("missing destination", _without("destination"), "destination"),
    ("source is a string", _with(source=SRC), "source"),
    ("source url is a number", _with(source={"url": 42}), "source.url"),
    ("source url is ftp", _with(source={"url": "ftp://example.com/a.bin"}), "source.url"),
    ("source url is relative", _with(source={"url": "in/src.bin"}), "source.url"),
    (
        "destination is only a host",
        _with(destination={"url": "https://example.com/"}),
        "destination.url",
    ),
    (
        "destination carries a SAS",
        _with(destination={"url": DST + "?sv=2024&sig=abc"}),
        "destination.url",
    ),
    ("destination equals source", _with(destination={"url": SRC}), "destination.url"),
    ("unknown overwrite mode", _with(overwrite="sometimes"), "overwrite"),
    ("unknown lease mode", _with(lease_source="forever"), "lease_source"),
    ("unknown tier", _with(tier="Lukewarm"), "tier"),
    ("negative timeout", _with(timeout_seconds=-5), "timeout_seconds"),
    ("timeout as a string", _with(timeout_seconds="60"), "timeout_seconds"),
    ("timeout above the limit", _with(timeout_seconds=10**9), "timeout_seconds"),
    ("metadata key not an identifier", _with(metadata={"bad-key": "x"}), "metadata"),
    ("metadata value not a string", _with(metadata={"owner": 5}), "metadata.owner"),
    ("poll min above max", _with(poll={"min_seconds": 10, "max_seconds": 1}), "poll.min_seconds"),
    ("bad notify queue name", _with(notify={"queue": "Results_Queue"}), "notify.queue"),
    ("snapshot flag not a boolean", _with(snapshot_destination="yes"), "snapshot_destination"),
    ("id with spaces", _with(id="my copy"), "id"),
    ("too many tags", _with(tags={f"t{i}": "v" for i in range(11)}), "tags"),
    ("unknown field", _with(colour="blue"), "colour"),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in BAD_REQUESTS],
)
def test_bad_request_is_400_naming_the_field(copies: CopyApi, body: Any, field: str) -> None:
    """A malformed copy request answers 400 and its error body names the wrong field."""
    reply = copies.post(body if isinstance(body, bytes) else json.dumps(body).encode())
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["code"] == "InvalidRequest"
    assert field in [f["field"] for f in error["fields"]], error
    assert copies.started == []


def test_several_wrong_fields_are_named_at_once(copies: CopyApi) -> None:
    """A request wrong in several fields names every one of them in one 400."""
    reply = copies.post(_with(overwrite="maybe", timeout_seconds=0, tier="Frozen"))
    assert reply.status == 400
    named = {f["field"] for f in reply.json()["error"]["fields"]}
    assert {"overwrite", "timeout_seconds", "tier"} <= named


def test_unknown_state_filter_is_400(copies: CopyApi) -> None:
    """Listing copies with an unknown state filter answers 400 naming `state`."""
    reply = copies.list("finished")
    assert reply.status == 400
    assert [f["field"] for f in reply.json()["error"]["fields"]] == ["state"]


def test_abort_with_a_non_string_reason_is_400(copies: CopyApi) -> None:
    """An abort whose reason is not a string answers 400 naming `reason`."""
    reply = http("POST", f"{copies.base_url}/api/copies/anything/abort", body=b'{"reason": 42}')
    assert reply.status == 400
    assert [f["field"] for f in reply.json()["error"]["fields"]] == ["reason"]
