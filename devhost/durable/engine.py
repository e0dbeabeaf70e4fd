"""DurableEngine: the Durable extension of devhost, as the function host sees it.

The host gives it orchestrator and activity runners (the SDK bindings, wrapped) and serves its HTTP
API (devhost/durable/api.py, which drives the engine and is unknown to it); the engine persists
everything in SQLite and resumes unfinished instances on start.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from devhost.durable import protocol as p
from devhost.durable.dispatcher import Dispatcher
from devhost.durable.lifecycle import Effect, new_instance
from devhost.durable.protocol import ActivityRunner, DurableError, OrchestratorRunner
from devhost.durable.state import Instance, Message, MessageKind, RuntimeStatus
from devhost.durable.store import Query, StatusRow, Store
from devhost.settings import DurableSettings

__all__ = ["ActivityRunner", "DurableEngine", "DurableError", "OrchestratorRunner"]

BAD_ID = re.compile(r"[/\\#?\x00-\x1f\x7f]")


class DurableEngine:
    """Runs orchestrations through the SDK's out-of-proc protocol, persisted in SQLite."""

    def __init__(
        self,
        *,
        db_path: Path,
        task_hub: str = "DevHub",
        orchestrators: Mapping[str, OrchestratorRunner],
        activities: Mapping[str, ActivityRunner],
        max_concurrent_activities: int = 32,
        orchestrator_in_thread: bool = False,
        settings: DurableSettings | None = None,
    ) -> None:
        self.task_hub = task_hub
        self.settings = settings or DurableSettings()
        self.store = Store(db_path)
        self._orchestrators = orchestrators
        self._activities = activities
        self._limit = max_concurrent_activities
        self._in_thread = orchestrator_in_thread
        self._dispatcher: Dispatcher | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        """The running dispatcher."""
        if self._dispatcher is None:
            raise RuntimeError("DurableEngine.start() has not been awaited")
        return self._dispatcher

    async def start(self) -> None:
        """Open the store and resume every unfinished instance."""
        self.store.open()
        self._dispatcher = Dispatcher(
            store=self.store,
            orchestrators=self._orchestrators,
            activities=self._activities,
            max_concurrent_activities=self._limit,
            orchestrator_in_thread=self._in_thread,
            settings=self.settings,
        )
        for inst, messages in self.store.load_active():
            self._dispatcher.adopt(inst, messages)
        self._dispatcher.start()

    async def stop(self) -> None:
        """Stop dispatching and close the store; unfinished work resumes at the next start."""
        if self._dispatcher is not None:
            await self._dispatcher.stop()
            self._dispatcher = None
        self.store.close()

    def client_binding_json(self, base_url: str) -> str:
        """The JSON a durableClient binding receives (protocol §8)."""
        return p.client_binding_json(base_url, self.task_hub)

    async def wait_for_instance(
        self, instance_id: str, timeout: float | None = None
    ) -> RuntimeStatus | None:
        """Wait until an instance finishes (tests, host); its status, None if unknown."""
        return await self.dispatcher.life.wait(instance_id, timeout)

    def start_new(
        self, name: str, instance_id: str | None, input_text: str | None, version: str = ""
    ) -> str:
        """Create an instance; refuse an unknown orchestrator, a bad id, or an id still running."""
        if name not in self._orchestrators:
            raise DurableError(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function.",
            )
        instance_id = instance_id or uuid.uuid4().hex
        if not instance_id or len(instance_id) > 256 or BAD_ID.search(instance_id):
            raise DurableError(400, f"Instance id '{instance_id}' is not valid.")
        existing = self.store.status(instance_id)
        if existing is not None and not existing.status.is_terminal:
            raise DurableError(
                409, f"An Orchestration instance with the status {existing.status} already exists."
            )
        self._commit_start(new_instance(name, instance_id, input_text, version=version))
        return instance_id

    def _commit_start(self, inst: Instance) -> None:
        batch = self.store.batch()
        effects: list[Effect] = []
        self.dispatcher.life.register_start(inst, batch, effects)
        self.store.commit(batch)
        for effect in effects:
            effect()

    def status(self, instance_id: str) -> StatusRow | None:
        """An instance's status row."""
        return self.store.status(instance_id)

    def history(self, instance_id: str) -> list[p.JsonDict]:
        """The current execution's history events."""
        return self.store.history(instance_id)

    def query(self, query: Query) -> list[StatusRow]:
        """Instances matching filters."""
        return self.store.query(query)

    def raise_event(self, instance_id: str, event_name: str, value: object) -> None:
        """Deliver an external event; `value` is the decoded request body (protocol §8)."""
        self._require_running(instance_id)
        stamp = p.format_timestamp(p.utc_now())
        event = p.event(p.EventType.EVENT_RAISED, stamp, Name=event_name, Input=json.dumps(value))
        self._send(instance_id, Message(MessageKind.HISTORY, event))

    def control(self, instance_id: str, kind: MessageKind, reason: str) -> None:
        """Terminate, suspend or resume an instance (applied by the dispatcher, like Azure)."""
        self._require_running(instance_id)
        self._send(instance_id, Message(kind, reason=reason))

    def purge(self, instance_ids: list[str]) -> int:
        """Delete finished instances; running ones must be terminated first."""
        active = self.dispatcher.instances
        for instance_id in instance_ids:
            row = self.store.status(instance_id)
            if instance_id in active or (row is not None and not row.status.is_terminal):
                raise DurableError(
                    412,
                    "Only orchestrations in a terminal state can be purged, but the "
                    f"orchestration with instance ID {instance_id} is still running.",
                )
        return self.store.purge(instance_ids)

    def restart(self, instance_id: str, new_instance_id: bool) -> str:
        """Start the orchestration again with its original input."""
        row = self._existing(instance_id)
        target = None if new_instance_id else instance_id
        return self.start_new(row.name, target, row.input_text)

    def _existing(self, instance_id: str) -> StatusRow:
        row = self.store.status(instance_id)
        if row is None:
            raise DurableError(404, f"No instance with ID '{instance_id}' found.")
        return row

    def _require_running(self, instance_id: str) -> None:
        row = self._existing(instance_id)
        if row.status.is_terminal or instance_id not in self.dispatcher.instances:
            raise DurableError(410, f"Instance with ID {instance_id} is gone: it has finished.")

    def _send(self, instance_id: str, message: Message) -> None:
        batch = self.store.batch()
        batch.add_message(instance_id, message)
        self.store.commit(batch)
        self.dispatcher.post(instance_id, message)
