"""Batch prefixes that would put a dot segment into the blob names a batch makes."""

from __future__ import annotations

import pytest

from shared.batchrequests import parse_batch_request
from shared.errors import RequestRejected

SRC = "http://127.0.0.1:10000/devstoreaccount2/src"
DST = "http://127.0.0.1:10000/devstoreaccount1/dst"


@pytest.mark.parametrize("side", ["source", "destination"])
@pytest.mark.parametrize("prefix", ["../", "../other/", "a/../b/", "%2e%2e/", "a//", "/a", "a/.."])
def test_a_prefix_with_a_dot_segment_is_a_400_on_it(side: str, prefix: str) -> None:
    """`destination.prefix: "../other/"` would write every blob into another container than
    the allowlist was checked for (the HTTP client resolves the dot segment): refused."""
    body = {"source": {"url": SRC}, "destination": {"url": DST, "prefix": "copy/"}}
    body[side] = {"url": body[side]["url"], "prefix": prefix}
    with pytest.raises(RequestRejected) as refused:
        parse_batch_request(body)
    assert f"{side}.prefix" in refused.value.fields


@pytest.mark.parametrize("prefix", ["", "logs/", "logs", "a.b/", "..x/", "logs/2026-12-", "a/.b"])
def test_an_ordinary_prefix_is_kept(prefix: str) -> None:
    """Prefixes with dots inside names, or a partial last name, are fine."""
    body = {"source": {"url": SRC, "prefix": prefix}, "destination": {"url": DST, "prefix": "q/"}}
    assert parse_batch_request(body).source.prefix == prefix
