"""The batch API and the batch request, against a fake Durable client (no I/O)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import api, jobapi, queueapi
from shared.batch_orchestration import BATCH_ORCHESTRATOR
from shared.batchapi import BATCHES, start_batch
from shared.batchrequests import BatchRequest, parse_batch_request
from shared.errors import RequestRejected
from tests.hostile import prefix_must_be_refused
from tests.unit.test_api import BASE, FakeClient, MemoryRecords, settings

SRC = "http://127.0.0.1:10000/devstoreaccount2/src"
DST = "http://127.0.0.1:10000/devstoreaccount1/dst"


def body(**extra: Any) -> dict[str, Any]:
    return {"source": {"url": SRC, "prefix": "p/"}, "destination": {"url": DST}, **extra}


async def test_a_batch_starts_with_202_location_and_the_plan_as_input() -> None:
    """202 + Location under /api/batches; the batch orchestrator gets the resolved plan."""
    client = FakeClient()
    answer = await start_batch(client, body(id="nightly"), settings(), BASE, "k")
    assert answer.status == 202 and answer.body["id"] == "nightly"
    assert answer.headers["Location"] == f"{BASE}/api/batches/nightly?code=k"
    [(name, instance_id, plan)] = client.started
    assert (name, instance_id) == (BATCH_ORCHESTRATOR, "nightly")
    assert plan["report_url"].endswith("/devstoreaccount1/blobcopy-reports/nightly.jsonl")
    assert plan["request"]["max_concurrency"] == 32


async def test_every_wrong_field_is_named_in_one_400() -> None:
    """Several mistakes at once come back together, each under its field."""
    wrong = body(max_concurrency=0, include=["*"] * 21, overwrite="sometimes", colour="red")
    answer = await start_batch(FakeClient(), wrong, settings(), BASE)
    fields = {f["field"] for f in answer.body["error"]["fields"]}
    assert answer.status == 400
    assert {"max_concurrency", "include", "overwrite", "colour"} <= fields


@pytest.mark.parametrize(
    ("source", "destination", "field", "status"),
    [
        (SRC + "/a.bin", DST, "source.url", 400),
        (SRC, DST + "/b.bin", "destination.url", 400),
        (SRC, SRC.replace("src", "other"), "destination.url", 403),
        ("https://elsewhere.example/c", DST, "source.url", 403),
        (SRC + "?sv=1&sig=x", DST, "source.url", 400),
        ("http://127.0.0.1:10000/devstoreaccount2", DST, "source.url", 400),
        (SRC, "https://acct.blob.core.windows.net/", "destination.url", 400),
    ],
)
async def test_containers_are_checked_before_any_storage_call(
    source: str, destination: str, field: str, status: int
) -> None:
    """A blob URL, a container outside the allowlist or the accounts, a SAS: each refused
    naming its field, and nothing is started."""
    client = FakeClient()
    raw = {"source": {"url": source}, "destination": {"url": destination}}
    answer = await start_batch(client, raw, settings(), BASE)
    assert answer.status == status, answer.body
    assert [f["field"] for f in answer.body["error"]["fields"]] == [field]
    assert client.started == []


async def test_an_id_reused_for_another_request_is_409_and_the_same_request_is_202() -> None:
    client = FakeClient()
    assert (await start_batch(client, body(id="b1"), settings(), BASE)).status == 202
    assert (await start_batch(client, body(id="b1"), settings(), BASE)).status == 202
    other = await start_batch(client, body(id="b1", dry_run=True), settings(), BASE)
    assert other.status == 409 and len(client.started) == 1


async def test_a_batch_is_not_a_copy_and_a_copy_is_not_a_batch() -> None:
    """Instance ids are shared by both kinds: each API answers 404 for the other's."""
    client = FakeClient()
    await start_batch(client, body(id="b2"), settings(), BASE)
    assert (await jobapi.get(client, "b2", BASE, kind=api.COPIES)).status == 404
    assert (await jobapi.get(client, "b2", BASE, kind=BATCHES)).status == 202
    aborted = await jobapi.abort(client, "b2", b"", BASE, kind=api.COPIES)
    assert aborted.status == 404 and client.events == []


