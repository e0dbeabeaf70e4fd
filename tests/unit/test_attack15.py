"""Hostile review of `git log 3df3c4f..d405390` (blob type check, file verify, kept snapshot
named, rule prefixes, if_newer tie-break, blob_timeout_seconds bound): pure logic.

Each test marked "Was a break, now fixed" was a break found on the code as merged (fixed in
the same change); the others are attacks that held and add coverage the changes' own tests
lack."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from shared.batchrequests import BatchRequest
from shared.contracts import VerifyJob
from shared.copylimits import MAX_PENDING_TIMEOUT_SECONDS
from shared.copyrun import kept_snapshot_named
from shared.copystate import Carry, CopyPlan
from shared.errors import CopyFailed
from shared.orchestration import copy_orchestration
from shared.replicaops import holds_the_source_or_newer
from shared.replication_status import MAX_PAGES, is_rules_copy, rule_prefixes, tally_rule
from tests.unit.fakedurable import T0, FakeContext, SimCopy, drive
from tests.unit.test_api import settings
from tests.unit.test_blobops import _ops
from tests.unit.test_replication_attack import Listing, rules, succeeded

SOURCE = "https://src.blob.core.windows.net/c/a.bin?sv=2025-01-01&sig=SECRETSIG"
DEST = "https://dst.blob.core.windows.net/c/b.bin"
KEPT = "2026-01-01T00:00:00.0000000Z"  # the fake's snapshot_destination answer


def _plan(polls: int = 100, **request: Any) -> dict[str, Any]:
    body = {"source": {"url": SOURCE}, "destination": {"url": DEST}, **request}
    return CopyPlan(
        id="copy-1",
        request=body,
        fingerprint="fp",
        created="2026-01-01T00:00:00.000000Z",
        polls_per_execution=polls,
    ).to_input()


def _rules(*names: str) -> tuple[Any, ...]:
    base = json.loads(rules())[0]
    return settings(
        BLOBCOPY_REPLICATION_RULES=json.dumps([base | {"name": n} for n in names])
    ).replication_rules


# --- kept_snapshot_named ----------------------------------------------------------------------


# Was a break, now fixed: kept_snapshot_named appends the snapshot after the failure's message,
# and warn() then cuts the message at 500 characters: a put-back that failed with a long message
# (a network error naming a long blob URL; exhausted failures are capped at exactly 500) loses the
# snapshot name, the only pointer to the destination's earlier content
def test_a_long_put_back_failure_still_names_the_kept_snapshot() -> None:
    long_url = "https://dst.blob.core.windows.net/c/" + "d/" * 200 + "b.bin"
    message = f"Connection aborted while sending PUT {long_url}"[:500]
    refused = {"ok": False, "error": {"code": "NetworkError", "message": message}}
    ctx = FakeContext(_plan(snapshot_destination=True))
    sim = SimCopy(duration=100.0, abort_at=3.0, overrides={"finish_snapshot": lambda p, t: refused})
    doc = drive(copy_orchestration(ctx), ctx, sim)
    assert doc["state"] == "aborted"
    [warning] = [w for w in doc["warnings"] if w["code"] == "SnapshotNotRestored"]
    assert KEPT in warning["message"]


def test_kept_snapshot_named_without_an_error_or_a_snapshot() -> None:
    """Held: no error message still names the snapshot; no snapshot taken leaves it alone."""
    assert KEPT in str(kept_snapshot_named(None, KEPT)["message"])  # type: ignore[index]
    assert kept_snapshot_named(None, "") is None
    error = {"code": "X", "message": "m"}
    assert kept_snapshot_named(error, "") == error


# --- rule_prefixes ----------------------------------------------------------------------------


# Was a break, now fixed: rule_prefixes splits past the 32 hex digits a copy id has: beside a rule
# `a-` + 38 hex letters it lists prefixes no id of rule `a` can start with (each one more
# management API call), and the id repl-a-<the other's first 32 hex> is in none of them
def test_rule_prefixes_stop_at_the_ids_own_32_hex_digits() -> None:
    other = "a-" + "bead" * 9 + "cc"  # 40 characters, the longest a rule name may be
    rule_a, _ = _rules("a", other)
    prefixes = rule_prefixes(rule_a, _rules("a", other))
    own = "repl-a-"
    assert max(len(p) for p in prefixes) <= len(own) + 32
    collides = own + other[2:34]  # an id of `a` (32 hex) that starts the other's ids
    assert is_rules_copy(rule_a, collides)
    assert any(collides.startswith(p) for p in prefixes)


# Was a break, now fixed: a rule's page budget is max(MAX_PAGES, len(prefixes)) and the prefixes
# grow 15 per hex character another rule's name adds: rule `backup` beside `backup-1`..`backup-99`
# (100 rules, the limit) reads 1,501 pages (sequential management API calls) for one status
# request, with not one copy in the store; the route 'stays quick' no more
async def test_a_rules_status_reads_at_most_max_pages() -> None:
    every = _rules("backup", *(f"backup-{n}" for n in range(1, 100)))
    prefixes = rule_prefixes(every[0], every)
    listings: list[Listing] = []

    def pages_for(prefix: str) -> Listing:
        listings.append(Listing([], prefix))
        return listings[-1]

    tally = await tally_rule(every[0], prefixes, pages_for, succeeded)
    assert dict(tally.states) == {} and tally.complete
    assert sum(listing.reads for listing in listings) <= MAX_PAGES


@pytest.mark.parametrize(
    "names",
    [
        ("a", "a-b"),
        ("a", "a-b", "a-bc"),
        ("a", "a-0", "a-00", "a-0f"),
        ("a", "a-b", "a-b-c", "a-bb"),
        ("a-b", "a", "a-bc"),  # the order of the rules does not matter
        ("a", *(f"a-{d}" for d in "0123456789abcdef")),  # every hex digit shadowed
    ],
)
def test_rule_prefixes_cover_every_id_of_the_rule_and_none_of_another(
    names: tuple[str, ...],
) -> None:
    """Held: for ids of every rule in the set, an id is under one of a rule's prefixes exactly
    when it is that rule's (and under at most one of them). Past MAX_PAGES prefixes the rule
    falls back to its one broad prefix, and `is_rules_copy` sorts the ids instead."""
    every = _rules(*names)
    rnd = random.Random(15)
    ids = {
        rule.name: [
            f"repl-{rule.name}-{hashlib.sha256(str(rnd.random()).encode()).hexdigest()[:32]}"
            for _ in range(400)
        ]
        for rule in every
    }
    for rule in every:
        prefixes = rule_prefixes(rule, every)
        assert len(set(prefixes)) == len(prefixes)
        broad = prefixes == [f"repl-{rule.name}-"]
        for owner, owned in ids.items():
            for i in owned:
                under = [p for p in prefixes if i.startswith(p)]
                if broad:
                    assert is_rules_copy(rule, i) == (owner == rule.name), (rule.name, i)
                    continue
                assert len(under) == (1 if owner == rule.name else 0), (rule.name, i, under)


async def test_an_exhausted_budget_marks_the_rule_incomplete() -> None:
    """Held: a prefix with more pages than the budget leaves the tally incomplete, never
    silently short, and the next prefixes are not read past the budget."""
    every = _rules("a", "a-b")
    prefixes = rule_prefixes(every[0], every)
    ids = [f"repl-a-0{n:031x}" for n in range((MAX_PAGES + 1) * 100)]
    tally = await tally_rule(every[0], prefixes, Listing.over(ids), succeeded)
    assert not tally.complete and tally.states["succeeded"] == MAX_PAGES * 100


# --- holds_the_source_or_newer ---------------------------------------------------------------


def _props(second: int, md5: bytes | None, size: int = 3, micro: int = 0) -> Any:
    when = T0 + dt.timedelta(seconds=second, microseconds=micro)
    settings_ = SimpleNamespace(content_md5=bytearray(md5) if md5 is not None else None)
    return SimpleNamespace(last_modified=when, content_settings=settings_, size=size)


@pytest.mark.parametrize(
    ("existing", "source", "kept"),
    [
        (_props(1, b"x"), _props(0, b"y"), True),  # written after: kept whatever its bytes
        (_props(0, b"x"), _props(1, b"x"), False),  # older: copied even with the same bytes
        (_props(0, b"x"), _props(0, b"x"), True),  # a tie with the same bytes: kept
        (_props(0, b"x"), _props(0, b"y"), False),  # a tie with other bytes: copied
        (_props(0, None), _props(0, b"x"), False),  # a tie without both MD5s: copied
        (_props(0, b""), _props(0, b""), False),  # empty MD5s are no MD5s
        (_props(0, b"x", 3), _props(0, b"x", 4), False),  # same MD5, other length: copied
    ],
)
def test_if_newer_ties_are_broken_by_the_bytes(existing: Any, source: Any, kept: bool) -> None:
    """Held."""
    assert holds_the_source_or_newer(existing, source) is kept


# --- start_asked_at and verify ---------------------------------------------------------------


def test_the_verify_job_carries_the_start_asked_across_continue_as_new() -> None:
    """Held: start_asked_at is orchestration time (replay-safe: two runs give the same job),
    survives continue_as_new, and a carry from an older release (without it) verifies with
    None, not a crash."""
    asked, carried = [], {}
    for _ in range(2):
        ctx = FakeContext(_plan(verify=True, polls=1))
        sim, doc = SimCopy(duration=30.0), None
        while doc is None:  # one poll per execution: several continue_as_new
            ctx.continued_with = None
            doc = drive(copy_orchestration(ctx), ctx, sim)
            if doc is None:
                carried = ctx.continued_with["carry"]
                ctx = FakeContext(ctx.continued_with, now=ctx.now)
        assert doc["state"] == "succeeded" and carried
        job = next(p for n, p in ctx.calls if n == "verify_copy")
        assert job["start_asked_at"] == carried["start_asked_at"]
        asked.append(job["start_asked_at"])
    assert asked[0] == asked[1] and asked[0].startswith("2026-01-01T00:00:00")
    old = {k: v for k, v in carried.items() if k != "start_asked_at"}
    assert Carry.from_wire(old).start_asked_at is None
    assert VerifyJob.from_wire({"source_url": "s", "destination_url": "d", "total_bytes": 1}) == (
        VerifyJob("s", "d", 1, None)
    )


# Was a break, now fixed: verify reports the `unchanged` check as made for a file source when
# there is no start_asked_at to check against (a copy continued from an older release): the answer
# claims a check it did not make
def test_verify_claims_unchanged_only_when_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    ops = _ops()
    same = SimpleNamespace(content_md5=None)
    dest = SimpleNamespace(size=3, content_settings=same)
    written = dt.datetime.now(dt.UTC)
    file = SimpleNamespace(size=3, content_settings=same, last_modified=written)
    monkeypatch.setattr(
        ops, "destination", lambda url: SimpleNamespace(get_blob_properties=lambda: dest)
    )
    monkeypatch.setitem(ops.__dict__, "files", SimpleNamespace(properties=lambda r, url: file))
    url = "https://acct.file.core.windows.net/share/f.bin"
    with pytest.raises(CopyFailed):  # asked before the write: the check is made and fails
        ops.verify(url, DEST, 3, "2000-01-01T00:00:00.000000Z")
    assert "unchanged" not in ops.verify(url, DEST, 3, None)


# --- blob_timeout_seconds ----------------------------------------------------------------------


def test_a_blob_timeout_beyond_a_pending_copys_life_is_refused_and_the_longest_taken() -> None:
    """Held: 1209600 s is accepted (longer than the batch's own timeout too), 1209601 is a
    400-shaped validation error on the field, never an overflow later."""
    base = {
        "source": {"url": "http://127.0.0.1:10000/devstoreaccount2/src"},
        "destination": {"url": "http://127.0.0.1:10000/devstoreaccount1/dst"},
        "timeout_seconds": 60,
    }
    asked = BatchRequest.model_validate(
        base | {"blob_timeout_seconds": MAX_PENDING_TIMEOUT_SECONDS}
    )
    assert asked.blob_timeout_seconds == MAX_PENDING_TIMEOUT_SECONDS
    with pytest.raises(ValidationError) as refused:
        BatchRequest.model_validate(
            base | {"blob_timeout_seconds": MAX_PENDING_TIMEOUT_SECONDS + 1}
        )
    assert refused.value.errors()[0]["loc"] == ("blob_timeout_seconds",)
