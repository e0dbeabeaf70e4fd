"""Small orchestrators and activities the Durable engine tests run, written as an app would.

Orchestrators go through `df.Orchestrator.create`, so the engine talks to the real SDK; activities
are plain coroutines behind the JSON-text runner interface the function host provides.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

Gen = Generator[Any, Any, Any]


class Gates:
    """Test-controlled latches that activities wait on, keyed by name."""

    def __init__(self) -> None:
        self.opened: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = {}

    def _get(self, table: dict[str, asyncio.Event], key: str) -> asyncio.Event:
        return table.setdefault(key, asyncio.Event())

    def open(self, key: str) -> None:
        """Let activities waiting on `key` finish."""
        self._get(self.opened, key).set()

    async def entered_wait(self, key: str) -> None:
        """Wait until an activity is waiting on `key`."""
        await self._get(self.entered, key).wait()

    async def pass_through(self, key: str) -> None:
        """Called by activities: announce arrival, then wait to be let through."""
        self._get(self.entered, key).set()
        await self._get(self.opened, key).wait()


GATES = Gates()


class Holds:
    """Latches for orchestrator code, which runs in a worker thread (the threaded harness)."""

    def __init__(self) -> None:
        self.entered: dict[str, threading.Event] = {}
        self.released: dict[str, threading.Event] = {}

    def get(self, table: dict[str, threading.Event], key: str) -> threading.Event:
        """The latch of `key` in `table`, made on first use."""
        return table.setdefault(key, threading.Event())

    def hold(self, key: str) -> None:
        """Called by an orchestrator: announce arrival, then wait (bounded) to be released."""
        self.get(self.entered, key).set()
        self.get(self.released, key).wait(timeout=20)


HOLDS = Holds()
CALLS: Counter[str] = Counter()


def activity(fn: Callable[[Any], Awaitable[Any]]) -> Callable[[str | None], Awaitable[str]]:
    """Wrap a coroutine taking and returning values into an ActivityRunner (JSON text in/out)."""

    async def run(input_text: str | None) -> str:
        value = json.loads(input_text) if input_text is not None else None
        return json.dumps(await fn(value))

    return run


async def hello(name: str) -> str:
    return f"Hello {name}"


async def double(x: int) -> int:
    return x * 2


async def gate(key: str) -> str:
    CALLS[f"gate:{key}"] += 1
    await GATES.pass_through(key)
    return f"passed {key}"


async def flaky(key: str) -> str:
    """Fails on the first two calls for a key, then succeeds."""
    CALLS[key] += 1
    if CALLS[key] < 3:
        raise ConnectionError(f"attempt {CALLS[key]} failed")
    return f"ok after {CALLS[key]}"


async def fail_once(key: str) -> str:
    CALLS[key] += 1
    if CALLS[key] == 1:
        raise RuntimeError("first call fails")
    return f"ok {CALLS[key]}"


async def always_fail(message: str) -> str:
    raise ValueError(message)


async def poll(key: str) -> int:
    CALLS[key] += 1
    await GATES.pass_through(f"{key}:{CALLS[key]}")
    return CALLS[key]


def chain(ctx: df.DurableOrchestrationContext) -> Gen:
    a = yield ctx.call_activity("double", ctx.get_input())
    b = yield ctx.call_activity("double", a)
    c = yield ctx.call_activity("double", b)
    return c


def one(ctx: df.DurableOrchestrationContext) -> Gen:
    return (yield ctx.call_activity("double", ctx.get_input()))


def greet(ctx: df.DurableOrchestrationContext) -> Gen:
    cities = ctx.get_input()["cities"]
    results = []
    for city in cities:
        results.append((yield ctx.call_activity("hello", city)))
    return results


def fan_out(ctx: df.DurableOrchestrationContext) -> Gen:
    tasks = [ctx.call_activity("double", i) for i in range(ctx.get_input())]
    values = yield ctx.task_all(tasks)
    return sum(values)


def with_retry(ctx: df.DurableOrchestrationContext) -> Gen:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=3)
    return (yield ctx.call_activity_with_retry("flaky", options, ctx.get_input()))


def retry_exhausted(ctx: df.DurableOrchestrationContext) -> Gen:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=2)
    try:
        yield ctx.call_activity_with_retry("always_fail", options, "nope")
    except Exception as exc:
        after = yield ctx.call_activity("double", 21)
        return {"caught": str(exc).splitlines()[0], "after": after}
    return "unreachable"


def gate_then_event(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_activity("gate", ctx.get_input())
    value = yield ctx.wait_for_external_event("x")
    return value


def abort_race(ctx: df.DurableOrchestrationContext) -> Gen:
    """The copy loop's pattern: one abort wait, raced against a fresh timer each round."""
    abort = ctx.wait_for_external_event("abort")
    rounds = 0
    while True:
        timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=30))
        winner = yield ctx.task_any([timer, abort])
        if winner == abort:
            timer.cancel()
            return {"aborted": abort.result, "rounds": rounds}
        rounds = yield ctx.call_activity("poll", ctx.get_input())


