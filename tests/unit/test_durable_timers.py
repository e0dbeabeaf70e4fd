"""devhost/durable/timers.py: cancelled timers do not pile up in the heap."""

from __future__ import annotations

from datetime import timedelta

from devhost.durable.protocol import utc_now
from devhost.durable.timers import TimerHeap


def test_armed_and_cancelled_timers_do_not_grow_the_heap() -> None:
    """Arming and cancelling 10,000 long timers behind one live timer keeps the heap small."""
    heap = TimerHeap(on_fire=lambda key: None)
    later = utc_now() + timedelta(hours=1)
    heap.arm(("live", "x", 0), utc_now() + timedelta(minutes=30))
    for n in range(1, 10_001):
        heap.arm(("loop", "x", n), later)
        heap.cancel(("loop", "x", n))
    assert heap.size <= 130


def test_cancelled_timer_does_not_fire() -> None:
    """A due timer that was cancelled is skipped; a due live one fires."""
    fired: list[tuple[str, str, int]] = []
    heap = TimerHeap(on_fire=fired.append)
    past = utc_now() - timedelta(seconds=1)
    heap.arm(("a", "x", 1), past)
    heap.arm(("b", "x", 2), past)
    heap.cancel(("a", "x", 1))
    assert heap._fire_due() is None
    assert fired == [("b", "x", 2)]


def test_a_delay_postpones_every_timer() -> None:
    """With a delay, a timer whose deadline has passed waits out the delay before firing."""
    fired: list[tuple[str, str, int]] = []
    heap = TimerHeap(on_fire=fired.append, delay=lambda: 30.0)
    heap.arm(("a", "x", 1), utc_now() - timedelta(seconds=1))
    wait = heap._fire_due()
    assert fired == [] and wait is not None and 28 < wait <= 29
