"""Durable timers: one heap, one sleeper task that wakes at the earliest deadline.

Cancelling marks the key and leaves the heap entry to be skipped when it surfaces, so cancel and
re-arm are O(log n) and no task exists per timer. When stale entries outnumber live ones the heap
is rebuilt, so a loop that arms and cancels long timers cannot grow it without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

from devhost.durable.protocol import utc_now
from devhost.lifetime import cancel_and_wait

TimerKey = tuple[str, str, int]  # instance id, execution id, timer task id
FireCallback = Callable[[TimerKey], None]
DelayFunction = Callable[[], float]  # seconds a timer fires after its deadline


def on_time() -> float:
    """No delay."""
    return 0.0


class TimerHeap:
    """Fires `on_fire(key)` on the event loop once a timer's UTC deadline plus `delay()` passed.

    The delay is drawn once per arming (settings.TimerDelay): a timer is never early, only late.
    """

    def __init__(self, on_fire: FireCallback, delay: DelayFunction = on_time) -> None:
        self._on_fire = on_fire
        self._delay = delay
        self._heap: list[tuple[datetime, int, TimerKey]] = []
        self._live: dict[TimerKey, int] = {}
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the sleeper."""
        self._task = asyncio.create_task(self._run(), name="durable-timers")

    async def stop(self) -> None:
        """Stop the sleeper; armed timers are forgotten (they are re-armed from the store)."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        self._heap.clear()
        self._live.clear()

    def arm(self, key: TimerKey, fire_at: datetime) -> None:
        """Fire `key` at `fire_at` plus the delay (at once if that is past)."""
        order = next(self._order)
        self._live[key] = order
        due = fire_at + timedelta(seconds=self._delay())
        heapq.heappush(self._heap, (due, order, key))
        self._changed.set()

    def cancel(self, key: TimerKey) -> None:
        """Do not fire `key`."""
        self._live.pop(key, None)
        self._compact_if_stale()

    def cancel_instance(self, instance_id: str) -> None:
        """Drop every timer of an instance (it finished, continued as new or was purged)."""
        for key in [k for k in self._live if k[0] == instance_id]:
            del self._live[key]
        self._compact_if_stale()

    def _compact_if_stale(self) -> None:
        """Rebuild the heap from the live timers once most of its entries are cancelled ones."""
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._heap = [e for e in self._heap if self._live.get(e[2]) == e[1]]
            heapq.heapify(self._heap)

    @property
    def size(self) -> int:
        """Entries held, cancelled ones included (for tests of the compaction)."""
        return len(self._heap)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            delay = self._fire_due()
            if delay is None:
                await self._changed.wait()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=delay)

    def _fire_due(self) -> float | None:
        """Fire what is due; seconds until the next deadline, None when nothing is armed."""
        now = utc_now()
        while self._heap:
            fire_at, order, key = self._heap[0]
            if self._live.get(key) != order:
                heapq.heappop(self._heap)
                continue
            if fire_at > now:
                return (fire_at - now).total_seconds()
            heapq.heappop(self._heap)
            del self._live[key]
            self._on_fire(key)
        return None
