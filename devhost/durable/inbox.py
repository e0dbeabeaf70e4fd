"""Which inbox messages go into the next episode.

Everything that has arrived goes together, as in the Durable extension, where one work item hands
the SDK every new message of the instance: completions, fired timers and external events (so an
EventRaised can share an episode with the TimerFired it races, protocol §6). Up to MAX_BATCH.

One reordering, invisible to orchestrator code: events that make the SDK take a task number
privately (the failure of a retried attempt, the firing of a retry timer with attempts left, §5)
go first. The SDK takes those numbers while it reads history, so a retry timer read after a
completion that let the code create a task would get the number after that task; the engine
cannot see that interleaving in the reply. Put first, they are numbered before any task the
batch lets the code create, which is the order the engine numbers in (`episode.finish`). Those
events complete no task the code waits on, so which race wins and what the code sees is unchanged.

One exception to "everything": the first episode of an execution that continued as new holds its
ExecutionStarted and the carried events only. DTFx (TaskOrchestrationDispatcher) runs it inside
the work item that continued as new, so what arrived meanwhile waits for the next work item.
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
    batch: list[Message] = []
    if not inst.history:
        carried = inst.execution.carried_events
        batch = _take_start(inbox, carried or 0)
        if not batch or carried is not None:
            return batch, stale
    while inbox and len(batch) < MAX_BATCH:
        batch.append(inbox.popleft())
    return in_sdk_order(batch, inst.execution), stale


def has_deliverable(inbox: deque[Message]) -> bool:
    """Whether an episode could run now."""
    return any(m.kind is MessageKind.HISTORY for m in inbox)


def in_sdk_order(batch: list[Message], state: ExecutionState) -> list[Message]:
    """The batch with number-taking retry events first, otherwise in arrival order."""
    first = [m for m in batch if _takes_a_number(m, state)]
    if not first:
        return batch
    return first + [m for m in batch if not _takes_a_number(m, state)]


def _take_start(inbox: deque[Message], carried: int) -> list[Message]:
    """An execution starts with its ExecutionStarted, wherever it sits in the inbox, and the
    `carried` events stored right after it (lifecycle writes them together, so they follow it
    both in memory and in row order after a restart)."""
    items = list(inbox)
    for index, message in enumerate(items):
        if _event_type(message) == EventType.EXECUTION_STARTED:
            end = index + 1 + carried
            inbox.clear()
            inbox.extend(items[:index] + items[end:])
            return items[index:end]
    return []


def _drop_stale(inbox: deque[Message], state: ExecutionState) -> list[Message]:
    stale = [m for m in inbox if not _expected(m, state)]
    for message in stale:
        inbox.remove(message)
    return stale


def _expected(message: Message, state: ExecutionState) -> bool:
    """Completions of an ended execution, or of work already answered, are dropped."""
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


def _takes_a_number(message: Message, state: ExecutionState) -> bool:
    """Whether the SDK takes a task number privately when it reads this event (§5)."""
    kind = _event_type(message)
    event = message.event or {}
    if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
        return event.get("TaskScheduledId") in state.retry_of_task  # its retry timer
    if kind == EventType.TIMER_FIRED:
        key = state.retry_of_timer.get(event.get("TimerId", -1))
        retry = state.retries.get(key) if key is not None else None
        return retry is not None and retry.attempt < retry.max_attempts  # the next attempt
    return False


def _event_type(message: Message) -> int | None:
    event: JsonDict | None = message.event
    return None if event is None else int(event["EventType"])
