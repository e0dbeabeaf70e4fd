"""Replication on the whole local stack: a test publisher writes blobs to a source container
and puts the events Event Grid would write on the replication queue, each one twice.

The messages have Event Grid's exact shapes (tests/unit/test_replication_events.py holds the
documented samples): base64 of one event's JSON, as Event Grid writes to a storage queue, half
in the Event Grid schema and half in CloudEvents 1.0, a few wrapped in an array.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, http, wait_for
from shared.replication import copy_id
from shared.replication_events import BlobEvent
from shared.settings import settings_from_env
from tests.e2e.e2e_helpers import CopyApi
from tests.e2e.replication_helpers import DEST, SOURCE, Replica, as_cloud_event
from tests.e2e.test_batch_http import BatchApi

pytestmark = pytest.mark.e2e


@pytest.fixture
def replica(e2e_stack: StorageStack) -> Iterator[tuple[Replica, AppHost]]:
    made = Replica(e2e_stack)
    try:
        with AppHost(REPO_ROOT, env=made.env) as host:
            yield made, host
    finally:
        made.remove()


def test_every_blob_replicates_once_though_each_event_comes_twice(
    replica: tuple[Replica, AppHost], e2e_stack: StorageStack
) -> None:
    """Blobs written to the source reach both rules' destinations byte-identical (one rule
    renames the prefix); every event delivered twice, in both schemas, gives one copy per
    blob, and an unreadable message is set aside with its reason."""
    made, host = replica
    copies = CopyApi(host.base_url)
    settings = settings_from_env(made.env)
    names = [f"logs/day-{i}.csv" for i in range(8)] + [f"top-{i}.bin" for i in range(6)]
    contents = {name: os.urandom(random.randint(1, 48) * 1024) for name in names}
    e2e_stack.reset_transactions()
    events = [made.write(name, data) for name, data in contents.items()]
    deliveries: list[Any] = []
    for index, event in enumerate(events):
        cloud = as_cloud_event(event)
        first, second = (event, cloud) if index % 2 else (cloud, event)
        deliveries += [first, [second]] if index % 3 == 0 else [first, second]
    random.shuffle(deliveries)
    for payload in deliveries:
        made.publish(payload)
    made.publish({"subject": "not an event"})

    expected: dict[str, tuple[ContainerClient, str, bytes]] = {}
    for event, (name, data) in zip(events, contents.items(), strict=True):
        parsed = BlobEvent(
            "created", event["id"], SOURCE, made.source.container_name, name,
            event["data"]["sequencer"], event["data"]["eTag"],
        )  # fmt: skip
        expected[copy_id(settings.replication_rules[0], parsed)] = (made.plain, name, data)
        if name.startswith("logs/"):
            renamed = "logs-copy/" + name.removeprefix("logs/")
            expected[copy_id(settings.replication_rules[1], parsed)] = (made.renamed, renamed, data)
    for instance_id in expected:
        wait_for(lambda: copies.status(instance_id).status != 404 or None, what=instance_id)  # noqa: B023
        assert copies.wait_final(instance_id, 45)["state"] == "succeeded", instance_id
    for container, name, data in expected.values():
        assert container.get_blob_client(name).download_blob().readall() == data, name

    accepted = e2e_stack.transactions().accepted_copies
    assert accepted == {
        f"{DEST}/{container.container_name}/{name}": 1 for container, name, _ in expected.values()
    }
    listed = [doc["id"] for doc in copies.list_all() if doc["id"].startswith("repl-")]
    assert sorted(listed) == sorted(expected)

    rejected = QueueClient.from_connection_string(
        e2e_stack.connection_string(), f"{made.queue_name}-rejected"
    )
    kept = wait_for(
        lambda: next(iter(rejected.receive_messages(max_messages=1)), None),
        what="the set-aside message",
    )
    doc = json.loads(base64.b64decode(kept.content))
    assert "missing" in doc["reasons"][0]["reason"] and "not an event" in doc["message"]


def ids_of(made: Replica, event: dict[str, Any]) -> dict[str, str]:
    """The copy id each rule that takes the event's blob gives it."""
    settings = settings_from_env(made.env)
    name = event["subject"].split("/blobs/", 1)[1]
    parsed = BlobEvent(
        "created", event["id"], SOURCE, made.source.container_name, name,
        event["data"]["sequencer"], event["data"].get("eTag", ""),
    )  # fmt: skip
    return {
        rule.name: copy_id(rule, parsed)
        for rule in settings.replication_rules
        if rule.source.takes(name)
    }


