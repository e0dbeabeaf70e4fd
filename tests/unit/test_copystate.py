"""The orchestration input and carried state survive the Durable boundary unchanged."""

from __future__ import annotations

import datetime as dt
import json

from shared.copystate import Carry, CopyPlan
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


def test_carry_exposes_observations_for_polling() -> None:
    """The last and previous observations come back as polling Observations."""
    carry = Carry(deadline="d", last={"at": 2.0, "bytes": 5, "total": 10}, previous=None)
    last = carry.observation("last")
    assert last is not None and (last.at, last.bytes_copied, last.total_bytes) == (2.0, 5, 10)
    assert carry.observation("previous") is None


def test_every_timestamp_form_is_normalized_to_one() -> None:
    """Offsets, missing fractions and datetimes all become `...%fZ`; other text passes."""
    import datetime as dt

    from shared.timestamps import normalize

    assert normalize("2026-12-01T19:17:18+00:00") == "2026-12-01T19:17:18.000000Z"
    assert normalize("2026-12-01T20:17:18.5+01:00") == "2026-12-01T19:17:18.500000Z"
    assert normalize(dt.datetime(2026, 12, 1, 19, 17, 18)) == "2026-12-01T19:17:18.000000Z"
    assert normalize("2026-12-01T19:16:35.666156Z") == "2026-12-01T19:16:35.666156Z"
    assert normalize(None) is None and normalize("soon") == "soon"