def waiting(ctx: df.DurableOrchestrationContext) -> Gen:
    ctx.set_custom_status({"phase": "waiting"})
    value = yield ctx.wait_for_external_event("go")
    ctx.set_custom_status({"phase": "done"})
    return value


def cancel_timer(ctx: df.DurableOrchestrationContext) -> Gen:
    """A 200 ms timer against `go`; when go wins the timer is cancelled, then `end` awaited."""
    timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=200))
    go = ctx.wait_for_external_event("go")
    winner = yield ctx.task_any([timer, go])
    if winner == go:
        timer.cancel()
    return (yield ctx.wait_for_external_event("end"))


def timer_or_event(ctx: df.DurableOrchestrationContext) -> Gen:
    """A short timer against event x; after the timer wins, the same event is awaited."""
    timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=50))
    event = ctx.wait_for_external_event("x")
    winner = yield ctx.task_any([timer, event])
    if winner == timer:
        return ["timer", (yield event)]
    timer.cancel()
    return ["event", event.result]


def continuing(ctx: df.DurableOrchestrationContext) -> Gen:
    state = ctx.get_input()
    if state["gen"] == 0:
        yield ctx.call_activity("gate", state["key"])
        ctx.continue_as_new({"gen": 1, "key": state["key"]})
        return None
    value = yield ctx.wait_for_external_event("x")
    return {"gen": state["gen"], "x": value}


def continuing_held(ctx: df.DurableOrchestrationContext) -> Gen:
    """Like `continuing`, but its final episode of gen 0 waits on HOLDS before deciding."""
    state = ctx.get_input()
    if state["gen"] == 0:
        yield ctx.call_activity("double", 1)
        if not ctx.is_replaying:
            HOLDS.hold(state["key"])
        ctx.continue_as_new({"gen": 1, "key": state["key"]})
        return None
    value = yield ctx.wait_for_external_event("x")
    return {"gen": state["gen"], "x": value}


def counting(ctx: df.DurableOrchestrationContext) -> Gen:
    n = ctx.get_input()
    if n < 3:
        yield ctx.call_activity("double", n)
        ctx.continue_as_new(n + 1)
        return None
    return n


def status_then_continue(ctx: df.DurableOrchestrationContext) -> Gen:
    """Gen 0 sets a custom status and continues as new; gen 1 sets none, waits for x then y."""
    if ctx.get_input() == 0:
        ctx.set_custom_status({"set by": "gen 0"})
        yield ctx.call_activity("double", 1)
        ctx.continue_as_new(1)
        return None
    x = yield ctx.wait_for_external_event("x")
    y = yield ctx.wait_for_external_event("y")
    return [x, y]


def status_then_continue_twice(ctx: df.DurableOrchestrationContext) -> Gen:
    """Gen 0 sets a custom status; gen 1 continues as new at once, setting none; gen 2 waits."""
    gen = ctx.get_input()
    if gen == 0:
        ctx.set_custom_status({"set by": "gen 0"})
        yield ctx.call_activity("double", 1)
    if gen < 2:
        ctx.continue_as_new(gen + 1)
        return None
    return (yield ctx.wait_for_external_event("x"))


