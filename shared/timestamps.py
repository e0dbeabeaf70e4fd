"""The one timestamp form that leaves the process: RFC 3339, UTC, microseconds, a `Z`.

    2026-12-01T19:16:35.666156Z

Status documents, list answers, orchestration state and abort records all use it, so a caller
(or the CLI) never sees `+00:00` beside `Z`, or seconds beside microseconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

UTC = dt.UTC


def utc(value: dt.datetime) -> dt.datetime:
    """The same instant as an aware UTC datetime (a naive one is taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: dt.datetime) -> str:
    """The instant in the one form."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> dt.datetime:
    """Inverse of `iso`; also reads any ISO-8601 instant (offsets, fewer digits)."""
    return utc(dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def parse_instant(value: Any) -> dt.datetime | None:
    """Like `parse_iso`, for values that may be absent or malformed: None then."""
    if isinstance(value, dt.datetime):
        return utc(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def normalize(value: Any) -> str | None:
    """Any timestamp we are handed (a datetime, another ISO spelling) in the one form; text
    that is not a timestamp is passed through as it is."""
    if value is None:
        return None
    instant = parse_instant(value)
    return iso(instant) if instant is not None else str(value)


def now() -> dt.datetime:
    """The wall clock, in UTC (never inside an orchestrator: use the context's time there)."""
    return dt.datetime.now(UTC)
