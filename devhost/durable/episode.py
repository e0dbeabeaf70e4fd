"""One orchestrator episode: history in, the SDK's actions out, new history and work decided.

Pure bookkeeping, no I/O: `begin` builds the context for the SDK, `finish` reads its reply and
mirrors the SDK's numbering (protocol §3, §5, §10) to write the events it will look for next time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost.durable import protocol as p
from devhost.durable.protocol import ActionType, EventType, JsonDict
from devhost.durable.state import ExecutionState, Instance, OpenActivity, RetryState
from devhost.settings import DurableSettings

AZURE_STORAGE = DurableSettings()  # the extension's defaults, what a unit test wants

UNSUPPORTED = {
    ActionType.CALL_ENTITY: "Durable entities (call_entity) are not supported by devhost.",
    ActionType.SIGNAL_ENTITY: "Durable entities (signal_entity) are not supported by devhost.",
    ActionType.CALL_HTTP: "Durable HTTP (call_http) is not supported by devhost.",
}


class Outcome(enum.Enum):
    """How the episode left the instance."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CONTINUED_AS_NEW = "continued_as_new"


@dataclass(frozen=True)
class ChildStart:
    """A sub-orchestration to create on behalf of task `task_id`."""

    task_id: int
    instance_id: str
    name: str
    input_text: str | None
    version: str | None = None


@dataclass
class Work:
    """Side effects the dispatcher performs once the episode is committed."""

    activities: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[int, datetime]] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)


@dataclass
class EpisodeResult:
    """What one episode decided."""

    outcome: Outcome
    new_events: list[JsonDict]
    work: Work
    output: Any = None
    custom_status: Any = None
    continue_input: str | None = None
    carried: list[JsonDict] = field(default_factory=list)  # events for the next execution


@dataclass(frozen=True)
class Registry:
    """Function names the engine can run, to fail early and clearly on a typo."""

    orchestrators: frozenset[str]
    activities: frozenset[str]


def begin(
    instance: Instance,
    batch: list[JsonDict],
    now: datetime,
    settings: DurableSettings = AZURE_STORAGE,
) -> tuple[str, list[JsonDict]]:
    """The context JSON for the SDK and the new events it contains (OrchestratorStarted + batch)."""
    new_events = [p.event(EventType.ORCHESTRATOR_STARTED, p.format_timestamp(now)), *batch]
    encoded = instance.played + [p.encode_event(e, played=False) for e in new_events]
    return _context(instance, encoded, settings), new_events


def replay_context(
    instance: Instance,
    batch: list[JsonDict],
    now: datetime,
    settings: DurableSettings = AZURE_STORAGE,
) -> str:
    """The context of an episode given `batch`, with every event marked played.

    For asking the SDK what it decides at a point of a batch (carryover.py) without the code
    taking it for a new episode: `context.is_replaying` stays true, so replay-safe logs stay quiet.
    """
    new_events = [p.event(EventType.ORCHESTRATOR_STARTED, p.format_timestamp(now)), *batch]
    encoded = instance.played + [p.encode_event(e, played=True) for e in new_events]
    return _context(instance, encoded, settings)


def _context(instance: Instance, encoded: list[str], settings: DurableSettings) -> str:
    return p.build_context(
        instance_id=instance.instance_id,
        parent_instance_id=instance.parent_instance_id,
        input_text=instance.input_text,
        encoded_history=encoded,
        maximum_short_timer=settings.maximum_short_timer,
        long_timer_interval=settings.long_timer_interval,
    )