def rule_counts(host: AppHost) -> dict[str, dict[str, Any]]:
    """GET /api/replication, by rule name."""
    reply = http("GET", f"{host.base_url}/api/replication")
    assert reply.status == 200, reply.text
    return {rule["name"]: rule for rule in reply.json()["rules"]}


def final(copies: CopyApi, instance_id: str, limit_s: float = 45) -> dict[str, Any]:
    """The copy's final document, once the queue trigger has started it."""
    wait_for(lambda: copies.status(instance_id).status != 404 or None, what=instance_id)
    return copies.wait_final(instance_id, limit_s)


def test_writes_of_one_blob_apply_in_write_order_whatever_order_events_come(
    replica: tuple[Replica, AppHost], e2e_stack: StorageStack
) -> None:
    """Three writes of one blob, their events delivered newest first and each twice: only
    the newest is copied (one Copy Blob), the two older copies end skipped as superseded,
    and the destination holds the newest bytes (shared/replicaops.py)."""
    made, host = replica
    copies = CopyApi(host.base_url)
    versions = [os.urandom(16 * 1024) for _ in range(3)]
    e2e_stack.reset_transactions()
    events = [made.write("top-one.bin", data) for data in versions]
    for event in reversed(events):
        made.publish(event)
        made.publish(as_cloud_event(event))
    docs = [final(copies, ids_of(made, event)["plain"]) for event in events]

    assert [doc["state"] for doc in docs] == ["succeeded"] * 3
    assert [doc["skipped"] for doc in docs] == [True, True, False]
    seen = e2e_stack.transactions()
    assert seen.accepted_copies == {f"{DEST}/{made.plain.container_name}/top-one.bin": 1}
    assert "Get Blob" not in seen.by_operation  # a replica reads no abort record
    assert made.plain.get_blob_client("top-one.bin").download_blob().readall() == versions[-1]
    plain = rule_counts(host)["plain"]
    assert plain["copies"] == {
        "seen": 3, "running": 0, "succeeded": 1, "skipped": 2,
        "failed": 0, "aborted": 0, "timed_out": 0,
    }  # fmt: skip
    assert plain["oldest_running"] is None and plain["complete"] is True


def test_an_overwrite_during_a_pending_copy_ends_with_the_new_content(
    replica: tuple[Replica, AppHost], e2e_stack: StorageStack
) -> None:
    """The source is written again while its first copy is held pending: the second copy
    waits for the destination (DestinationBusy in its document) instead of failing on
    `PendingCopyOperation` or racing, and the destination ends with the new bytes."""
    made, host = replica
    copies = CopyApi(host.base_url)
    old, new = os.urandom(4 << 20), os.urandom(3 << 20)
    e2e_stack.faults.hold_copies(path=made.plain.container_name)
    try:
        first = made.write("top-big.bin", old)
        made.publish(first)
        first_id = ids_of(made, first)["plain"]
        wait_for(lambda: copies.status(first_id).status != 404 or None, what=first_id)
        copies.wait_pending(first_id)
        second = made.write("top-big.bin", new)
        made.publish(second)
        second_id = ids_of(made, second)["plain"]
        wait_for(lambda: copies.status(second_id).status != 404 or None, what=second_id)
        copies.wait_until(
            second_id,
            lambda doc: any(w["code"] == "DestinationBusy" for w in doc.get("warnings") or []),
            what="waiting for the first copy",
        )
        running = rule_counts(host)["plain"]
        assert running["copies"]["running"] == 2
        assert running["oldest_running"]["id"] == first_id
    finally:
        e2e_stack.faults.release_copies()
    first_doc, second_doc = final(copies, first_id), final(copies, second_id)

    assert first_doc["state"] == "failed"  # its source changed under it (lease_source: none)
    assert second_doc["state"] == "succeeded" and second_doc["skipped"] is False
    assert made.plain.get_blob_client("top-big.bin").download_blob().readall() == new


@pytest.fixture
def mirrored(e2e_stack: StorageStack) -> Iterator[tuple[Replica, AppHost]]:
    """Like `replica`, with the renaming rule mirroring deletes and the plain one not."""
    made = Replica(e2e_stack, deletes=True)
    try:
        with AppHost(REPO_ROOT, env=made.env) as host:
            yield made, host
    finally:
        made.remove()


