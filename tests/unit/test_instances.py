"""Paging Durable instances: upstream tokens, the API's own cursor, and collecting pages."""

from __future__ import annotations

from typing import Any

import pytest

from shared import instances
from shared.instances import Cursor, InstancePage, InvalidContinuation, collect, upstream_token


class Rows:
    """A management API over `count` rows (ints), paging at `top` with offset tokens."""

    def __init__(self, count: int, *, stuck_token: str | None = None) -> None:
        self.rows = list(range(count))
        self.stuck_token = stuck_token
        self.calls: list[str | None] = []

    async def page(self, top: int, continuation: str | None) -> InstancePage:
        self.calls.append(continuation)
        if self.stuck_token is not None:  # a server that answers the same page and token
            return InstancePage(self.rows[:top], upstream_token(self.stuck_token, continuation))
        start = int(continuation or 0)
        rows = self.rows[start : start + top]
        more = start + len(rows) < len(self.rows)
        return InstancePage(rows, str(start + len(rows)) if more else None)


def keep(row: Any) -> dict[str, Any] | None:
    return {"n": row}


def test_no_more_is_said_in_several_ways() -> None:
    """An absent, empty or base64 "null" token, or the token just sent, means no next page
    (the extension once answered "bnVsbA==" forever: azure-functions-durable-extension #1174)."""
    for token in (None, "", "bnVsbA==", "same"):
        assert upstream_token(token, "same") is None
    assert upstream_token("next", "same") == "next"


def test_a_cursor_survives_its_own_encoding() -> None:
    """encode/decode round-trip, and the token is URL-safe."""
    for cursor in (Cursor(), Cursor("a+b/c==", 7)):
        token = cursor.encode()
        assert Cursor.decode(token) == cursor and token.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("token", ["", "!!", "bnVsbA", "eyJ1IjogMSwgInMiOiAwfQ", "eyJzIjogLTF9"])
def test_tokens_this_api_never_gave_are_invalid(token: str) -> None:
    """Garbage, JSON of another shape, a non-text upstream or a negative skip are refused."""
    with pytest.raises(InvalidContinuation):
        Cursor.decode(token)


async def test_collect_resumes_mid_page_without_loss_or_repeat() -> None:
    """Pages of 30 over 250 rows paged upstream at 100: every row once, in order."""
    pages, seen = Rows(250), []
    cursor: Cursor | None = Cursor()
    while cursor is not None:
        docs, cursor = await collect(pages, keep, 30, cursor)
        seen += [d["n"] for d in docs]
    assert seen == list(range(250))


async def test_collect_stops_on_a_token_that_does_not_move() -> None:
    """A server that keeps answering its first page and the same token ends the listing (at
    the first repeat) instead of sending callers round forever."""
    pages = Rows(120, stuck_token="t")
    _, cursor = await collect(pages, keep, 1000, Cursor())
    assert cursor is None and pages.calls == [None, "t"]


async def test_collect_reads_a_bounded_number_of_pages_per_request() -> None:
    """A filter that matches nothing reads at most MAX_PAGES_PER_REQUEST pages, then answers
    an empty page and a continuation, so one request never scans the whole task hub."""
    pages = Rows(instances.PAGE_SIZE * (instances.MAX_PAGES_PER_REQUEST + 5))
    docs, cursor = await collect(pages, lambda row: None, 10, Cursor())
    assert docs == [] and cursor is not None
    assert len(pages.calls) == instances.MAX_PAGES_PER_REQUEST
