"""shared/polling.py as a pure function: back-off, ETA-based reads, bounds, simulated figures."""

from __future__ import annotations

import statistics

import pytest

from shared.polling import LEAD_SECONDS, ProgressPoint, estimate_rate, next_poll
from tests.unit.steadycopy import simulate_steady_copy

DURATIONS = [0.3, 1, 2, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400, 604800]


def test_no_progress_backs_off_exponentially_from_the_minimum() -> None:
    """Reads without visible progress wait min, 2*min, 4*min, ... apart."""
    seen = ProgressPoint(3.0, 0, None)
    delays = [next_poll(seen, None, idle, 1.0, 1000.0).delay for idle in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_back_off_is_capped_by_the_maximum() -> None:
    """Back-off never exceeds max_seconds."""
    assert next_poll(ProgressPoint(3.0, 0, None), None, 40, 1.0, 60.0).delay == 60.0


def test_first_estimate_looks_again_at_a_quarter_of_the_remaining_time() -> None:
    """A one-point estimate (biased by start latency) is only trusted for a quarter of the way."""
    plan = next_poll(ProgressPoint(10.0, 100, 1100), None, 0, 1.0, 1e6)
    assert plan.eta == pytest.approx(100.0)
    assert plan.delay == pytest.approx(25.0)


def test_two_point_estimate_near_the_end_looks_just_after_the_eta() -> None:
    """With two observations and little left, the next read is just after the predicted end."""
    plan = next_poll(ProgressPoint(20.0, 200, 300), ProgressPoint(10.0, 100, 300), 0, 1.0, 1e6)
    assert plan.eta == pytest.approx(10.0)
    assert plan.delay == pytest.approx(10.0 + LEAD_SECONDS)


def test_two_point_estimate_far_from_the_end_refines_before_it() -> None:
    """With much left, the next read lands before the predicted end to refine the estimate."""
    plan = next_poll(
        ProgressPoint(20.0, 200, 100_000), ProgressPoint(10.0, 100, 100_000), 0, 1.0, 1e9
    )
    assert plan.eta is not None and plan.delay < plan.eta


def test_delay_never_drops_below_the_minimum() -> None:
    """Even when the end is imminent, reads are at least min_seconds apart."""
    plan = next_poll(ProgressPoint(20.0, 999, 1000), ProgressPoint(10.0, 500, 1000), 0, 2.0, 60.0)
    assert plan.delay == 2.0


def test_stalled_copy_backs_off_even_after_progress() -> None:
    """Progress that stops (idle reads) switches back to exponential back-off."""
    plan = next_poll(ProgressPoint(20.0, 500, 1000), ProgressPoint(10.0, 500, 1000), 2, 1.0, 60.0)
    assert plan.delay == 4.0 and plan.eta is None


def test_rate_prefers_two_observations_over_time_since_start() -> None:
    """The rate uses the last two observations when the earlier one had progress."""
    assert estimate_rate(ProgressPoint(20.0, 300, 1000), ProgressPoint(10.0, 100, 1000)) == (
        20.0,
        True,
    )
    assert estimate_rate(ProgressPoint(10.0, 100, 1000), ProgressPoint(0.0, 0, None)) == (
        10.0,
        False,
    )
    assert estimate_rate(ProgressPoint(10.0, 0, 1000), None) is None


@pytest.mark.parametrize("start_lag", [-0.05, 0.0, 0.05, 0.3, 2.0])
def test_steady_copies_need_at_most_eight_reads_at_any_duration(start_lag: float) -> None:
    """A steady copy of any duration up to a week is seen done within 8 status reads."""
    reads = [simulate_steady_copy(d, start_lag=start_lag)[0] for d in DURATIONS]
    assert max(reads) <= 8


@pytest.mark.parametrize("start_lag", [-0.05, 0.0, 0.05, 0.3, 2.0])
def test_median_detection_delay_is_under_a_second(start_lag: float) -> None:
    """The median delay between a steady copy's end and our seeing it is at most 1 s."""
    delays = [simulate_steady_copy(d, start_lag=start_lag)[1] for d in DURATIONS]
    assert statistics.median(delays) <= 1.0
    assert min(delays) >= 0.0


@pytest.mark.parametrize("end_lag", [0.1, 0.3, 0.45])
def test_finalising_shorter_than_the_lead_costs_no_extra_read(end_lag: float) -> None:
    """A copy finalising for less than LEAD_SECONDS after its last byte is still seen at once."""
    for duration in (30.0, 300.0, 3600.0):
        reads, delay = simulate_steady_copy(duration, end_lag=end_lag)
        assert reads <= 6 and 0.0 <= delay <= LEAD_SECONDS


def test_long_copy_is_detected_within_the_lead() -> None:
    """An hour-long steady copy is detected within LEAD_SECONDS of its end."""
    reads, delay = simulate_steady_copy(3600.0, start_lag=0.1)
    assert delay == pytest.approx(LEAD_SECONDS, abs=0.05) and reads <= 6