def twin_children(ctx: df.DurableOrchestrationContext) -> Gen:
    """Two sub-orchestrations asking for the same explicit instance id in one episode."""
    twin_id = f"{ctx.instance_id}-twin"
    first = ctx.call_sub_orchestrator("one", 1, twin_id)
    second = ctx.call_sub_orchestrator("one", 2, twin_id)
    try:
        return (yield ctx.task_all([first, second]))
    except Exception as exc:
        return f"refused: {exc}"


def parent(ctx: df.DurableOrchestrationContext) -> Gen:
    child = yield ctx.call_sub_orchestrator("chain", ctx.get_input())
    named = yield ctx.call_sub_orchestrator("one", 5, f"{ctx.instance_id}-named")
    return [child, named]


def child_fail_once(ctx: df.DurableOrchestrationContext) -> Gen:
    return (yield ctx.call_activity("fail_once", ctx.get_input()))


def parent_with_retry(ctx: df.DurableOrchestrationContext) -> Gen:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=3)
    return (yield ctx.call_sub_orchestrator_with_retry("child_fail_once", options, ctx.get_input()))


def timer_then_gate(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=50))
    passed = yield ctx.call_activity("gate", ctx.get_input())
    return passed


def two_timers(ctx: df.DurableOrchestrationContext) -> Gen:
    """Two 50 ms timers in a row; returns the orchestration time after them."""
    for _ in range(2):
        yield ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=50))
    return ctx.current_utc_datetime.isoformat()


def long_timer(ctx: df.DurableOrchestrationContext) -> Gen:
    """One timer `input` seconds long; returns its deadline and the time the code resumed."""
    fire_at = ctx.current_utc_datetime + timedelta(seconds=ctx.get_input())
    yield ctx.create_timer(fire_at)
    return [fire_at.isoformat(), ctx.current_utc_datetime.isoformat()]


def parent_of_gate(ctx: df.DurableOrchestrationContext) -> Gen:
    return (yield ctx.call_sub_orchestrator("timer_then_gate", ctx.get_input()))


def versioned(ctx: df.DurableOrchestrationContext) -> Gen:
    child = yield ctx.call_sub_orchestrator("report_version", None, None, "2.1")
    return [ctx.version, child]


def report_version(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_activity("double", 0)
    return ctx.version


def first_of(ctx: df.DurableOrchestrationContext) -> Gen:
    slow = ctx.call_activity("gate", ctx.get_input())
    fast = ctx.call_activity("hello", "fast")
    winner = yield ctx.task_any([slow, fast])
    return winner.result


def failing(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_activity("always_fail", "boom")
    return "unreachable"


def unknown_activity(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_activity("no_such_activity", None)
    return "unreachable"


def uses_entity(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_entity(df.EntityId("counter", "k1"), "add", 1)
    return "unreachable"


def uses_http(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_http("GET", "http://127.0.0.1:9/never")
    return "unreachable"


REPLAYS: Counter[str] = Counter()


def nondeterministic(ctx: df.DurableOrchestrationContext) -> Gen:
    """Calls a different activity on replay: exactly what orchestrators must not do."""
    REPLAYS[ctx.instance_id] += 1
    name = "hello" if REPLAYS[ctx.instance_id] == 1 else "double"
    yield ctx.call_activity(name, 1)
    yield ctx.call_activity("hello", "again")
    return "unreachable"


ORCHESTRATORS: dict[str, Callable[[str], str]] = {
    fn.__name__: df.Orchestrator.create(fn)
    for fn in (
        chain,
        one,
        greet,
        fan_out,
        with_retry,
        retry_exhausted,
        gate_then_event,
        abort_race,
        waiting,
        cancel_timer,
        timer_or_event,
        continuing,
        continuing_held,
        counting,
        status_then_continue,
        status_then_continue_twice,
        parent,
        twin_children,
        child_fail_once,
        parent_with_retry,
        timer_then_gate,
        two_timers,
        long_timer,
        parent_of_gate,
        versioned,
        report_version,
        first_of,
        failing,
        unknown_activity,
        uses_entity,
        uses_http,
        nondeterministic,
    )
}

ACTIVITIES = {
    fn.__name__: activity(fn) for fn in (hello, double, gate, flaky, fail_once, always_fail, poll)
}
