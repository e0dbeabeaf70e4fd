"""The app's configuration as the Functions host reads it: local.settings.json and host.json.

`func start` turns `local.settings.json` `Values` into environment variables (a variable already
set in the environment wins, so tests and CI can override a setting) and reads `host.json` for the
trigger extensions' options. devhost does the same and keeps the result in frozen objects, built
once at start-up, with errors that name the setting at fault.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

LOCAL_SETTINGS = "local.settings.json"
LOCAL_SETTINGS_EXAMPLE = "local.settings.json.example"
DEFAULT_HTTP_PORT = 7071
DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_STORAGE_SETTING = "AzureWebJobsStorage"

TIMER_DELAY_SETTING = "DEVHOST_TIMER_DELAY_SECONDS"
#: The share of queue messages handled successfully that are delivered once more, as Azure
#: does when the host dies (or its delete is lost) after the function ran: 0 (default) to 1.
QUEUE_REDELIVER_SETTING = "DEVHOST_QUEUE_REDELIVER"
#: How long a received queue message stays hidden while its function runs (renewed half way).
#: The Queues extension uses 10 minutes: a message whose host died reappears that much later.
#: Shorter only to let a test see that redelivery without waiting 10 minutes.
QUEUE_PROCESSING_SETTING = "DEVHOST_QUEUE_PROCESSING_SECONDS"
PROCESSING_VISIBILITY = timedelta(minutes=10)
MAX_TIMER_DELAY_SECONDS = 3600.0
MAXIMUM_SHORT_TIMER_SETTING = "DEVHOST_MAXIMUM_SHORT_TIMER_DURATION"
LONG_TIMER_INTERVAL_SETTING = "DEVHOST_LONG_RUNNING_TIMER_INTERVAL"
# The Azure Storage backend's MaximumDelayTime and LongRunningTimerIntervalLength
# (AzureStorageDurabilityProvider.cs); host.json cannot change them.
AZURE_STORAGE_MAXIMUM_SHORT_TIMER = timedelta(days=6)
AZURE_STORAGE_LONG_TIMER_INTERVAL = timedelta(days=3)

_SECONDS = r"\d+(?:\.\d+)?"
_DELAY = re.compile(rf"^\s*(?P<low>{_SECONDS})\s*(?:-\s*(?P<high>{_SECONDS})\s*)?$")
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")
_APP_SETTING_REF = re.compile(r"%([^%]+)%")


class SettingsError(ValueError):
    """Raised when local.settings.json or host.json holds a value the host cannot use."""


@dataclass(frozen=True, kw_only=True)
class QueueOptions:
    """`extensions.queues` of host.json, with the Queues extension v5 defaults."""

    max_polling_interval: timedelta = timedelta(minutes=1)
    visibility_timeout: timedelta = timedelta(0)
    batch_size: int = 16
    new_batch_threshold: int | None = None
    max_dequeue_count: int = 5
    message_encoding: Literal["base64", "none"] = "base64"
    redeliver: float = 0.0  # from DEVHOST_QUEUE_REDELIVER, not host.json
    processing_visibility: timedelta = PROCESSING_VISIBILITY  # DEVHOST_QUEUE_PROCESSING_SECONDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.redeliver <= 1.0:
            raise SettingsError(f"{QUEUE_REDELIVER_SETTING} must be a share from 0 to 1")
        if not timedelta(seconds=2) <= self.processing_visibility <= PROCESSING_VISIBILITY:
            raise SettingsError(f"{QUEUE_PROCESSING_SETTING} must be from 2 to 600 seconds")
        if not 1 <= self.batch_size <= 32:
            raise SettingsError("extensions.queues.batchSize must be between 1 and 32")
        if self.max_dequeue_count < 1:
            raise SettingsError("extensions.queues.maxDequeueCount must be at least 1")
        if self.max_polling_interval < timedelta(milliseconds=100):
            raise SettingsError("extensions.queues.maxPollingInterval must be at least 100 ms")
        if self.visibility_timeout < timedelta(0):
            raise SettingsError("extensions.queues.visibilityTimeout must not be negative")


@dataclass(frozen=True, kw_only=True)
class HostConfig:
    """What devhost uses of host.json."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    queues: QueueOptions = field(default_factory=QueueOptions)
    hub_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class LocalSettings:
    """What devhost uses of local.settings.json (or its `.example` when there is none)."""

    values: Mapping[str, str] = field(default_factory=dict)
    http_port: int | None = None
    source: Path | None = None