def test_a_rule_with_deletes_mirrors_a_delete_and_a_rule_without_ignores_it(
    mirrored: tuple[Replica, AppHost],
) -> None:
    made, host = mirrored
    copies = CopyApi(host.base_url)
    created = made.write("logs/gone.csv", b"a,b\n")
    made.publish(created)
    for instance_id in ids_of(made, created).values():
        assert final(copies, instance_id)["state"] == "succeeded"
    mirrored_copy = made.renamed.get_blob_client("logs-copy/gone.csv")
    kept_copy = made.plain.get_blob_client("logs/gone.csv")

    made.publish(made.delete("logs/gone.csv"))
    wait_for(lambda: not mirrored_copy.exists() or None, what="the mirrored delete")
    assert kept_copy.exists()  # the same message, for the rule without deletes


def test_a_delete_never_removes_a_destination_a_newer_write_replaced(
    mirrored: tuple[Replica, AppHost],
) -> None:
    """Write, delete, write again; the delete's event comes last: the destination keeps the
    newest write, and the host says why it kept it."""
    made, host = mirrored
    copies = CopyApi(host.base_url)
    made.write("logs/back.csv", b"first\n")
    deleted = made.delete("logs/back.csv")
    rewritten = made.write("logs/back.csv", b"second\n")
    made.publish(rewritten)
    assert final(copies, ids_of(made, rewritten)["renamed"])["state"] == "succeeded"

    made.publish(deleted)
    wait_for(lambda: "newer than the delete" in host.output() or None, what="the kept delete")
    copy = made.renamed.get_blob_client("logs-copy/back.csv")
    assert copy.download_blob().readall() == b"second\n"


def backfill(host: AppHost, rule: str, body: Any = None) -> Any:
    """POST /api/replication/{rule}/backfill."""
    data = b"" if body is None else json.dumps(body).encode()
    url = f"{host.base_url}/api/replication/{rule}/backfill"
    return http("POST", url, body=data, headers={"Content-Type": "application/json"})


def test_a_backfill_copies_what_the_rules_range_already_holds_and_a_rerun_skips_it(
    replica: tuple[Replica, AppHost],
) -> None:
    """Blobs written before any event: the renaming rule's back-fill is a batch over its
    range with its options; run again, `if_newer` skips every blob."""
    made, host = replica
    batches = BatchApi(host.base_url)
    held = {f"logs/old-{i}.csv": os.urandom(4096) for i in range(3)} | {"top-old.bin": b"x"}
    for name, data in held.items():
        made.source.get_blob_client(name).upload_blob(data)

    reply = backfill(host, "renamed", {"max_concurrency": 2})
    assert reply.status == 202, reply.text
    batch_id = reply.json()["id"]
    assert batch_id.startswith("backfill-renamed-")
    assert reply.headers["location"].endswith(f"/api/batches/{batch_id}")
    doc = batches.wait_final(batch_id)
    assert doc["state"] == "succeeded"
    assert doc["counts"]["listed"] == 3 and doc["counts"]["succeeded"] == 3
    for name, data in held.items():
        if name.startswith("logs/"):
            copy = made.renamed.get_blob_client("logs-copy/" + name.removeprefix("logs/"))
            assert copy.download_blob().readall() == data
    assert list(made.plain.list_blobs()) == []  # only the rule back-filled was

    again = batches.wait_final(backfill(host, "renamed").json()["id"])
    assert again["counts"]["skipped"] == 3 and again["counts"]["succeeded"] == 0


def fields_of(reply: Any) -> dict[str, str]:
    """The named fields of an error answer."""
    return {f["field"]: f["message"] for f in reply.json()["error"]["fields"]}


def test_a_backfill_of_an_unknown_rule_or_with_a_wrong_field_names_it(
    replica: tuple[Replica, AppHost],
) -> None:
    _, host = replica
    unknown = backfill(host, "nowhere")
    assert unknown.status == 404 and fields_of(unknown) == {"rule": "unknown"}
    wrong = backfill(host, "plain", {"overwrite": "always", "max_concurrency": 0})
    assert wrong.status == 400
    assert set(fields_of(wrong)) == {"overwrite"}  # unknown fields first
    bad = backfill(host, "plain", {"max_concurrency": 0})
    assert bad.status == 400 and set(fields_of(bad)) == {"max_concurrency"}
