"""Fixtures: a started Durable engine harness per test, always stopped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.durable_functions.models.utils.http_utils import _close_session
from durable_harness import Harness, running


@pytest.fixture
async def durable(tmp_path: Path) -> AsyncIterator[Harness]:
    """A started harness with a fresh database; always stopped, also when the test fails."""
    async with running(tmp_path / "durable.db") as harness:
        yield harness


@pytest.fixture
async def durable_threaded(tmp_path: Path) -> AsyncIterator[Harness]:
    """Like `durable`, with orchestrator episodes run in a worker thread."""
    async with running(tmp_path / "durable.db", orchestrator_in_thread=True) as harness:
        yield harness


@pytest.fixture(scope="session", autouse=True)
async def _close_sdk_http_session() -> AsyncIterator[None]:
    """The client SDK keeps one module-level aiohttp session: close it when the tests end."""
    yield
    await _close_session()


@pytest.fixture
def key() -> str:
    """A unique key so module-level gates and counters never collide between tests."""
    return uuid.uuid4().hex
