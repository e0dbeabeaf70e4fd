"""shared/instances.py against devhost's Durable management API through the SDK's session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from durable_harness import Harness

from shared.instances import Cursor, InstancePage, ManagementApiPages, collect

pytestmark = pytest.mark.integration


class Counting:
    """ManagementApiPages, counting the pages read and the tokens they answered."""

    def __init__(self, pages: ManagementApiPages) -> None:
        self.pages = pages
        self.tokens: list[str | None] = []

    async def page(self, top: int, continuation: str | None) -> InstancePage:
        page = await self.pages.page(top, continuation)
        self.tokens.append(page.continuation)
        return page


async def test_more_than_a_hundred_instances_come_back_page_by_page(durable: Harness) -> None:
    """130 instances come back once each, in upstream pages of 100 (`top`, and the
    x-ms-continuation-token header each way, as HttpApiHandler pages), with input shown."""
    started = await asyncio.gather(
        *(durable.client.start_new("one", client_input=n) for n in range(130))
    )
    pages = Counting(ManagementApiPages(durable.client))

    def select(found: Any) -> dict[str, Any]:
        return {"id": found.instance_id, "input": found.input_}

    seen: list[dict[str, Any]] = []
    cursor: Cursor | None = Cursor()
    while cursor is not None:
        docs, cursor = await collect(pages, select, 45, cursor)
        seen += docs
    assert sorted(d["id"] for d in seen) == sorted(started)
    assert any(pages.tokens) and pages.tokens[-1] is None  # it did page, and it ended
    assert all(d["input"] is not None for d in seen)
