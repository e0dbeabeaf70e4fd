"""Restoring a blob from its own snapshot or version: recognised at the edge, planned without a
lease and with a snapshot of the base, and ended keeping that snapshot (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.accounts import AZURITE_KEY, Account, BlobLocation
from shared.copyplan import build_plan
from shared.copyprops import refuse_if_leased
from shared.copystate import CopyPlan
from shared.errors import LeaseConflict, RequestRejected
from shared.orchestration import copy_orchestration
from shared.requests import parse_copy_request
from shared.restore import copies_onto_itself, point_in_time, restore_of
from tests.unit.fakedurable import FakeContext, SimCopy, drive, names
from tests.unit.test_api import DST, settings

SNAP = "2026-12-01T10:00:00.1234567Z"
VERSION = "2026-12-01T11:00:00.7654321Z"
ACCOUNT = Account("devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1", AZURITE_KEY)


def test_a_snapshot_or_version_in_the_query_is_a_point_in_time() -> None:
    """`snapshot` and `versionid` (any case) name a point in time; other queries do not."""
    assert point_in_time(f"https://a/c/b?snapshot={SNAP}") == {"snapshot": SNAP}
    assert point_in_time(f"https://a/c/b?sv=1&versionId={VERSION}") == {"version_id": VERSION}
    assert point_in_time("https://a/c/b?sv=1&sig=x") == {}
    assert copies_onto_itself("https://a/c/b", "https://a/c/b")
    assert not copies_onto_itself(f"https://a/c/b?snapshot={SNAP}", "https://a/c/b")


def test_only_a_point_in_time_of_the_destination_itself_is_a_restore() -> None:
    """Same blob (by key, however spelled) + snapshot or version: a restore; another blob's
    snapshot, or the plain blob, is not."""
    base = BlobLocation(ACCOUNT, "c", "doc.txt")
    assert restore_of(BlobLocation(ACCOUNT, "c", "doc.txt", snapshot=SNAP), base) == {
        "snapshot": SNAP
    }
    assert restore_of(BlobLocation(ACCOUNT, "c", "doc.txt", version_id=VERSION), base) == {
        "version_id": VERSION
    }
    assert restore_of(BlobLocation(ACCOUNT, "c", "other.txt", snapshot=SNAP), base) is None
    assert restore_of(BlobLocation(ACCOUNT, "c", "doc.txt"), base) is None
    assert restore_of(None, base) is None


@pytest.mark.parametrize("point", [f"snapshot={SNAP}", f"versionid={VERSION}"])
def test_a_restore_is_accepted_planned_unleased_and_snapshots_its_base(point: str) -> None:
    """POSTing a snapshot or version of the destination passes validation (it used to be a 400
    on destination.url); the plan leases nothing, marks the restore, and snapshots the base
    (host spelled otherwise: still the same blob)."""
    cfg = settings()
    source = DST.replace("127.0.0.1", "localhost") + "?" + point
    request = parse_copy_request({"source": {"url": source}, "destination": {"url": DST}}, cfg)
    plan = build_plan(request, cfg, "r-1")
    assert plan.lease == "none"
    assert plan.restore == point_in_time(source)
    assert plan.request["snapshot_destination"] is True


def test_a_restore_that_says_no_snapshot_keeps_its_word() -> None:
    """`snapshot_destination: false`, given by the caller, is not overridden."""
    cfg = settings()
    body = {
        "source": {"url": f"{DST}?snapshot={SNAP}"},
        "destination": {"url": DST},
        "snapshot_destination": False,
    }
    plan = build_plan(parse_copy_request(body, cfg), cfg, "r-2")
    assert plan.restore == {"snapshot": SNAP} and plan.request["snapshot_destination"] is False


def test_the_same_blob_onto_itself_is_still_refused() -> None:
    """Without a snapshot or version, source = destination stays a 400 on destination.url."""
    with pytest.raises(RequestRejected) as refused:
        parse_copy_request({"source": {"url": DST}, "destination": {"url": DST}}, settings())
    assert refused.value.fields == {"destination.url": "must differ from source.url"}


def _restore_plan() -> dict[str, Any]:
    body = {
        "source": {"url": f"{DST}?snapshot={SNAP}"},
        "destination": {"url": DST},
        "snapshot_destination": True,
    }
    return CopyPlan(
        id="r-1",
        request=body,
        fingerprint="fp",
        created="2026-01-01T00:00:00.000000Z",
        restore={"snapshot": SNAP},
    ).to_input()


def test_a_restore_that_succeeds_keeps_the_snapshot_of_what_it_replaced() -> None:
    """Success: the snapshot taken first is not dropped, and the document names it."""
    ctx = FakeContext(_restore_plan())
    doc = drive(copy_orchestration(ctx), ctx, SimCopy(start_status="success"))
    assert doc["state"] == "succeeded"
    assert names(ctx) == ["snapshot_destination", "start_copy"]  # no lease, no finish_snapshot
    assert doc["restore"] == {
        "snapshot": SNAP,
        "version_id": None,
        "previous_snapshot": "2026-01-01T00:00:00.0000000Z",
    }


def test_a_restore_that_is_aborted_puts_the_base_back_and_names_no_snapshot() -> None:
    """Abort: the base is restored from that snapshot (which goes), and the document says
    there is no snapshot left to undo with."""
    ctx = FakeContext(_restore_plan())
    doc = drive(copy_orchestration(ctx), ctx, SimCopy(duration=100.0, abort_at=3.0))
    assert doc["state"] == "aborted"
    finish = next(p for n, p in ctx.calls if n == "finish_snapshot")
    assert finish["restore"] is True
    assert doc["restore"]["previous_snapshot"] is None


class _Lease:
    def __init__(self, status: str, state: str) -> None:
        self.status, self.state = status, state


class _Props:
    def __init__(self, status: str, state: str) -> None:
        self.lease = _Lease(status, state)


def test_a_blob_leased_by_someone_else_is_refused_before_any_write() -> None:
    """A locked lease (leased or breaking) is DestinationLeased; an unlocked one is fine."""
    with pytest.raises(LeaseConflict) as refused:
        refuse_if_leased(_Props("locked", "leased"))
    assert refused.value.code == "DestinationLeased"
    refuse_if_leased(_Props("unlocked", "broken"))
    refuse_if_leased(_Props("unlocked", "available"))


async def test_a_restore_on_the_queue_snapshots_its_base_as_over_http() -> None:
    """The queue hands on only what the producer sent: the restore's default snapshot is not
    turned off by a re-sent `snapshot_destination: false`."""
    from shared import queueapi
    from tests.unit.test_api import FakeClient

    client = FakeClient()
    message = {
        "id": "q-r",
        "source": {"url": f"{DST}?snapshot={SNAP}"},
        "destination": {"url": DST},
    }
    assert await queueapi.handle_queue_message(client, json.dumps(message), settings()) == (
        "started q-r"
    )
    plan = client.started[0][2]
    assert plan["restore"] == {"snapshot": SNAP}
    assert plan["request"]["snapshot_destination"] is True
