"""What happens to an instance between episodes: start, run, finish, continue, control, notify.

Every change is written into the round's WriteBatch; anything that touches the outside (activities,
timers, other inboxes, waiters) is queued as an effect and runs only after the commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol

from devhost.durable import episode as ep
from devhost.durable import protocol as p
from devhost.durable.activities import ActivityPool
from devhost.durable.protocol import EventType, JsonDict
from devhost.durable.state import ExecutionState, Instance, Message, MessageKind, RuntimeStatus
from devhost.durable.store import Store, WriteBatch
from devhost.durable.timers import TimerHeap

Effect = Callable[[], None]
log = logging.getLogger("devhost.durable")


class Runtime(Protocol):
    """The part of the dispatcher that lifecycle effects act on (the dispatcher is one)."""

    store: Store
    instances: dict[str, Instance]
    inboxes: dict[str, deque[Message]]
    timers: TimerHeap
    pool: ActivityPool

    def adopt(self, inst: Instance, messages: list[Message]) -> None: ...
    def post(self, instance_id: str, message: Message) -> None: ...
    def mark_ready(self, instance_id: str) -> None: ...


def custom_status(state: ExecutionState, reported: object, *, first: bool) -> object:
    """The instance's custom status after an episode that reported `reported`.

    As DurableTask.Core's TaskOrchestrationDispatcher.OnProcessWorkItemAsync: the work item that
    continues as new runs the new execution's first episode at once and stores
    `runtimeState.Status ?? carryOverStatus`, the previous execution's last reported status (the
    one before it, not what that one carried); every later work item stores what the code
    reports, null included (AzureTableTrackingStore.UpdateStateAsync writes `Status ?? "null"`).
    """
    if first and reported is None:
        return state.carried_custom_status
    return reported


def new_instance(
    name: str,
    instance_id: str,
    input_text: str | None,
    parent: tuple[str, str, int] | None = None,
    version: str = "",
) -> Instance:
    """A Pending instance (parent = parent instance id, parent execution id, parent task id)."""
    now = p.format_timestamp(p.utc_now())
    inst = Instance(
        instance_id=instance_id,
        name=name,
        status=RuntimeStatus.PENDING,
        input_text=input_text,
        created=now,
        updated=now,
        execution=ExecutionState(execution_id=uuid.uuid4().hex, version=version),
    )
    if parent is not None:
        inst.parent_instance_id, inst.parent_execution_id, inst.parent_task_id = parent
    return inst


class Lifecycle:
    """State transitions of instances, applied by the dispatcher (and the engine for starts)."""

    def __init__(self, runtime: Runtime) -> None:
        self.d = runtime
        self._waiters: dict[str, list[asyncio.Future[RuntimeStatus]]] = {}

    def register_start(self, inst: Instance, batch: WriteBatch, effects: list[Effect]) -> None:
        """Write a new instance (replacing a finished one of that id), queue its first episode."""
        batch.starting.add(inst.instance_id)
        batch.clear_instance(inst.instance_id)
        batch.save_instance(inst)
        message = self._start_message(inst)
        batch.add_message(inst.instance_id, message)
        effects.append(lambda: self.d.adopt(inst, [message]))
        log.info("%s (Orchestrator) %s: Orchestration scheduled", inst.name, inst.instance_id)

    def _start_message(self, inst: Instance) -> Message:
        stamp = p.format_timestamp(p.utc_now())
        started = p.event(
            EventType.EXECUTION_STARTED,
            stamp,
            Name=inst.name,
            Version=inst.execution.version,
            Input=inst.input_text,
            ParentInstanceId=inst.parent_instance_id,
        )
        return Message(MessageKind.HISTORY, started, inst.execution.execution_id)

    def apply_episode(
        self, inst: Instance, result: ep.EpisodeResult, batch: WriteBatch, effects: list[Effect]
    ) -> None:
        """Record an episode's events and outcome."""
        first = not inst.history
        self._append_history(inst, result.new_events, batch)
        inst.custom_status = custom_status(inst.execution, result.custom_status, first=first)
        if inst.status is RuntimeStatus.PENDING:
            inst.status = RuntimeStatus.RUNNING
            log.info("%s (Orchestrator) %s: Orchestration started", inst.name, inst.instance_id)
        if result.outcome is ep.Outcome.CONTINUED_AS_NEW:
            self._continue_as_new(inst, result, batch, effects)
        elif result.outcome is ep.Outcome.COMPLETED:
            self._finish(inst, RuntimeStatus.COMPLETED, result.output, batch, effects)
        elif result.outcome is ep.Outcome.FAILED:
            self._finish(inst, RuntimeStatus.FAILED, result.output, batch, effects)
        else:
            self._start_work(inst, result.work, batch, effects)
            batch.save_instance(inst)

    def apply_control(
        self, inst: Instance, message: Message, batch: WriteBatch, effects: list[Effect]
    ) -> None:
        """Terminate, suspend or resume."""
        if message.row_id is not None:
            batch.delete_messages([message.row_id])
        if inst.status.is_terminal:
            return
        stamp = p.format_timestamp(p.utc_now())
        if message.kind is MessageKind.TERMINATE:
            event = p.event(EventType.EXECUTION_TERMINATED, stamp, Input=message.reason)
            self._append_history(inst, [event], batch)
            self._finish(inst, RuntimeStatus.TERMINATED, message.reason, batch, effects)
            return
        suspend = message.kind is MessageKind.SUSPEND
        if suspend == (inst.status is RuntimeStatus.SUSPENDED):
            return
        if inst.history:
            kind = EventType.EXECUTION_SUSPENDED if suspend else EventType.EXECUTION_RESUMED
            self._append_history(inst, [p.event(kind, stamp, Reason=message.reason)], batch)
            inst.status = RuntimeStatus.SUSPENDED if suspend else RuntimeStatus.RUNNING
        else:
            inst.status = RuntimeStatus.SUSPENDED if suspend else RuntimeStatus.PENDING
        inst.updated = stamp
        batch.save_instance(inst)
        verb = "suspended" if suspend else "resumed"
        log.info("%s (Orchestrator) %s: Orchestration %s", inst.name, inst.instance_id, verb)

    def fail(self, inst: Instance, output: str, batch: WriteBatch, effects: list[Effect]) -> None:
        """End an instance as Failed outside an episode (an engine error met while running it)."""
        self._finish(inst, RuntimeStatus.FAILED, output, batch, effects)

    async def wait(self, instance_id: str, timeout: float | None) -> RuntimeStatus | None:
        """The instance's status once it is finished, or its current status after `timeout`."""
        row = self.d.store.status(instance_id)
        if row is None or row.status.is_terminal:
            return None if row is None else row.status
        future: asyncio.Future[RuntimeStatus] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(instance_id, []).append(future)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            row = self.d.store.status(instance_id)
            return None if row is None else row.status
        finally:
            waiters = self._waiters.get(instance_id, [])
            if future in waiters:
                waiters.remove(future)

    def cancel_waiters(self) -> None:
        """Release waiters when the engine stops."""
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()

    def _append_history(self, inst: Instance, events: list[JsonDict], batch: WriteBatch) -> None:
        batch.append_history(inst.instance_id, len(inst.history), events)
        inst.history.extend(events)
        inst.played.extend(p.encode_event(e, played=True) for e in events)
        inst.updated = events[-1]["Timestamp"]

    def _start_work(
        self, inst: Instance, work: ep.Work, batch: WriteBatch, effects: list[Effect]
    ) -> None:
        iid, state = inst.instance_id, inst.execution
        xid = state.execution_id
        for child in work.children:
            self._start_child(inst, child, batch, effects)
        timers = self.d.timers
        pool = self.d.pool

        def run() -> None:
            for task_id, name, input_text in work.activities:
                pool.submit(iid, xid, task_id, name, input_text)
            for timer_id, fire_at in work.timers:
                timers.arm((iid, xid, timer_id), fire_at)

        effects.append(run)

    def _start_child(
        self, parent: Instance, child: ep.ChildStart, batch: WriteBatch, effects: list[Effect]
    ) -> None:
        if child.instance_id in self.d.instances or child.instance_id in batch.starting:
            reason = f"An orchestration with instance id '{child.instance_id}' is already running."
            stamp = p.format_timestamp(p.utc_now())
            failed = p.event(
                EventType.SUB_ORCHESTRATION_FAILED,
                stamp,
                TaskScheduledId=child.task_id,
                Reason=reason,
                Details="",
            )
            self._notify(parent.instance_id, parent.execution.execution_id, failed, batch, effects)
            return
        link = (parent.instance_id, parent.execution.execution_id, child.task_id)
        child_inst = new_instance(
            child.name, child.instance_id, child.input_text, link, child.version or ""
        )
        self.register_start(child_inst, batch, effects)

    def _continue_as_new(
        self, inst: Instance, result: ep.EpisodeResult, batch: WriteBatch, effects: list[Effect]
    ) -> None:
        """New execution, empty history, first episode = start + the carried events (carryover.py).

        Messages that arrived after this episode's batch was taken stay in the inbox: on Azure
        they are new queue messages, read by the new execution in its second episode (DTFx runs
        the first one in the same work item, with only the carried events; inbox.py), while
        completions of the old one are dropped as stale. Events of the batch that the SDK read
        are gone with the old history.
        """
        carried = result.carried
        inst.execution = ExecutionState(
            execution_id=uuid.uuid4().hex,
            version=inst.execution.version,
            carried_events=len(carried),
            carried_custom_status=result.custom_status,
        )
        inst.input_text = result.continue_input
        inst.history, inst.played = [], []
        batch.clear_instance(inst.instance_id, keep_messages=True)
        batch.save_instance(inst)
        first = [self._start_message(inst)]
        first += [Message(MessageKind.HISTORY, event) for event in carried]
        for message in first:
            batch.add_message(inst.instance_id, message)
        iid = inst.instance_id
        effects.append(lambda: self.d.timers.cancel_instance(iid))
        effects.append(lambda: self._requeue_first(iid, first))
        log.info("%s (Orchestrator) %s: Orchestration continued as new", inst.name, iid)

    def _requeue_first(self, instance_id: str, messages: list[Message]) -> None:
        self.d.inboxes.setdefault(instance_id, deque()).extendleft(reversed(messages))
        self.d.mark_ready(instance_id)

    def _finish(
        self,
        inst: Instance,
        status: RuntimeStatus,
        output: object,
        batch: WriteBatch,
        effects: list[Effect],
    ) -> None:
        inst.status, inst.output = status, output
        batch.save_instance(inst)
        batch.delete_inbox(inst.instance_id)
        if inst.parent_instance_id and inst.parent_execution_id is not None:
            self._notify_parent(inst, batch, effects)
        iid = inst.instance_id
        effects.append(lambda: self._forget(iid, status))
        level = logging.WARNING if status is RuntimeStatus.FAILED else logging.INFO
        detail = f": {output}" if status is not RuntimeStatus.COMPLETED else ""
        verb = status.value.lower()
        log.log(level, "%s (Orchestrator) %s: Orchestration %s%s", inst.name, iid, verb, detail)

    def _notify_parent(self, inst: Instance, batch: WriteBatch, effects: list[Effect]) -> None:
        stamp = p.format_timestamp(p.utc_now())
        task_id = inst.parent_task_id
        if inst.status is RuntimeStatus.COMPLETED:
            event = p.event(
                EventType.SUB_ORCHESTRATION_COMPLETED,
                stamp,
                TaskScheduledId=task_id,
                Result=json.dumps(inst.output),
            )
        else:
            reason = str(inst.output)
            if inst.status is RuntimeStatus.TERMINATED:
                reason = f"Sub-orchestration '{inst.instance_id}' was terminated: {reason}"
            event = p.event(
                EventType.SUB_ORCHESTRATION_FAILED,
                stamp,
                TaskScheduledId=task_id,
                Reason=reason,
                Details="",
            )
        assert inst.parent_instance_id is not None and inst.parent_execution_id is not None
        self._notify(inst.parent_instance_id, inst.parent_execution_id, event, batch, effects)

    def _notify(
        self,
        instance_id: str,
        execution_id: str,
        event: JsonDict,
        batch: WriteBatch,
        effects: list[Effect],
    ) -> None:
        if instance_id not in self.d.instances:
            return  # the parent is over (or purged): a stored message would never be read
        message = Message(MessageKind.HISTORY, event, execution_id)
        batch.add_message(instance_id, message)
        effects.append(lambda: self.d.post(instance_id, message))

    def _forget(self, instance_id: str, status: RuntimeStatus) -> None:
        self.d.instances.pop(instance_id, None)
        self.d.inboxes.pop(instance_id, None)
        self.d.timers.cancel_instance(instance_id)
        for future in self._waiters.pop(instance_id, []):
            if not future.done():
                future.set_result(status)