@dataclass(frozen=True, kw_only=True)
class TimerDelay:
    """How late every durable timer fires, uniform in [low, high] seconds.

    Azure's timers fire late: the TimerFired message becomes visible at fireAt, and then waits
    for a queue poll, a busy worker or a scale-out from zero. Code that assumes a timer fires on
    time (a lease renewed just in time, an ETA) works locally and fails there; a delay finds it.
    """

    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high <= MAX_TIMER_DELAY_SECONDS:
            raise SettingsError(
                f"{TIMER_DELAY_SETTING} must be 0 <= low <= high <= {MAX_TIMER_DELAY_SECONDS:g} "
                f"seconds, got {self.low:g}-{self.high:g}"
            )

    @classmethod
    def parse(cls, text: str) -> TimerDelay:
        """`"0"` (on time), `"2"` (always 2 s late) or `"0-3"` (uniformly 0 to 3 s late)."""
        match = _DELAY.match(text)
        if match is None:
            raise SettingsError(
                f"{TIMER_DELAY_SETTING} must be seconds like '2' or a range like '0-3', "
                f"got {text!r}"
            )
        low = float(match["low"])
        return cls(low=low, high=float(match["high"]) if match["high"] else low)

    def sample(self) -> float:
        """One timer's delay in seconds."""
        return self.low if self.low == self.high else random.uniform(self.low, self.high)


@dataclass(frozen=True, kw_only=True)
class DurableSettings:
    """What devhost's Durable engine does as the extension's Azure Storage backend would.

    `maximum_short_timer` and `long_timer_interval` go to the SDK in every context, as the
    extension sends them (`OrchestrationTriggerAttributeBindingProvider`, method
    `OrchestrationContextToString`): a longer timer is split into pieces. Tests make them short
    to run that path.
    """

    timer_delay: TimerDelay = field(default_factory=TimerDelay)
    maximum_short_timer: timedelta = AZURE_STORAGE_MAXIMUM_SHORT_TIMER
    long_timer_interval: timedelta = AZURE_STORAGE_LONG_TIMER_INTERVAL

    def __post_init__(self) -> None:
        if self.long_timer_interval <= timedelta(0):
            raise SettingsError(f"{LONG_TIMER_INTERVAL_SETTING} must be positive")
        if self.long_timer_interval > self.maximum_short_timer:
            raise SettingsError(
                f"{LONG_TIMER_INTERVAL_SETTING} must not exceed {MAXIMUM_SHORT_TIMER_SETTING} "
                "(a piece of a long timer would overshoot its deadline)"
            )


def with_queue_settings(
    options: QueueOptions, environ: Mapping[str, str] | None = None
) -> QueueOptions:
    """`options` with the DEVHOST_QUEUE_* settings applied (checked by QueueOptions)."""
    env = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for setting, attr, parse in (
        (QUEUE_REDELIVER_SETTING, "redeliver", float),
        (QUEUE_PROCESSING_SETTING, "processing_visibility", lambda t: timedelta(seconds=float(t))),
    ):
        text = env.get(setting, "").strip()
        if not text:
            continue
        try:
            changes[attr] = parse(text)
        except ValueError:
            raise SettingsError(f"{setting} must be a number, not {text!r}") from None
    return replace(options, **changes)


def load_durable_settings(environ: Mapping[str, str] | None = None) -> DurableSettings:
    """Read the DEVHOST_* Durable settings (after local.settings.json Values are exported)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    delay_text = env.get(TIMER_DELAY_SETTING, "").strip()
    if delay_text:
        values["timer_delay"] = TimerDelay.parse(delay_text)
    for setting, attr in (
        (MAXIMUM_SHORT_TIMER_SETTING, "maximum_short_timer"),
        (LONG_TIMER_INTERVAL_SETTING, "long_timer_interval"),
    ):
        text = env.get(setting, "").strip()
        if text:
            values[attr] = parse_timespan(text, setting=setting)
    return DurableSettings(**values)


def parse_timespan(text: object, *, setting: str) -> timedelta:
    """Parse a .NET TimeSpan string such as `00:00:02` or `1.00:00:00.5`."""
    match = _TIMESPAN.match(text) if isinstance(text, str) else None
    if match is None:
        raise SettingsError(f"{setting} must be a TimeSpan like '00:00:02', got {text!r}")
    return timedelta(
        days=int(match["days"] or 0),
        hours=int(match["h"]),
        minutes=int(match["m"]),
        seconds=float(match["s"]),
    )


def resolve_app_setting_refs(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `%Name%` binding expressions with the app setting's value, as the host does."""
    env = os.environ if environ is None else environ

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise SettingsError(f"app setting {name!r} (referenced as %{name}%) is not set")
        return env[name]

    return _APP_SETTING_REF.sub(lookup, text)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object")
    return data