async def test_a_queue_message_of_kind_batch_starts_a_batch_and_an_abort_reaches_it() -> None:
    """`"kind": "batch"` on copy-requests starts a batch under `q-<message id>`; an abort
    message for its id is raised on the batch."""
    client, records = FakeClient(), MemoryRecords()
    message = json.dumps(body(kind="batch")).encode()
    outcome = await queueapi.handle_queue_message(client, message, settings(), "m7", records)
    assert outcome == "started q-m7" and client.started[0][0] == BATCH_ORCHESTRATOR
    abort = json.dumps({"action": "abort", "id": "q-m7", "reason": "stop"}).encode()
    outcome = await queueapi.handle_queue_message(client, abort, settings(), "m8", records)
    assert outcome == "abort q-m7: 202"
    assert client.events == [("q-m7", "abort", {"reason": "stop"})]
    assert records.kept == {"q-m7": "stop"}


async def test_a_batch_timeout_beyond_what_the_source_can_sign_is_a_400() -> None:
    answer = await start_batch(FakeClient(), body(timeout_seconds=10**8), settings(), BASE)
    assert answer.status == 400
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["timeout_seconds"]


def test_overlapping_prefixes_in_one_container_are_refused() -> None:
    same = {"source": {"url": SRC, "prefix": "a/"}, "destination": {"url": SRC, "prefix": "a/b/"}}
    with pytest.raises(RequestRejected) as caught:
        parse_batch_request(same)
    assert "destination.prefix" in caught.value.fields
    apart = {"source": {"url": SRC, "prefix": "a/"}, "destination": {"url": SRC, "prefix": "b/"}}
    assert parse_batch_request(apart).destination.prefix == "b/"


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
#: Prefixes a request takes: none that would put a dot or empty segment into the names.
PREFIXES = NAMES.filter(lambda prefix: not prefix_must_be_refused(prefix))


@given(src_prefix=PREFIXES, dst_prefix=PREFIXES, rest=NAMES)
def test_a_name_maps_by_replacing_the_prefix(src_prefix: str, dst_prefix: str, rest: str) -> None:
    """Whatever the prefixes, a source name maps to the destination prefix + the same rest,
    and different names never map to one destination (the map is one to one)."""
    request = BatchRequest.model_validate(
        {
            "source": {"url": SRC, "prefix": src_prefix},
            "destination": {"url": DST, "prefix": dst_prefix},
        }
    )
    assert request.destination_name(src_prefix + rest) == dst_prefix + rest
    other = request.destination_name(src_prefix + rest + "x")
    assert other != request.destination_name(src_prefix + rest)


@given(rest=NAMES)
def test_exclude_wins_over_include(rest: str) -> None:
    """A name both included and excluded is left out; with no include, all but excluded."""
    request = BatchRequest.model_validate(
        {"source": {"url": SRC}, "destination": {"url": DST}, "include": ["*"], "exclude": ["*"]}
    )
    assert not request.selects(rest)
    everything = BatchRequest.model_validate({"source": {"url": SRC}, "destination": {"url": DST}})
    assert everything.selects(rest)


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"blob_timeout_seconds": 1209601}, 400),  # longer than Azure keeps a copy pending
        ({"blob_timeout_seconds": 10**30}, 400),  # would overflow the orchestrator's dates
        ({"blob_timeout_seconds": 0}, 400),
        ({"blob_timeout_seconds": 1209600}, 202),
        ({"blob_timeout_seconds": 300, "timeout_seconds": 300}, 202),
        ({"blob_timeout_seconds": 3600, "lease_source": "renewed"}, 202),
        # Longer than the batch's own timeout: the fuzzer sends it (no schema can say "at most
        # another field"), it is harmless, and the batch's timeout simply comes first.
        ({"blob_timeout_seconds": 2, "timeout_seconds": 1}, 202),
    ],
)
async def test_a_blob_timeout_is_bounded_by_what_azure_keeps_pending(
    extra: dict[str, Any], status: int
) -> None:
    """A blob timeout past Azure's limit on a pending copy could never fire: 400 naming it."""
    answer = await start_batch(FakeClient(), body(**extra), settings(), BASE)
    assert answer.status == status, answer.body
    if status == 400:
        assert [f["field"] for f in answer.body["error"]["fields"]] == ["blob_timeout_seconds"]


def test_a_request_without_the_newer_fields_keeps_its_older_fingerprint() -> None:
    """A batch started before blob_timeout_seconds existed, posted again with the same id
    after the upgrade, must still match its fingerprint (202, not 409): unset, the field is
    left out of the hash; set, it counts."""
    request = parse_batch_request(body(id="nightly"))
    older = {
        k: v for k, v in request.model_dump(mode="json").items() if k != "blob_timeout_seconds"
    }
    canonical = json.dumps(older, sort_keys=True, separators=(",", ":"))
    assert request.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()
    timed = parse_batch_request(body(id="nightly", blob_timeout_seconds=60))
    assert timed.fingerprint() != request.fingerprint()
