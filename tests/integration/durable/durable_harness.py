"""The Durable engine test harness: an engine on a free loopback port plus the SDK's real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

import azure.durable_functions as df
from aiohttp import web
from durable_apps import ACTIVITIES, ORCHESTRATORS

from devhost.durable import DurableEngine
from devhost.durable.api import DurableApi
from devhost.settings import DurableSettings

Status: TypeAlias = df.OrchestrationRuntimeStatus


class Harness:
    """One engine + aiohttp server; `restart()` replaces both, keeping the database."""

    def __init__(
        self,
        db_path: Path,
        *,
        orchestrator_in_thread: bool = False,
        settings: DurableSettings | None = None,
    ) -> None:
        self.db_path = db_path
        self.orchestrator_in_thread = orchestrator_in_thread
        self.settings = settings
        self.engine: DurableEngine | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.client: df.DurableOrchestrationClient

    async def start(self) -> None:
        """Start an engine and serve it on 127.0.0.1 with a port the OS picks."""
        engine = DurableEngine(
            db_path=self.db_path,
            orchestrators=ORCHESTRATORS,
            activities=ACTIVITIES,
            max_concurrent_activities=16,
            orchestrator_in_thread=self.orchestrator_in_thread,
            settings=self.settings,
        )
        await engine.start()
        self.engine = engine
        app = web.Application()
        DurableApi(engine).add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.client = df.DurableOrchestrationClient(engine.client_binding_json(self.base_url))

    async def stop(self) -> None:
        """Stop the server and the engine (safe to call twice)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    async def restart(self) -> None:
        """Stop everything and start a new engine on the same database."""
        await self.stop()
        await self.start()

    async def finished(
        self, instance_id: str, timeout: float = 20
    ) -> df.DurableOrchestrationStatus:
        """Wait for an instance to finish, then read its status through the client."""
        assert self.engine is not None
        await self.engine.wait_for_instance(instance_id, timeout)
        return await self.client.get_status(instance_id, show_input=True)


async def until_status(harness: Harness, instance_id: str, wanted: Status) -> None:
    """Poll the client until the instance reports `wanted` (bounded by the test timeout)."""
    while (await harness.client.get_status(instance_id)).runtime_status is not wanted:
        await asyncio.sleep(0.005)


async def completion_queued(harness: Harness, instance_id: str) -> None:
    """Wait until an activity result sits in the (suspended) instance's inbox."""
    await event_queued(harness, instance_id, 5)


async def event_queued(harness: Harness, instance_id: str, event_type: int) -> None:
    """Wait until a history event of `event_type` sits in the (suspended) instance's inbox."""
    assert harness.engine is not None
    inboxes = harness.engine.dispatcher.inboxes
    while not any(
        m.event and m.event["EventType"] == event_type for m in inboxes.get(instance_id, [])
    ):
        await asyncio.sleep(0.005)


async def until_waiting(harness: Harness, instance_id: str, input_start: str) -> None:
    """Wait until the execution whose input starts with `input_start` has ended an episode."""
    assert harness.engine is not None
    while True:
        history = harness.engine.history(instance_id)
        inputs = [e.get("Input") or "" for e in history if e["EventType"] == 0]
        if inputs and inputs[0].startswith(input_start) and history[-1]["EventType"] == 13:
            return
        await asyncio.sleep(0.005)


async def held(harness: Harness, instance_id: str) -> None:
    """Suspend an instance and wait until it is, so messages gather in its inbox."""
    await harness.client.suspend(instance_id, "gather a batch")
    await until_status(harness, instance_id, Status.Suspended)


def episodes(history: list[dict[str, Any]]) -> list[list[int]]:
    """Event types of each episode (OrchestratorStarted to the next one), bookkeeping left out."""
    found: list[list[int]] = []
    for item in history:
        if item["EventType"] == 12:
            found.append([])
        elif found and item["EventType"] != 13:
            found[-1].append(item["EventType"])
    return found


@asynccontextmanager
async def running(db_path: Path, **options: Any) -> AsyncIterator[Harness]:
    """A started harness; always stopped, also when the test fails."""
    harness = Harness(db_path, **options)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
