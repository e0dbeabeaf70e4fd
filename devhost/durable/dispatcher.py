"""The dispatch loop: wakes when an inbox gets a message, runs episodes, commits, starts work.

Event-driven, no polling: posting a message marks its instance ready and sets one event. Each round
runs the episodes of every ready instance (one at a time per instance), commits them in one SQLite
transaction, then performs their side effects (activities, timers, children, parent notices).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Mapping
from datetime import datetime

from devhost.durable import carryover as co
from devhost.durable import episode as ep
from devhost.durable import inbox as ib
from devhost.durable import protocol as p
from devhost.durable.activities import ActivityPool
from devhost.durable.lifecycle import Effect, Lifecycle
from devhost.durable.protocol import ActivityRunner, OrchestratorRunner
from devhost.durable.state import Instance, Message, MessageKind, RuntimeStatus
from devhost.durable.store import Store, WriteBatch
from devhost.durable.timers import TimerHeap, TimerKey
from devhost.lifetime import cancel_and_wait
from devhost.settings import DurableSettings

ROUND_SIZE = 64
COMMIT_RETRY_FIRST_S = 0.05
COMMIT_RETRY_MAX_S = 2.0

log = logging.getLogger("devhost.durable")


class Dispatcher:
    """Owns the in-memory instances and their inboxes; the only writer of episode results."""

    def __init__(
        self,
        *,
        store: Store,
        orchestrators: Mapping[str, OrchestratorRunner],
        activities: Mapping[str, ActivityRunner],
        max_concurrent_activities: int,
        orchestrator_in_thread: bool,
        settings: DurableSettings,
    ) -> None:
        self.store = store
        self.instances: dict[str, Instance] = {}
        self.inboxes: dict[str, deque[Message]] = {}
        self._orchestrators = orchestrators
        self._in_thread = orchestrator_in_thread
        self._registry = ep.Registry(frozenset(orchestrators), frozenset(activities))
        self._ready: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.settings = settings
        self.timers = TimerHeap(self._timer_fired, settings.timer_delay.sample)
        self.pool = ActivityPool(activities, max_concurrent_activities, self._activity_done)
        self.life = Lifecycle(self)

    def start(self) -> None:
        """Start the loop and the timer sleeper."""
        self.timers.start()
        self._task = asyncio.create_task(self._run(), name="durable-dispatcher")

    async def stop(self) -> None:
        """Stop dispatching; work in flight is abandoned and resumes from the store later."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        await self.pool.stop()
        await self.timers.stop()
        self.life.cancel_waiters()

    def post(self, instance_id: str, message: Message) -> None:
        """Deliver a message to an instance's inbox and wake the loop."""
        if instance_id not in self.instances:
            return
        self.inboxes.setdefault(instance_id, deque()).append(message)
        self._ready[instance_id] = None
        self._wake.set()

    def adopt(self, inst: Instance, messages: list[Message]) -> None:
        """Take an unfinished instance in hand: re-arm its timers and re-run its open activities."""
        self.instances[inst.instance_id] = inst
        self.inboxes[inst.instance_id] = deque(messages)
        state = inst.execution
        for timer_id, fire_text in state.timers.items():
            key = (inst.instance_id, state.execution_id, timer_id)
            self.timers.arm(key, p.parse_timestamp(fire_text))
        for task_id, activity in state.activities.items():
            self.pool.submit(
                inst.instance_id, state.execution_id, task_id, activity.name, activity.input
            )
        if messages:
            self._ready[inst.instance_id] = None
            self._wake.set()

    def _timer_fired(self, key: TimerKey) -> None:
        instance_id, execution_id, timer_id = key
        inst = self.instances.get(instance_id)
        fire_text = inst.execution.timers.get(timer_id) if inst else None
        if fire_text is None:
            return
        stamp = p.format_timestamp(p.utc_now())
        event = p.event(p.EventType.TIMER_FIRED, stamp, TimerId=timer_id, FireAt=fire_text)
        self.post(instance_id, Message(MessageKind.HISTORY, event, execution_id))

    def _activity_done(self, instance_id: str, execution_id: str, event: p.JsonDict) -> None:
        self.post(instance_id, Message(MessageKind.HISTORY, event, execution_id))

    async def _run(self) -> None:
        try:
            await self._dispatch_forever()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.critical("the durable dispatcher stopped", exc_info=True)
            raise

    async def _dispatch_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._ready:
                await self._round()
                await asyncio.sleep(0)  # let HTTP handlers and activities run between rounds

    async def _round(self) -> None:
        ids = list(self._ready)[:ROUND_SIZE]
        for instance_id in ids:
            del self._ready[instance_id]
        batch = self.store.batch()
        effects: list[Effect] = []
        for instance_id in ids:
            await self._process_safely(instance_id, batch, effects)
        await self._commit(batch)
        for effect in effects:
            effect()

    async def _commit(self, batch: WriteBatch) -> None:
        """Commit a round, waiting out a locked database rather than giving up.

        The round's instances already moved on in memory; a round that is never written
        would leave memory and disk apart, and a dead dispatcher would stall every instance.
        """
        delay = COMMIT_RETRY_FIRST_S
        while True:
            try:
                self.store.commit(batch)
                return
            except sqlite3.OperationalError as exc:
                log.warning("durable store busy (%s); retrying the commit in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, COMMIT_RETRY_MAX_S)

    async def _process_safely(
        self, instance_id: str, batch: WriteBatch, effects: list[Effect]
    ) -> None:
        """A bug met while handling one instance must not stop every other instance."""
        marks = (len(batch.statements), len(effects), set(batch.starting))
        try:
            await self._process(instance_id, batch, effects)
        except Exception as exc:
            del batch.statements[marks[0] :]
            del effects[marks[1] :]
            batch.starting = marks[2]
            log.exception("devhost internal error while running instance %s", instance_id)
            inst = self.instances.get(instance_id)
            if inst is not None and not inst.status.is_terminal:
                error = f"devhost internal error: {type(exc).__name__}: {exc}"
                self.life.fail(inst, ep.failure_output(inst.name, error), batch, effects)

    async def _process(self, instance_id: str, batch: WriteBatch, effects: list[Effect]) -> None:
        inst = self.instances.get(instance_id)
        inbox = self.inboxes.get(instance_id)
        if inst is None or inbox is None:
            return
        for control in ib.take_controls(inbox):
            self.life.apply_control(inst, control, batch, effects)
            if inst.status.is_terminal:
                return
        if inst.status is RuntimeStatus.SUSPENDED:
            return
        messages, stale = ib.take_batch(inbox, inst)
        batch.delete_messages(m.row_id for m in stale if m.row_id is not None)
        if not messages:
            return
        await self._episode(inst, messages, batch, effects)
        if inst.instance_id in self.instances and ib.has_deliverable(inbox):
            effects.append(lambda: self.mark_ready(instance_id))

    def mark_ready(self, instance_id: str) -> None:
        """Queue an instance for the next round."""
        self._ready[instance_id] = None
        self._wake.set()

    async def _episode(
        self, inst: Instance, messages: list[Message], batch: WriteBatch, effects: list[Effect]
    ) -> None:
        now = p.utc_now()
        events = [m.event for m in messages if m.event is not None]
        context, new_events = ep.begin(inst, events, now, self.settings)
        reply = await self._call_orchestrator(inst, context)
        result = ep.finish(inst, new_events, reply, self._registry, now)
        if result.outcome is ep.Outcome.CONTINUED_AS_NEW:
            result.carried = await co.carried_over(
                events, lambda prefix: self._continues_as_new_with(inst, prefix, now)
            )
        batch.delete_messages(m.row_id for m in messages if m.row_id is not None)
        self.life.apply_episode(inst, result, batch, effects)

    async def _continues_as_new_with(
        self, inst: Instance, prefix: list[p.JsonDict], now: datetime
    ) -> bool:
        """Whether the orchestrator already continues as new when given only `prefix`."""
        context = ep.replay_context(inst, prefix, now, self.settings)
        reply = await self._call_orchestrator(inst, context)
        return reply.continue_as_new is not None

    async def _call_orchestrator(self, inst: Instance, context: str) -> p.Reply:
        runner = self._orchestrators.get(inst.name)
        if runner is None:
            message = f"The function '{inst.name}' doesn't exist, is disabled, or is not an "
            return p.Reply(is_done=False, error=message + "orchestrator function.")
        try:
            if self._in_thread:
                state_text = await asyncio.to_thread(runner, context)
            else:
                state_text = runner(context)
            return p.parse_reply(state_text)
        except p.ProtocolError as exc:
            return p.Reply(is_done=False, error=str(exc))
        except Exception as exc:
            try:
                return p.parse_failure(exc)
            except p.ProtocolError as bad:
                return p.Reply(is_done=False, error=str(bad))
