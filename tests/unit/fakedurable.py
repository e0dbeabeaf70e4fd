"""A fake Durable orchestration context and a driver that plays a simulated copy against it.

The driver answers each yielded task the way the Durable runtime would: activities complete
(or raise, for exhausted retries), `task_any` picks the timer or the abort event by simulated
time, and the clock moves with them. No I/O, no wall clock.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeTask:
    """A yielded task: an activity call, a timer, an external event or a task_any."""

    def __init__(self, kind: str, **info: Any) -> None:
        self.kind, self.info = kind, info
        self.is_completed = False
        self.opened = False  # an event wait is only delivered to once yielded (SDK behaviour)
        self.result: Any = None
        self.cancelled = False

    def complete(self, value: Any) -> None:
        self.is_completed, self.result = True, value

    def cancel(self) -> None:
        if self.is_completed:
            raise ValueError("Cannot cancel a completed task.")
        self.cancelled = True


class FakeContext:
    """Just the context API the orchestrator uses."""

    def __init__(self, input_: Any, now: dt.datetime = T0) -> None:
        self.input, self.now = input_, now
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.call_times: list[dt.datetime] = []  # when each call was sent
        self.retry_options: list[Any] = []
        self.statuses: list[Any] = []
        self.timers: list[FakeTask] = []
        self.events: list[FakeTask] = []
        self.continued_with: Any = None
        self._guids = 0

    @property
    def current_utc_datetime(self) -> dt.datetime:
        return self.now

    instance_id = "copy-1"

    def get_input(self) -> Any:
        return self.input

    def new_guid(self) -> uuid.UUID:
        self._guids += 1
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.instance_id}-{self._guids}")

    def call_activity_with_retry(self, name: str, retry: Any, payload: Any) -> FakeTask:
        self.retry_options.append(retry)
        return FakeTask("activity", name=name, payload=payload)

    def call_activity(self, name: str, payload: Any = None) -> FakeTask:
        return FakeTask("activity", name=name, payload=payload)

    def create_timer(self, fire_at: dt.datetime) -> FakeTask:
        task = FakeTask("timer", fire_at=fire_at)
        self.timers.append(task)
        return task

    def wait_for_external_event(self, name: str) -> FakeTask:
        task = FakeTask("event", name=name)
        self.events.append(task)
        return task

    def task_any(self, tasks: list[FakeTask]) -> FakeTask:
        return FakeTask("any", children=tasks)

    def set_custom_status(self, value: Any) -> None:
        self.statuses.append(json.loads(json.dumps(value)))

    def continue_as_new(self, input_: Any) -> None:
        self.continued_with = json.loads(json.dumps(input_))


@dataclass
class SimCopy:
    """A simulated storage side: a steady copy, plus scripted answers and faults per activity."""

    total: int = 1000
    duration: float = 10.0
    start_status: str = "pending"
    end_status: str = "success"
    abort_at: float | None = None  # seconds after T0
    abort_payload: Any = '{"reason": "user asked"}'
    overrides: dict[str, Callable[[dict[str, Any], float], Any]] = field(default_factory=dict)
    started_at: float | None = None
    aborted: bool = False
    activity_seconds: float = 0.05

    def elapsed(self, ctx: FakeContext) -> float:
        return (ctx.now - T0).total_seconds()

    def observation(self, t: float) -> dict[str, Any]:
        if self.aborted:
            return {"ok": True, "status": "aborted", "copy_id": "c1", "bytes_copied": 0}
        done = min(max(t - (self.started_at or t), 0.0) / self.duration, 1.0)
        copied = int(self.total * done)
        state = "pending" if copied < self.total else self.end_status
        return {
            "ok": True,
            "status": state,
            "copy_id": "c1",
            "bytes_copied": copied,
            "total_bytes": self.total,
            "description": "source gone" if state == "failed" else None,
        }

    def activity(self, name: str, payload: dict[str, Any], t: float) -> Any:
        if name in self.overrides:
            return self.overrides[name](payload, t)
        if name == "start_copy":
            self.started_at = t
            if self.start_status == "success":
                return {**self.observation(t + self.duration), "status": "success"}
            return {"ok": True, "status": "pending", "copy_id": "c1", "bytes_copied": 0}
        if name == "check_copy":
            return self.observation(t)
        if name == "abort_copy":
            seen = self.observation(t)
            if seen["status"] != "pending":
                return seen
            self.aborted = True
            return {**seen, "status": "aborted"}
        if name == "snapshot_destination":
            return {"ok": True, "snapshot": "2026-01-01T00:00:00.0000000Z"}
        return {"ok": True}


class Simulation(Protocol):
    """The storage side a driver plays against: SimCopy, or a batch's simulation."""

    abort_at: float | None
    abort_payload: Any
    activity_seconds: float

    def elapsed(self, ctx: FakeContext) -> float: ...

    def activity(self, name: str, payload: dict[str, Any], t: float) -> Any: ...


def drive(
    gen: Generator[Any, Any, Any], ctx: FakeContext, sim: Simulation, max_steps: int = 10_000
) -> Any:
    """Run the orchestrator generator to its end, answering each yielded task from `sim`."""
    send: Any = None
    throw: BaseException | None = None
    for _ in range(max_steps):
        try:
            task = gen.throw(throw) if throw else gen.send(send)
        except StopIteration as stop:
            return stop.value
        send, throw = None, None
        if task.kind == "activity":
            ctx.calls.append((task.info["name"], task.info["payload"]))
            ctx.call_times.append(ctx.now)
            ctx.now += dt.timedelta(seconds=sim.activity_seconds)
            try:
                send = sim.activity(task.info["name"], task.info["payload"], sim.elapsed(ctx))
            except Exception as exc:  # an exhausted retry surfaces as a plain exception
                throw = exc
        elif task.kind == "any":
            timer, event = task.info["children"]
            event.opened = True
            abort_time = None if sim.abort_at is None else T0 + dt.timedelta(seconds=sim.abort_at)
            if event.is_completed or (
                abort_time is not None and abort_time <= timer.info["fire_at"]
            ):
                if not event.is_completed:
                    ctx.now = max(ctx.now, abort_time or ctx.now)
                    event.complete(sim.abort_payload)
                send = event
            else:
                ctx.now = max(ctx.now, timer.info["fire_at"])
                timer.complete(None)
                send = timer
        elif task.kind == "timer":  # a plain wait (back-off while stopping, release retries)
            ctx.now = max(ctx.now, task.info["fire_at"])
            task.complete(None)
            send = task
        else:
            raise AssertionError(f"orchestrator yielded a bare {task.kind} task")
        arrived = sim.abort_at is not None and ctx.now >= T0 + dt.timedelta(seconds=sim.abort_at)
        if arrived and ctx.events and ctx.events[-1].opened and not ctx.events[-1].is_completed:
            ctx.events[-1].complete(sim.abort_payload)  # arrived while an activity ran
        # before the wait is first yielded the SDK parks the event; the next race delivers it
    raise AssertionError("orchestrator did not finish")


def names(ctx: FakeContext) -> list[str]:
    """The activities called, in order."""
    return [name for name, _ in ctx.calls]
