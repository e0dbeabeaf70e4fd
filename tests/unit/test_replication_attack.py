"""Hostile input and configurations for event-driven replication (issue 13), pure logic.

Each `xfail(strict=True)` test is a break found by a hostile review: it fails on the code as
it stands and says what breaks. The others are attacks that held, kept where the existing
tests did not cover them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared import replication
from shared.blobops import BlobOps
from shared.errors import ConfigurationError
from shared.replication import handle_blob_events, set_aside, start_backfill
from shared.replication_events import MAX_EVENTS_PER_MESSAGE
from tests.unit.test_api import FakeClient, settings

TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.Storage/storageAccounts/devstoreaccount2"
)
#: Azure's queue message limit; the `-rejected` output binding writes the base64 of its text.
MAX_QUEUE_MESSAGE = 64 * 1024


def rules(**changes: Any) -> str:
    rule: dict[str, Any] = {
        "name": "replica",
        "source": {"account": "devstoreaccount2", "container": "replica-src", "prefix": "logs/"},
        "destination": {"account": "devstoreaccount1", "container": "replica-dst"},
    }
    return json.dumps([rule | changes])


def event(kind: str, name: str, sequencer: str = "00000000000004420000000000028963") -> Any:
    data: dict[str, Any] = {"api": "PutBlob", "sequencer": sequencer, "blobType": "BlockBlob"}
    if kind == "Created":
        data["eTag"] = '"0x8D4BCC2E4835CD0"'
    return {
        "topic": TOPIC,
        "subject": f"/blobServices/default/containers/replica-src/blobs/{name}",
        "eventType": f"Microsoft.Storage.Blob{kind}",
        "eventTime": "2026-12-01T10:00:00.0000000Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }


# --- the trigger must never raise for bad input (a raise means 5 deliveries, then poison) --


async def test_a_delete_event_with_a_dot_dot_name_is_set_aside_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fixed here: a BlobDeleted whose name has a `..` segment raised CopyFailed
    (InvalidBlobPath) out of mirror_deletes, retrying the message into `<queue>-poison`."""
    config = settings(BLOBCOPY_REPLICATION_RULES=rules(deletes=True))
    monkeypatch.setattr(replication, "storage", lambda: BlobOps(config))
    body = json.dumps(event("Deleted", "logs/../secret/x.csv"))
    outcome = await handle_blob_events(FakeClient(), body, config)  # must not raise
    assert outcome.rejected and outcome.deleted == []


