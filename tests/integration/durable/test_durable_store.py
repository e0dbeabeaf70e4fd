"""The SQLite store under pressure: a locked database delays the engine but never stops it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import azure.durable_functions as df
import pytest
from durable_apps import GATES
from durable_harness import Harness

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus


async def test_a_locked_database_delays_the_dispatcher_without_stopping_it(
    durable: Harness, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A round whose commit meets a database locked by another process is retried once the
    lock is gone, and both the running and a newly started instance complete."""
    caplog.set_level(logging.WARNING, logger="devhost.durable")
    running = await durable.client.start_new("timer_then_gate", client_input=key)
    await GATES.entered_wait(key)
    other = sqlite3.connect(durable.db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # e.g. a database browser holding a write transaction
        GATES.open(key)  # the activity completes; the next round's commit meets the lock
        for _ in range(200):
            if "durable store busy" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "durable store busy" in caplog.text, "the commit never met the lock"
    finally:
        other.execute("ROLLBACK")
        other.close()
    started_after = await durable.client.start_new("one", client_input=3)
    assert (await durable.finished(running)).runtime_status == Status.Completed
    assert (await durable.finished(started_after)).runtime_status == Status.Completed
