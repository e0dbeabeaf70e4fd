"""The ordering rules of replica copies (shared/replicaops.py) and the `replica` field."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from azure.storage.blob import BlobProperties

from shared.errors import RequestRejected
from shared.replicaops import (
    STAMP,
    held_version,
    holds_the_source_or_newer,
    not_older,
    same_etag,
    stamp_of,
)
from shared.requests import parse_copy_request
from shared.settings import settings_from_env

SRC = "http://127.0.0.1:10000/devstoreaccount2/src/a.bin"
DST = "http://127.0.0.1:10000/devstoreaccount1/dst/a.bin"
ENV = {"BLOBCOPY_ACCOUNTS": "devstoreaccount1,devstoreaccount2"} | {
    f"BLOBCOPY_ACCOUNT_DEVSTOREACCOUNT{n}_CONNECTION_STRING": (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount{n};AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount{n};"
    )
    for n in (1, 2)
}


def props(copy_status: str | None = None, **metadata: str) -> BlobProperties:
    made = BlobProperties()
    made.copy.status = copy_status
    made.metadata = metadata
    return made


def test_sequencers_of_one_length_compare_as_text_and_of_two_lengths_order_nothing() -> None:
    assert not_older("0000000000000443", "0000000000000442")
    assert not_older("0000000000000442", "0000000000000442")
    assert not not_older("0000000000000441", "0000000000000442")
    assert not not_older("F" * 64, "0" * 32)  # an odd event never blocks a real one
    assert not not_older("0" * 32, "F" * 64)


KEY, OTHER = "a" * 16, "b" * 16


@pytest.mark.parametrize(
    ("given", "held"),
    [
        (None, None),
        (props(), None),  # written by someone else: no stamp
        (props("success", **{STAMP: stamp_of(KEY, "0A")}), "0A"),
        (props(None, **{STAMP: stamp_of(KEY, "0A")}), "0A"),  # synchronous: no copy status
        (props("pending", **{STAMP: stamp_of(KEY, "0A")}), "0A"),
        (props("failed", **{STAMP: stamp_of(KEY, "0A")}), None),  # holds no write whole
        (props("aborted", **{STAMP: stamp_of(KEY, "0A")}), None),
        (props("success", **{STAMP: stamp_of(OTHER, "0A")}), None),  # another source's
        (props("success", **{STAMP: "0A"}), None),  # no source named
    ],
)
def test_the_held_version_is_the_stamp_of_a_whole_write_of_this_source(
    given: BlobProperties | None, held: str | None
) -> None:
    assert held_version(given, KEY) == held


def test_etags_compare_with_or_without_quotes_and_never_empty() -> None:
    assert same_etag('"0x8D4BCC2E4835CD0"', "0x8D4BCC2E4835CD0")
    assert not same_etag('"0x1"', '"0x2"')
    assert not same_etag(None, None) and not same_etag("", "")


def parse(**replica: Any) -> Any:
    body = {"source": {"url": SRC}, "destination": {"url": DST}, "replica": replica}
    return parse_copy_request(body, settings_from_env(ENV))


def test_a_replica_block_is_accepted_and_changes_the_fingerprint() -> None:
    request = parse(version="00000000000004420000000000028963", source_etag='"0x8D4"')
    assert request.replica is not None and request.replica.source_etag == '"0x8D4"'
    plain = parse_copy_request(
        {"source": {"url": SRC}, "destination": {"url": DST}}, settings_from_env(ENV)
    )
    assert plain.fingerprint() != request.fingerprint()
    assert "replica" not in plain.model_dump(exclude={"replica"})


@pytest.mark.parametrize(
    ("replica", "field"),
    [
        ({}, "replica.version"),
        ({"version": ""}, "replica.version"),
        ({"version": "12-34"}, "replica.version"),
        ({"version": "12", "source_etag": "a\nb"}, "replica.source_etag"),
        ({"version": "12", "other": 1}, "replica.other"),
    ],
)
def test_a_bad_replica_block_is_a_400_naming_the_field(replica: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestRejected) as refused:
        parse(**replica)
    assert field in refused.value.fields


def test_a_replica_of_an_external_source_is_refused() -> None:
    body = {
        "source": {"url": "https://example.org/file.bin"},
        "destination": {"url": DST},
        "replica": {"version": "12"},
    }
    with pytest.raises(RequestRejected) as refused:
        parse_copy_request(body, settings_from_env(ENV))
    assert "configured account" in refused.value.fields["replica"]


SECOND = dt.datetime(2026, 12, 2, 13, 34, 56, tzinfo=dt.UTC)


def written(at: dt.datetime, content: bytes | None) -> BlobProperties:
    """A blob's properties as Get Blob Properties gives them: whole seconds, maybe an MD5."""
    made = BlobProperties()
    made.last_modified = at
    made.size = len(content or b"")
    made.content_settings.content_md5 = (
        bytearray(hashlib.md5(content).digest()) if content else None
    )
    return made


@pytest.mark.parametrize(
    ("destination", "source", "kept"),
    [
        (written(SECOND + dt.timedelta(seconds=1), b"old"), written(SECOND, b"new"), True),
        (written(SECOND - dt.timedelta(seconds=1), b"new"), written(SECOND, b"new"), False),
        # One second, two writes: the back-fill of the old bytes and the write that replaced
        # them. Last-Modified cannot order them; keeping the destination would lose "new".
        (written(SECOND, b"old"), written(SECOND, b"new"), False),
        (written(SECOND, b"new"), written(SECOND, b"new"), True),  # a copy of this very write
        (written(SECOND, None), written(SECOND, b"new"), False),  # no MD5 to tell: copy
    ],
)
def test_if_newer_keeps_a_destination_only_when_it_is_surely_not_older(
    destination: BlobProperties, source: BlobProperties, kept: bool
) -> None:
    assert holds_the_source_or_newer(destination, source) is kept
