"""The orchestration input and carried state survive the Durable boundary unchanged."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

from shared.accounts import AccountRegistry
from shared.copystate import Carry, CopyPlan
from shared.outcomes import Outcome
from shared.polling import ProgressPoint
from shared.settings import Settings
from shared.status import State
from shared.timestamps import iso, parse_iso, utc

PLAN = CopyPlan(
    id="c1",
    request={"source": {"url": "s"}, "destination": {"url": "d"}},
    fingerprint="f",
    created="2026-01-01T00:00:00.000000Z",
)


def test_iso_round_trips_and_is_utc() -> None:
    """iso/parse_iso round-trip an instant and always speak UTC with a Z."""
    moment = dt.datetime(2026, 1, 1, 12, 30, 5, 123456, tzinfo=dt.UTC)
    assert iso(moment) == "2026-01-01T12:30:05.123456Z"
    assert parse_iso(iso(moment)) == moment


def test_naive_datetimes_are_taken_as_utc() -> None:
    """A naive datetime is read as UTC, an aware one converted to UTC."""
    naive = dt.datetime(2026, 1, 1, 0, 0)
    plus_two = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc(naive) == utc(plus_two) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_plan_round_trips_through_json_text_and_dicts() -> None:
    """A plan with carried state is rebuilt equal from a dict or from JSON text."""
    plan = PLAN.with_carry(Carry(deadline="2026-01-02T00:00:00.000000Z", copy_id="x"))
    as_dict = json.loads(json.dumps(plan.to_input()))
    assert CopyPlan.from_input(as_dict) == plan
    assert CopyPlan.from_input(json.dumps(as_dict)) == plan


def test_carried_progress_and_stop_come_back_typed() -> None:
    """The carried progress points and the stop in hand survive the boundary typed; a carry an
    earlier release wrote (`bytes` / `total` keys) reads the same."""
    carry = Carry.from_wire({"deadline": "d", "last": {"at": 2.0, "bytes": 5, "total": 10}})
    assert carry.last == ProgressPoint(2.0, 5, 10) and carry.previous is None
    stop = Outcome(State.ABORTED, {"code": "Aborted", "message": "asked"})
    plan = PLAN.with_carry(replace(carry, previous=ProgressPoint(1.0, 2, 10), stopping=stop))
    again = CopyPlan.from_input(json.loads(json.dumps(plan.to_input())))
    assert again == plan and again.carry is not None
    assert isinstance(again.carry.last, ProgressPoint) and again.carry.stopping == stop


def test_plan_defaults_are_the_settings_defaults() -> None:
    """A plan built without tuning gets exactly what Settings would give (one home each)."""
    settings = Settings(registry=AccountRegistry((), (), ()))
    assert (PLAN.lease_seconds, PLAN.poll_min, PLAN.poll_max) == (
        settings.lease_seconds,
        settings.poll_min_seconds,
        settings.poll_max_seconds,
    )
    assert PLAN.retry_first_ms == int(settings.retry_first_seconds * 1000)
    assert (PLAN.timeout_seconds, PLAN.results_queue) == (
        settings.default_timeout_seconds,
        settings.results_queue,
    )


def test_every_timestamp_form_is_normalized_to_one() -> None:
    """Offsets, missing fractions and datetimes all become `...%fZ`; other text passes."""
    import datetime as dt

    from shared.timestamps import normalize

    assert normalize("2026-12-01T19:17:18+00:00") == "2026-12-01T19:17:18.000000Z"
    assert normalize("2026-12-01T20:17:18.5+01:00") == "2026-12-01T19:17:18.500000Z"
    assert normalize(dt.datetime(2026, 12, 1, 19, 17, 18)) == "2026-12-01T19:17:18.000000Z"
    assert normalize("2026-12-01T19:16:35.666156Z") == "2026-12-01T19:16:35.666156Z"
    assert normalize(None) is None and normalize("soon") == "soon"
