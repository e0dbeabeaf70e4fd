"""The copy engine's pure parts, no Azurite: signing, rates, fault rules, listing."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from devhost.storage import sharedkey
from devhost.storage.cli import parse_rate
from devhost.storage.copystate import CopyRecord
from devhost.storage.faults import FaultInjector
from devhost.storage.listing import merge_copy_properties
from devhost.storage.stack import DEV_ACCOUNT_KEY


def test_shared_key_signature_round_trips_and_detects_tampering() -> None:
    """What the engine signs, it verifies; a changed header breaks the signature."""
    headers = {"x-ms-date": "Thu, 26 Nov 2026 15:00:00 GMT", "x-ms-version": "2026-10-06"}
    auth = sharedkey.authorization(
        "PUT", "/devstoreaccount1/c/b", "comp=block&blockid=AA%3D%3D", headers, "devstoreaccount1",
        DEV_ACCOUNT_KEY,
    )  # fmt: skip
    args = ("PUT", "/devstoreaccount1/c/b", "comp=block&blockid=AA%3D%3D")
    assert sharedkey.verify(*args, headers.items(), auth, DEV_ACCOUNT_KEY)
    tampered = {**headers, "x-ms-version": "2020-01-01"}
    assert not sharedkey.verify(*args, tampered.items(), auth, DEV_ACCOUNT_KEY)
    assert not sharedkey.verify(*args, headers.items(), "Bearer x", DEV_ACCOUNT_KEY)


def test_copy_record_headers_follow_the_rest_docs() -> None:
    """Pending copies show progress but no completion time; finished ones show both."""
    record = CopyRecord(
        account="a", container="c", blob="b", copy_id="id", source="s", total=10, copied=4
    )
    assert record.headers()["x-ms-copy-progress"] == "4/10"
    assert "x-ms-copy-completion-time" not in record.headers()
    record.finish("failed", '500 InternalError "boom"')
    assert record.headers()["x-ms-copy-status"] == "failed"
    assert record.headers()["x-ms-copy-status-description"] == '500 InternalError "boom"'
    assert record.headers()["x-ms-copy-completion-time"].endswith("GMT")


@pytest.mark.parametrize(
    ("text", "rate"),
    [("64MiB", 64 * 2**20), ("10M", 10e6), ("500000", 5e5), ("1.5GiB/s", 1.5 * 2**30),
     ("unlimited", None), ("0", None)],
)  # fmt: skip
def test_parse_rate_reads_sizes_and_unlimited(text: str, rate: float | None) -> None:
    """The CLI's --copy-rate accepts sizes with units, and 0/unlimited for no limit."""
    assert parse_rate(text) == rate


def test_parse_rate_rejects_nonsense() -> None:
    """A rate that is not a size is a usage error."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_rate("fast")


def test_fault_rules_match_and_expire() -> None:
    """A rule fires only on matching requests, `times` times, then disappears."""
    faults = FaultInjector()
    faults.fail(status=503, code="ServerBusy", method="PUT", path=r"/b\.bin$", times=2)
    assert faults.take("request", "GET", "/a/c/b.bin", "") is None
    assert faults.take("request", "PUT", "/a/c/x.bin", "") is None
    first = faults.take("request", "PUT", "/a/c/b.bin", "")
    assert first is not None and (first.status, first.code) == (503, "ServerBusy")
    assert faults.take("request", "PUT", "/a/c/b.bin", "") is not None
    assert faults.take("request", "PUT", "/a/c/b.bin", "") is None
    with pytest.raises(ValueError):
        faults.fail(status=500, code="X", target="nowhere")  # type: ignore[arg-type]


def test_copy_gate_holds_until_chunks_are_allowed() -> None:
    """A held gate lets exactly the allowed number of chunks through."""
    faults = FaultInjector()
    faults.hold_copies()

    async def scenario() -> list[bool]:
        waiter = asyncio.create_task(faults.copy_gate("/a/c/b"))
        await asyncio.sleep(0.02)
        held = not waiter.done()
        faults.allow_chunks(1)
        await asyncio.wait_for(waiter, 5)
        second = asyncio.create_task(faults.copy_gate("/a/c/b"))
        await asyncio.sleep(0.02)
        still_held = not second.done()
        faults.release_copies()
        await asyncio.wait_for(second, 5)
        return [held, still_held]

    assert asyncio.run(scenario()) == [True, True]


def test_listing_merge_replaces_copy_elements() -> None:
    """List Blobs gets the record's Copy* elements, replacing any Azurite wrote."""
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>'
        b"<Blob><Name>b</Name><Properties><CopyId>old</CopyId></Properties></Blob>"
        b"<Blob><Name>other</Name><Properties/></Blob>"
        b"</Blobs></EnumerationResults>"
    )
    record = CopyRecord(account="a", container="c", blob="b", copy_id="new", source="s", total=1)
    merged = merge_copy_properties(body, {"b": record}).decode()
    assert "<CopyId>new</CopyId>" in merged and "old" not in merged
    assert "<CopyProgress>0/1</CopyProgress>" in merged
    assert merged.count("<CopyId>") == 1
