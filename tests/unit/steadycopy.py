"""A steady copy read by shared/polling.py's plan: how many status reads it takes and how late
the finish is seen. The figures polling.py's docstring quotes come from here."""

from __future__ import annotations

from shared.polling import ProgressPoint, next_poll


def simulate_steady_copy(
    duration: float,
    *,
    start_lag: float = 0.0,
    min_seconds: float = 1.0,
    max_seconds: float = 604800.0,
    total_bytes: int = 1 << 30,
    end_lag: float = 0.0,
) -> tuple[int, float]:
    """Reads needed and detection delay for a steady copy of `duration` seconds.

    `start_lag` is how long after our clock's zero the service starts moving bytes (negative:
    it started before our start_copy call returned); `end_lag` is how long it then finalises
    after the last byte, showing all bytes copied but still `pending`.
    """
    previous: ProgressPoint | None = None
    current = ProgressPoint(0.0, 0, None)
    idle, now, reads = 0, 0.0, 0
    while True:
        plan = next_poll(current, previous, idle, min_seconds, max_seconds)
        now += plan.delay
        reads += 1
        done_fraction = min(max((now - start_lag) / duration, 0.0), 1.0)
        observed = ProgressPoint(now, int(total_bytes * done_fraction), total_bytes)
        finished_at = start_lag + duration + end_lag
        if now >= finished_at:
            return reads, now - finished_at
        moved = (observed.bytes_copied or 0) > (current.bytes_copied or 0)
        idle = 0 if moved else idle + 1
        previous, current = current, observed
