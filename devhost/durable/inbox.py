"""Which inbox messages go into the next episode.

Batching completions saves episodes, but two kinds must travel alone (protocol §6): an external
event (so one left over when the orchestrator continues as new is still undelivered and carried
over) and any event of a retried call (the SDK numbers its retry timer during replay, after tasks
that earlier events in the same batch let the code create).
"""

from __future__ import annotations

from collections import deque

from devhost.durable.protocol import EventType, JsonDict
from devhost.durable.state import ExecutionState, Instance, Message, MessageKind

MAX_BATCH = 50

COMPLETIONS = {
    EventType.TASK_COMPLETED,
    EventType.TASK_FAILED,
    EventType.SUB_ORCHESTRATION_COMPLETED,
    EventType.SUB_ORCHESTRATION_FAILED,
    EventType.TIMER_FIRED,
}


def take_controls(inbox: deque[Message]) -> list[Message]:
    """Remove and return terminate/suspend/resume messages, oldest first: they act at once."""
    controls = [m for m in inbox if m.kind is not MessageKind.HISTORY]
    if controls:
        kept = [m for m in inbox if m.kind is MessageKind.HISTORY]
        inbox.clear()
        inbox.extend(kept)
    return controls


def take_batch(inbox: deque[Message], inst: Instance) -> tuple[list[Message], list[Message]]:
    """(messages to deliver now, stale messages to forget); both removed from the inbox."""
    stale = _drop_stale(inbox, inst.execution)
    if not inst.history:
        return _take_start(inbox), stale
    batch: list[Message] = []
    while inbox and len(batch) < MAX_BATCH:
        head = inbox[0]
        if _travels_alone(head, inst.execution):
            if not batch:
                batch.append(inbox.popleft())
            break
        batch.append(inbox.popleft())
    return batch, stale


def has_deliverable(inbox: deque[Message]) -> bool:
    """Whether an episode could run now."""
    return any(m.kind is MessageKind.HISTORY for m in inbox)


def _take_start(inbox: deque[Message]) -> list[Message]:
    """A fresh execution starts with its ExecutionStarted, wherever it sits in the inbox."""
    for message in inbox:
        if _event_type(message) == EventType.EXECUTION_STARTED:
            inbox.remove(message)
            return [message]
    return []


def _drop_stale(inbox: deque[Message], state: ExecutionState) -> list[Message]:
    stale = [m for m in inbox if not _expected(m, state)]
    for message in stale:
        inbox.remove(message)
    return stale


def _expected(message: Message, state: ExecutionState) -> bool:
    """Completions of an ended execution, or of work already answered or cancelled, are dropped."""
    kind = _event_type(message)
    if kind not in COMPLETIONS:
        return True
    if message.execution_id != state.execution_id or message.event is None:
        return False
    if kind == EventType.TIMER_FIRED:
        return message.event["TimerId"] in state.timers
    task_id = message.event["TaskScheduledId"]
    if kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
        return task_id in state.activities
    return task_id in state.suborchestrations


def _travels_alone(message: Message, state: ExecutionState) -> bool:
    kind = _event_type(message)
    if kind in (EventType.EVENT_RAISED, EventType.EXECUTION_STARTED):
        return True
    event = message.event or {}
    if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
        return event.get("TaskScheduledId") in state.retry_of_task
    if kind == EventType.TIMER_FIRED:
        return event.get("TimerId") in state.retry_of_timer
    return False


def _event_type(message: Message) -> int | None:
    event: JsonDict | None = message.event
    return None if event is None else int(event["EventType"])
