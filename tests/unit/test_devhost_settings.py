"""devhost/settings.py: the DEVHOST_* settings (Durable timers, queue delivery) and their errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devhost.settings import (
    LONG_TIMER_INTERVAL_SETTING,
    MAXIMUM_SHORT_TIMER_SETTING,
    TIMER_DELAY_SETTING,
    QueueOptions,
    SettingsError,
    TimerDelay,
    load_durable_settings,
    with_queue_settings,
)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("0", 0.0, 0.0), ("2", 2.0, 2.0), ("0-3", 0.0, 3.0), (" 0.5 - 1.5 ", 0.5, 1.5)],
)
def test_timer_delay_reads_a_fixed_value_or_a_range(text: str, low: float, high: float) -> None:
    """'2' is always 2 s late, '0-3' anywhere from 0 to 3 s."""
    delay = TimerDelay.parse(text)
    assert (delay.low, delay.high) == (low, high)
    assert all(low <= delay.sample() <= high for _ in range(50))


@pytest.mark.parametrize("text", ["-1", "3-1", "soon", "1-2-3", "nan", "1e3", "7200"])
def test_a_bad_timer_delay_names_the_setting(text: str) -> None:
    """Negative, reversed, non-numeric or huge delays are refused with the setting's name."""
    with pytest.raises(SettingsError, match=TIMER_DELAY_SETTING):
        load_durable_settings({TIMER_DELAY_SETTING: text})


def test_timers_are_on_time_by_default() -> None:
    """Unset (or empty), timers fire at their deadline."""
    assert load_durable_settings({}).timer_delay == TimerDelay()
    assert load_durable_settings({TIMER_DELAY_SETTING: ""}).timer_delay.sample() == 0.0


def test_long_timer_settings_default_to_azure_storage() -> None:
    """6 days and 3 days, AzureStorageDurabilityProvider's MaximumDelayTime and interval."""
    settings = load_durable_settings({})
    assert settings.maximum_short_timer == timedelta(days=6)
    assert settings.long_timer_interval == timedelta(days=3)


def test_long_timer_settings_read_timespans() -> None:
    """Tests shorten them with TimeSpan text, as host.json writes durations."""
    settings = load_durable_settings(
        {MAXIMUM_SHORT_TIMER_SETTING: "00:00:02", LONG_TIMER_INTERVAL_SETTING: "00:00:01"}
    )
    assert (settings.maximum_short_timer, settings.long_timer_interval) == (
        timedelta(seconds=2),
        timedelta(seconds=1),
    )


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({MAXIMUM_SHORT_TIMER_SETTING: "two seconds"}, MAXIMUM_SHORT_TIMER_SETTING),
        ({LONG_TIMER_INTERVAL_SETTING: "00:00:00"}, LONG_TIMER_INTERVAL_SETTING),
        (
            {MAXIMUM_SHORT_TIMER_SETTING: "00:00:01", LONG_TIMER_INTERVAL_SETTING: "00:00:02"},
            LONG_TIMER_INTERVAL_SETTING,
        ),
    ],
)
def test_bad_long_timer_settings_name_the_setting(values: dict[str, str], named: str) -> None:
    """Unreadable, zero, or an interval longer than the maximum (pieces would overshoot)."""
    with pytest.raises(SettingsError, match=named):
        load_durable_settings(values)


def test_queue_settings_from_the_environment_are_applied_and_checked() -> None:
    """DEVHOST_QUEUE_REDELIVER and DEVHOST_QUEUE_PROCESSING_SECONDS change the host.json
    options; unset they leave Azure's behaviour (no redelivery, 10 minutes hidden)."""
    base = QueueOptions()
    assert with_queue_settings(base, {}) == base
    assert base.processing_visibility == timedelta(minutes=10)
    env = {"DEVHOST_QUEUE_REDELIVER": "0.5", "DEVHOST_QUEUE_PROCESSING_SECONDS": "20"}
    changed = with_queue_settings(base, env)
    assert (changed.redeliver, changed.processing_visibility) == (0.5, timedelta(seconds=20))
    for bad in ({"DEVHOST_QUEUE_REDELIVER": "2"}, {"DEVHOST_QUEUE_PROCESSING_SECONDS": "x"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            with_queue_settings(base, bad)