def finish(
    instance: Instance,
    new_events: list[JsonDict],
    reply: p.Reply,
    registry: Registry,
    now: datetime,
) -> EpisodeResult:
    """Apply the SDK's reply: number new work, write its events, and decide the outcome."""
    state = instance.execution
    stamp = p.format_timestamp(now)
    events = list(new_events)
    work = Work()
    for delivered in new_events[1:]:
        _account_delivery(state, delivered, events, work, now)
    failure = reply.error if reply.error is not None else _check_replay(state, reply.actions)
    if failure is None:
        failure = _schedule_new(state, reply.actions, events, work, registry, stamp)
    events.append(p.event(EventType.ORCHESTRATOR_COMPLETED, stamp))
    if failure is not None:
        return _failed(instance, events, work, failure, reply.custom_status)
    result = EpisodeResult(Outcome.RUNNING, events, work, custom_status=reply.custom_status)
    cont = reply.continue_as_new
    if cont is not None:
        result.outcome = Outcome.CONTINUED_AS_NEW
        result.continue_input = cont.input
    elif reply.is_done:
        result.outcome = Outcome.COMPLETED
        result.output = reply.output
        events.append(
            p.event(EventType.EXECUTION_COMPLETED, stamp, OrchestrationStatus="Completed")
        )
    return result


def failure_output(name: str, error: str) -> str:
    """Azure's output of a failed orchestration."""
    return f"Orchestrator function '{name}' failed: {error}"


def _failed(
    instance: Instance, events: list[JsonDict], work: Work, error: str, custom_status: Any
) -> EpisodeResult:
    output = failure_output(instance.name, error)
    stamp = events[-1]["Timestamp"]
    events.append(
        p.event(EventType.EXECUTION_COMPLETED, stamp, OrchestrationStatus="Failed", Result=output)
    )
    work.activities.clear()
    work.children.clear()
    work.timers.clear()
    return EpisodeResult(Outcome.FAILED, events, work, output=output, custom_status=custom_status)


def _account_delivery(
    state: ExecutionState, delivered: JsonDict, events: list[JsonDict], work: Work, now: datetime
) -> None:
    """Forget answered work; for retried calls, take the numbers the SDK takes privately (§5)."""
    kind = delivered["EventType"]
    stamp = p.format_timestamp(now)
    if kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
        state.activities.pop(delivered["TaskScheduledId"], None)
    elif kind in (EventType.SUB_ORCHESTRATION_COMPLETED, EventType.SUB_ORCHESTRATION_FAILED):
        state.suborchestrations.pop(delivered["TaskScheduledId"], None)
    elif kind == EventType.TIMER_FIRED:
        state.timers.pop(delivered["TimerId"], None)
    if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
        _retry_failed(state, delivered["TaskScheduledId"], events, work, now, stamp)
    elif kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_COMPLETED):
        key = state.retry_of_task.pop(delivered["TaskScheduledId"], None)
        if key is not None:
            state.retries.pop(key, None)
    elif kind == EventType.TIMER_FIRED:
        _retry_timer_fired(state, delivered["TimerId"], events, work, stamp)


def _retry_failed(
    state: ExecutionState,
    task_id: int,
    events: list[JsonDict],
    work: Work,
    now: datetime,
    stamp: str,
) -> None:
    key = state.retry_of_task.pop(task_id, None)
    if key is None:
        return
    retry = state.retries[key]
    timer_id = state.take_id()
    fire_at = now + timedelta(milliseconds=retry.first_interval_ms)
    fire_text = p.format_timestamp(fire_at)
    events.append(p.event(EventType.TIMER_CREATED, stamp, timer_id, FireAt=fire_text))
    state.timers[timer_id] = fire_text
    state.retry_of_timer[timer_id] = key
    work.timers.append((timer_id, fire_at))


def _retry_timer_fired(
    state: ExecutionState, timer_id: int, events: list[JsonDict], work: Work, stamp: str
) -> None:
    key = state.retry_of_timer.pop(timer_id, None)
    if key is None:
        return
    retry = state.retries[key]
    if retry.attempt >= retry.max_attempts:
        del state.retries[key]  # the SDK now throws the last failure into the orchestrator
        return
    retry.attempt += 1
    task_id = state.take_id()
    state.retry_of_task[task_id] = key
    if retry.kind == "activity":
        _add_activity(state, task_id, retry.name, retry.input, events, work, stamp)
    else:
        child_id = retry.instance_id or f"{state.execution_id}:{task_id}"
        child = ChildStart(task_id, child_id, retry.name, retry.input, retry.version)
        _add_child(state, child, events, work, stamp)


