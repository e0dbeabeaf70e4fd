"""Instance queries page as the extension's do (HttpApiHandler.HandleGetStatusRequestAsync).

OrchestrationStatusQueryCondition.PageSize defaults to 100, `top` overrides it, and the next
page's token comes back in x-ms-continuation-token (empty on the last page).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from durable_harness import Harness

pytestmark = pytest.mark.integration
TOKEN = "x-ms-continuation-token"


async def start_many(durable: Harness, count: int) -> set[str]:
    """Start `count` instances that wait for an event (they stay Running)."""
    ids = [f"many-{n:03d}" for n in range(count)]
    await asyncio.gather(*(durable.client.start_new("waiting", instance_id=i) for i in ids))
    return set(ids)


async def all_pages(durable: Harness, query: str = "") -> list[list[str]]:
    """Instance ids page by page, following the continuation token as a caller must."""
    url = f"{durable.base_url}/runtime/webhooks/durabletask/instances/{query}"
    pages: list[list[str]] = []
    headers: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url, headers=headers) as response:
                assert response.status == 200
                pages.append([s["instanceId"] for s in await response.json()])
                token = response.headers[TOKEN]
            if not token:
                return pages
            headers = {TOKEN: token}


async def test_get_status_all_sees_only_the_first_100(durable: Harness) -> None:
    """The SDK's get_status_all sends no `top` and ignores the token: 150 instances, 100 seen."""
    await start_many(durable, 150)
    assert len(await durable.client.get_status_all()) == 100


async def test_following_the_token_reaches_every_instance(durable: Harness) -> None:
    """Pages of 100 then 50; the last page's token is empty."""
    ids = await start_many(durable, 150)
    pages = await all_pages(durable)
    assert [len(page) for page in pages] == [100, 50]
    assert {i for page in pages for i in page} == ids


async def test_top_sets_the_page_size(durable: Harness) -> None:
    """?top=40 pages 110 instances as 40, 40, 30."""
    ids = await start_many(durable, 110)
    pages = await all_pages(durable, "?top=40")
    assert [len(page) for page in pages] == [40, 40, 30]
    assert {i for page in pages for i in page} == ids


async def test_a_foreign_token_is_refused(durable: Harness) -> None:
    """A token this engine did not give out answers 400, not a silent first page."""
    url = f"{durable.base_url}/runtime/webhooks/durabletask/instances/"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={TOKEN: "not-a-token"}) as response,
    ):
        assert response.status == 400