@pytest.mark.parametrize("kind", ["Created", "Deleted"])
async def test_a_name_with_a_lone_surrogate_is_set_aside_not_raised(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixed here: a lone surrogate (a valid JSON escape) in the subject made quote() raise
    UnicodeEncodeError while the copy request was built: poison retries."""
    config = settings(BLOBCOPY_REPLICATION_RULES=rules(deletes=True))
    monkeypatch.setattr(replication, "storage", lambda: BlobOps(config))
    body = json.dumps(event(kind, "logs/a\ud800b.csv"))  # ensure_ascii: "\\ud800" on the wire
    client = FakeClient()
    outcome = await handle_blob_events(client, body, config)  # must not raise
    assert outcome.rejected and client.started == []


async def test_the_set_aside_message_of_a_small_hostile_message_fits_a_queue_message() -> None:
    """Fixed here: one reason per event, unbounded: an array of 5,000 non-objects (10 KB) made
    a set-aside of 320 KB base64, which no queue takes, so the output binding failed the
    function and the message went to poison."""
    config = settings(BLOBCOPY_REPLICATION_RULES=rules())
    body = json.dumps([1] * MAX_EVENTS_PER_MESSAGE)  # 10 KB, well within a queue message
    outcome = await handle_blob_events(FakeClient(), body, config)
    assert len(outcome.rejected) == MAX_EVENTS_PER_MESSAGE  # every one described...
    kept = set_aside(body, outcome)
    assert len(base64.b64encode(kept.encode())) <= MAX_QUEUE_MESSAGE  # ...but it must fit


# --- configurations the loader accepts that replicate without end ---------------------------


def test_rules_that_copy_into_each_others_source_are_refused() -> None:
    """Fixed here: the loader refused only a rule into its own range; two rules copying into
    each other's source loaded, and one write would have replicated for ever."""
    ping_pong = [
        {
            "name": "ping",
            "source": {"account": "devstoreaccount2", "container": "ping"},
            "destination": {"account": "devstoreaccount1", "container": "pong"},
        },
        {
            "name": "pong",
            "source": {"account": "devstoreaccount1", "container": "pong"},
            "destination": {"account": "devstoreaccount2", "container": "ping"},
        },
    ]
    with pytest.raises(ConfigurationError, match="'ping' -> 'pong' -> 'ping'"):
        settings(
            BLOBCOPY_REPLICATION_RULES=json.dumps(ping_pong),
            BLOBCOPY_ALLOWED_DESTINATIONS="devstoreaccount1,devstoreaccount2",
        )


def side(account: int, container: str, prefix: str = "") -> dict[str, str]:
    return {"account": f"devstoreaccount{account}", "container": container, "prefix": prefix}


@pytest.mark.parametrize(
    ("edges", "loop"),
    [
        ([("a", side(2, "one"), side(1, "two")), ("b", side(1, "two"), side(1, "three")),
          ("c", side(1, "three"), side(2, "one", "back/"))], "'a' -> 'b' -> 'c' -> 'a'"),
        ([("a", side(2, "one"), side(1, "two", "out/")),
          ("b", side(1, "two", "out/x/"), side(2, "one", "z/"))], "'a' -> 'b' -> 'a'"),
        ([("a", side(2, "one"), side(1, "two")), ("b", side(1, "two"), side(1, "three"))], None),
        ([("a", side(2, "one"), side(1, "two", "out/")),
          ("b", side(1, "two", "in/"), side(2, "one"))], None),
    ],
)  # fmt: skip
def test_a_loop_through_several_rules_is_refused_and_a_chain_is_not(
    edges: list[tuple[str, dict[str, str], dict[str, str]]], loop: str | None
) -> None:
    chain = [{"name": n, "source": s, "destination": d} for n, s, d in edges]
    env = {
        "BLOBCOPY_REPLICATION_RULES": json.dumps(chain),
        "BLOBCOPY_ALLOWED_DESTINATIONS": "devstoreaccount1,devstoreaccount2",
    }
    if loop is None:
        assert len(settings(**env).replication_rules) == len(chain)
        return
    with pytest.raises(ConfigurationError, match=loop):
        settings(**env)


# --- back-fill ------------------------------------------------------------------------------


# Was a break, now fixed (a batch's globs may be 1024 characters): a rule's suffix may be 256
# characters, but its back-fill glob '*<suffix>' (longer still once '[', '*', '?' are escaped)
# passed a batch's 256-character glob limit, so a rule that loads could not be back-filled.
async def test_every_rule_that_loads_can_be_back_filled() -> None:
    config = settings(BLOBCOPY_REPLICATION_RULES=rules(source={
        "account": "devstoreaccount2", "container": "replica-src", "suffix": "[x]" * 80 + ".csv",
    }))  # fmt: skip
    client = FakeClient()
    answer = await start_backfill(client, "replica", b"", config, "http://h")
    assert answer.status == 202, answer.body


@pytest.mark.parametrize(
    ("rule", "body", "status", "field"),
    [
        ("replica", b"[]", 400, "body"),
        ("replica", b"null", 400, "body"),
        ("replica", b'"text"', 400, "body"),
        ("replica", b"\xff\xfe", 400, "body"),
        ("replica", b"[" * 100_000, 400, "body"),
        ("replica", b"{" + b" " * (2 << 20) + b"}", 400, "body"),
        ("replica", b'{"source": {"url": "http://evil/x"}}', 400, "source"),
        ("replica", b'{"include": ["*"]}', 400, "include"),
        ("replica", b'{"__proto__": 1}', 400, "__proto__"),
        ("replica", b'{"max_concurrency": "8"}', 400, "max_concurrency"),
        ("replica", b'{"dry_run": "yes"}', 400, "dry_run"),
        ("replica", b'{"id": "../x"}', 400, "id"),
        ("../replica", b"", 404, "rule"),
        ("Replica", b"", 404, "rule"),
        ("replica%2F..", b"", 404, "rule"),
        ("replica\x00", b"", 404, "rule"),
    ],
)
async def test_a_hostile_back_fill_is_refused_naming_what_is_wrong(
    rule: str, body: bytes, status: int, field: str
) -> None:
    """Held: every hostile body or rule name is a 4xx naming the field; nothing starts."""
    config = settings(BLOBCOPY_REPLICATION_RULES=rules())
    client = FakeClient()
    answer = await start_backfill(client, rule, body, config, "http://h")
    assert answer.status == status, answer.body
    named = {f["field"].split(".")[0] for f in answer.body["error"]["fields"]}
    assert field in named, answer.body
    assert client.started == []


@pytest.mark.parametrize(
    ("suffix", "taken", "not_taken"),
    [
        ("[1].csv", "logs/a[1].csv", "logs/a1.csv"),
        ("*.csv", "logs/a*.csv", "logs/ab.csv"),
        ("?.csv", "logs/a?.csv", "logs/ab.csv"),
        ("].csv", "logs/a].csv", "logs/a.csv"),
    ],
)
async def test_a_back_fill_takes_exactly_the_names_its_rule_takes(
    suffix: str, taken: str, not_taken: str
) -> None:
    """Held: a suffix with glob metacharacters back-fills only the names the rule takes."""
    from shared.batchrequests import parse_batch_request

    config = settings(BLOBCOPY_REPLICATION_RULES=rules(source={
        "account": "devstoreaccount2", "container": "replica-src", "prefix": "logs/",
        "suffix": suffix,
    }))  # fmt: skip
    (rule,) = config.replication_rules
    answer_client = FakeClient()
    answer = await start_backfill(answer_client, "replica", b"", config, "http://h")
    assert answer.status == 202, answer.body
    batch = parse_batch_request(answer_client.started[0][2]["request"])
    for name in (taken, not_taken):
        relative = name.removeprefix("logs/")
        assert batch.selects(relative) == rule.source.takes(name), name


# --- GET /api/replication -------------------------------------------------------------------


class Listing:
    """Instance pages over a fixed list of ids (each copy succeeded), PAGE_SIZE at a time,
    filtered by an id prefix as the management API's `instanceIdPrefix` filters; counts the
    pages read."""

    def __init__(self, ids: list[str], prefix: str = "") -> None:
        self.ids = [i for i in ids if i.startswith(prefix)]
        self.reads = 0

    @classmethod
    def over(cls, ids: list[str]) -> Any:
        """A `pages_for`: the listing of `ids` under each prefix asked for."""
        return lambda prefix: cls(ids, prefix)

    async def page(self, top: int, continuation: str | None) -> Any:
        from types import SimpleNamespace

        from shared.instances import InstancePage

        self.reads += 1
        start = int(continuation or 0)
        chunk = self.ids[start : start + top]
        statuses = [SimpleNamespace(instance_id=i, created_time=None) for i in chunk]
        more = start + top < len(self.ids)
        return InstancePage(statuses, str(start + top) if more else None)


def succeeded(_: Any) -> dict[str, Any]:
    return {"state": "succeeded"}


def hexid(n: int) -> str:
    return f"{n:032x}"


async def test_a_rule_is_counted_apart_from_a_rule_whose_name_it_prefixes() -> None:
    """Held: `repl-a-` also lists rule `a-b`'s copies; only `a`'s own are counted."""
    from shared.replication_status import rule_prefixes, tally_rule

    config = settings(BLOBCOPY_REPLICATION_RULES=json.dumps([
        json.loads(rules())[0] | {"name": "a"},
        json.loads(rules())[0] | {"name": "a-b", "destination": {
            "account": "devstoreaccount1", "container": "other-dst"}},
    ]))  # fmt: skip
    rule_a = config.replication_rules[0]
    ids = [f"repl-a-b-{hexid(n)}" for n in range(3)] + [f"repl-a-{hexid(7)}", "repl-a-x"]
    prefixes = rule_prefixes(rule_a, config.replication_rules)
    tally = await tally_rule(rule_a, prefixes, Listing.over(ids), succeeded)
    assert dict(tally.states) == {"succeeded": 1} and tally.complete


# Was a break, now fixed (shared/replication_status.py rule_prefixes): the `instanceIdPrefix`
# listing of rule `a` (`repl-a-`) also returned every copy of rule `a-b`, and those pages
# counted against `a`'s MAX_PAGES budget: with 5,000 copies of `a-b` listed first, rule `a`
# showed 0 copies and complete: false.
async def test_a_busy_rule_does_not_hide_the_copies_of_a_rule_whose_name_prefixes_it() -> None:
    from shared.replication_status import MAX_PAGES, rule_prefixes, tally_rule

    config = settings(BLOBCOPY_REPLICATION_RULES=json.dumps([
        json.loads(rules())[0] | {"name": "a"},
        json.loads(rules())[0] | {"name": "a-b", "destination": {
            "account": "devstoreaccount1", "container": "other-dst"}},
    ]))  # fmt: skip
    rule_a = config.replication_rules[0]
    other = [f"repl-a-b-{hexid(n)}" for n in range(MAX_PAGES * 100)]
    ids = [*other, f"repl-a-{hexid(1)}", f"repl-a-b{hexid(2)[1:]}"]  # `a`'s, after `repl-a-b`
    prefixes = rule_prefixes(rule_a, config.replication_rules)
    assert len(prefixes) == 31 and not any("repl-a-b-".startswith(p) for p in prefixes)
    tally = await tally_rule(rule_a, prefixes, Listing.over(ids), succeeded)
    assert dict(tally.states) == {"succeeded": 2} and tally.complete
    rule_b = config.replication_rules[1]
    assert rule_prefixes(rule_b, config.replication_rules) == ["repl-a-b-"]  # `a` never shadows


# --- event parsing --------------------------------------------------------------------------


def test_a_trailing_newline_never_names_another_blob() -> None:
    """Fixed here: the subject pattern ended in `$`, which also matches before a trailing
    newline: a subject naming `logs/a.csv\\n` was read as blob `logs/a.csv`."""
    from shared.replication_events import BlobEvent, parse_message

    made = event("Created", "logs/a.csv")
    made["subject"] += "\n"
    (parsed,) = parse_message(json.dumps(made))
    assert not (
        isinstance(parsed, BlobEvent)
        and (parsed.name, parsed.account) == ("logs/a.csv", "devstoreaccount2")
    ), parsed