def _int(value: object, *, setting: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{setting} must be an integer, got {value!r}")
    return value


def load_host_config(app_dir: Path) -> HostConfig:
    """Read `host.json` from the app directory; a missing file means every default."""
    path = app_dir / "host.json"
    if not path.is_file():
        return HostConfig()
    extensions = _read_json(path).get("extensions") or {}
    queues_json = extensions.get("queues") or {}
    queue_kwargs: dict[str, Any] = {}
    for key, attr in (
        ("maxPollingInterval", "max_polling_interval"),
        ("visibilityTimeout", "visibility_timeout"),
    ):
        if key in queues_json:
            queue_kwargs[attr] = parse_timespan(
                queues_json[key], setting=f"extensions.queues.{key}"
            )
    for key, attr in (
        ("batchSize", "batch_size"),
        ("newBatchThreshold", "new_batch_threshold"),
        ("maxDequeueCount", "max_dequeue_count"),
    ):
        if key in queues_json:
            queue_kwargs[attr] = _int(queues_json[key], setting=f"extensions.queues.{key}")
    if "messageEncoding" in queues_json:
        encoding = str(queues_json["messageEncoding"]).lower()
        if encoding not in ("base64", "none"):
            raise SettingsError("extensions.queues.messageEncoding must be 'base64' or 'none'")
        queue_kwargs["message_encoding"] = encoding
    http_json = extensions.get("http") or {}
    route_prefix = http_json.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(route_prefix, str):
        raise SettingsError("extensions.http.routePrefix must be a string")
    hub_name = (extensions.get("durableTask") or {}).get("hubName")
    if hub_name is not None and not isinstance(hub_name, str):
        raise SettingsError("extensions.durableTask.hubName must be a string")
    return HostConfig(
        route_prefix=route_prefix.strip("/"),
        queues=QueueOptions(**queue_kwargs),
        hub_name=hub_name,
    )


def load_local_settings(app_dir: Path) -> LocalSettings:
    """Read `local.settings.json`, else `local.settings.json.example`, else nothing."""
    for name in (LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE):
        path = app_dir / name
        if path.is_file():
            break
    else:
        return LocalSettings()
    data = _read_json(path)
    raw_values = data.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise SettingsError(f"{path}: Values must be an object")
    values = {str(k): "" if v is None else str(v) for k, v in raw_values.items()}
    port = (data.get("Host") or {}).get("LocalHttpPort")
    return LocalSettings(
        values=values,
        http_port=None if port is None else _int(port, setting=f"{path.name}: Host.LocalHttpPort"),
        source=path,
    )


def apply_local_settings(
    settings: LocalSettings, environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Export the settings' values as environment variables; return the names skipped.

    As with `func start`, a variable already present in the environment is kept, so a caller
    (a test, CI) can override any value of local.settings.json.
    """
    env = os.environ if environ is None else environ
    skipped: list[str] = []
    for name, value in settings.values.items():
        if env.get(name):
            skipped.append(name)
        else:
            env[name] = value
    return skipped


def ca_trust_environment(ca_path: Path, bundle: Path) -> dict[str, str]:
    """Environment variables that make SDK clients trust a local CA as well as the public ones.

    aiohttp (async SDK clients) reads SSL_CERT_FILE once, when imported, and requests (sync
    clients) reads REQUESTS_CA_BUNDLE: so these must be set before the host process starts.
    """
    import certifi

    bundle.write_text(Path(certifi.where()).read_text() + "\n" + ca_path.read_text())
    return {"SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)}