def _check_replay(state: ExecutionState, actions: list[p.Action]) -> str | None:
    """Compare replayed actions with those already recorded: DTFx's non-determinism check."""
    for index, recorded in enumerate(state.signatures):
        if index >= len(actions):
            break
        if actions[index].signature != recorded:
            return (
                "Non-deterministic workflow detected: on replay, action #"
                f"{index} is {actions[index].signature!r} where history recorded {recorded!r}. "
                "Orchestrator code must make the same calls in the same order on every replay."
            )
    return None


def _schedule_new(
    state: ExecutionState,
    actions: list[p.Action],
    events: list[JsonDict],
    work: Work,
    registry: Registry,
    stamp: str,
) -> str | None:
    """Number the actions not seen before and write their events; an error text on refusal."""
    for action in actions[len(state.signatures) :]:
        if action.kind in UNSUPPORTED:
            return UNSUPPORTED[action.kind]
        state.signatures.append(action.signature)
        if action.kind not in p.NUMBERED_ACTIONS:
            continue
        task_id = state.take_id()
        refusal = _schedule_one(state, task_id, action, events, work, registry, stamp)
        if refusal is not None:
            return refusal
    return None


def _schedule_one(
    state: ExecutionState,
    task_id: int,
    action: p.Action,
    events: list[JsonDict],
    work: Work,
    registry: Registry,
    stamp: str,
) -> str | None:
    name = action.name or ""
    if action.kind == ActionType.CREATE_TIMER:
        # Armed even when cancelled: `isCanceled` only cancels the extension's .NET task
        # (OutOfProcOrchestrationShim.InvokeAPIFromAction); the DurableTask timer message stays
        # queued and its TimerFired is still appended to history when due.
        fire_at = action.fire_at or p.utc_now()
        fire_text = p.format_timestamp(fire_at)
        events.append(p.event(EventType.TIMER_CREATED, stamp, task_id, FireAt=fire_text))
        state.timers[task_id] = fire_text
        work.timers.append((task_id, fire_at))
        return None
    is_activity = action.kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY)
    known = registry.activities if is_activity else registry.orchestrators
    if name not in known:
        role = "an activity" if is_activity else "an orchestrator"
        return f"The function '{name}' doesn't exist, is disabled, or is not {role} function."
    if action.retry is not None:
        state.retries[task_id] = RetryState(
            kind="activity" if is_activity else "suborchestration",
            name=name,
            input=action.input,
            first_interval_ms=action.retry.first_interval_ms,
            max_attempts=action.retry.max_attempts,
            instance_id=action.instance_id,
            version=action.version,
        )
        state.retry_of_task[task_id] = task_id
    if is_activity:
        _add_activity(state, task_id, name, action.input, events, work, stamp)
    else:
        child_id = action.instance_id or f"{state.execution_id}:{task_id}"
        child = ChildStart(task_id, child_id, name, action.input, action.version)
        _add_child(state, child, events, work, stamp)
    return None


def _add_activity(
    state: ExecutionState,
    task_id: int,
    name: str,
    input_text: str | None,
    events: list[JsonDict],
    work: Work,
    stamp: str,
) -> None:
    events.append(p.event(EventType.TASK_SCHEDULED, stamp, task_id, Name=name, Input=input_text))
    state.activities[task_id] = OpenActivity(name, input_text)
    work.activities.append((task_id, name, input_text))


def _add_child(
    state: ExecutionState, child: ChildStart, events: list[JsonDict], work: Work, stamp: str
) -> None:
    events.append(
        p.event(
            EventType.SUB_ORCHESTRATION_CREATED,
            stamp,
            child.task_id,
            Name=child.name,
            InstanceId=child.instance_id,
            Input=child.input_text,
        )
    )
    state.suborchestrations[child.task_id] = child.instance_id
    work.children.append(child)
