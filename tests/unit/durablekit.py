"""Helpers for driving devhost's episode and inbox code with the real SDK, without any I/O."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from devhost.durable import episode as ep
from devhost.durable import inbox as ib
from devhost.durable import protocol as p
from devhost.durable.protocol import EventType
from devhost.durable.state import ExecutionState, Instance, Message, MessageKind, RuntimeStatus
from devhost.settings import DurableSettings

T0 = datetime(2024, 1, 1, tzinfo=UTC)
REGISTRY = ep.Registry(frozenset({"main"}), frozenset({"hello", "flaky"}))


def make_instance(input_text: str | None = None) -> Instance:
    """A running instance with an empty history."""
    return Instance(
        instance_id="abc",
        name="main",
        status=RuntimeStatus.RUNNING,
        input_text=input_text,
        created="",
        updated="",
        execution=ExecutionState(execution_id="x1"),
    )


def run_episode(
    inst: Instance,
    handle: Any,
    batch: list[p.JsonDict],
    now: datetime,
    settings: DurableSettings = ep.AZURE_STORAGE,
) -> ep.EpisodeResult:
    """One episode as the dispatcher runs it, history kept on the instance."""
    context, new_events = ep.begin(inst, batch, now, settings)
    try:
        reply = p.parse_reply(handle(context))
    except Exception as exc:
        reply = p.parse_failure(exc)
    result = ep.finish(inst, new_events, reply, REGISTRY, now)
    inst.history.extend(result.new_events)
    inst.played.extend(p.encode_event(e, played=True) for e in result.new_events)
    return result


def run_inbox(
    inst: Instance, handle: Any, events: list[p.JsonDict], now: datetime
) -> ep.EpisodeResult:
    """Queue `events` in arrival order, then run one episode on the batch the inbox gives."""
    inbox = deque(history_message(e) for e in events)
    messages, _ = ib.take_batch(inbox, inst)
    assert not inbox, "every event fits in one batch"
    return run_episode(inst, handle, [m.event for m in messages if m.event], now)


def history_message(item: p.JsonDict, execution_id: str | None = "x1") -> Message:
    """An inbox message; external events carry no execution id."""
    if item["EventType"] in (EventType.EVENT_RAISED, EventType.EXECUTION_STARTED):
        execution_id = None
    return Message(MessageKind.HISTORY, item, execution_id)


def stamp(when: datetime = T0) -> str:
    """History timestamp text."""
    return p.format_timestamp(when)


def started(input_text: str | None = None) -> p.JsonDict:
    """ExecutionStarted of `main`."""
    return p.event(EventType.EXECUTION_STARTED, stamp(), Name="main", Version="", Input=input_text)


def completed(task_id: int, result: str = "1") -> p.JsonDict:
    """TaskCompleted."""
    return p.event(EventType.TASK_COMPLETED, stamp(), TaskScheduledId=task_id, Result=result)


def failed(task_id: int) -> p.JsonDict:
    """TaskFailed with reason `r` and details `d`."""
    return p.event(EventType.TASK_FAILED, stamp(), TaskScheduledId=task_id, Reason="r", Details="d")


def fired(timer_id: int, when: datetime = T0) -> p.JsonDict:
    """TimerFired."""
    return p.event(EventType.TIMER_FIRED, stamp(when), TimerId=timer_id)


def raised(name: str, input_text: str) -> p.JsonDict:
    """EventRaised; `input_text` is JSON text."""
    return p.event(EventType.EVENT_RAISED, stamp(), Name=name, Input=input_text)
