"""A burst of 500 BlobCreated events across two rules (one renaming the prefix), each event
delivered twice and in shuffled order, with devhost SIGKILLed and restarted in the middle:
every blob reaches its destinations byte-identical, with one accepted Copy Blob each, and
no event is lost (issue 13's "Done when").

The host reads the queue again after the kill: a message it held when it died comes back
once its visibility timeout passes (`DEVHOST_QUEUE_PROCESSING_SECONDS`, 15 s here instead of
Azure's 10 minutes), and every start is idempotent (the copy id is the rule and the write).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, wait_for
from tests.e2e.e2e_helpers import CopyApi
from tests.e2e.replication_helpers import DEST, Replica, as_cloud_event
from tests.e2e.test_replication import ids_of, rule_counts

pytestmark = pytest.mark.e2e

EVENTS = int(os.environ.get("BURST_EVENTS", "500"))
RENAMED_SHARE = 0.3  # of the blobs are under logs/, which the renaming rule takes too


@pytest.fixture
def burst(e2e_stack: StorageStack) -> Iterator[tuple[Replica, AppHost]]:
    made = Replica(e2e_stack)
    env = made.env | {
        "DEVHOST_QUEUE_REDELIVER": "1",  # every message twice
        "DEVHOST_QUEUE_PROCESSING_SECONDS": "15",
        "DEVHOST_TIMER_DELAY_SECONDS": "0-1",
    }
    try:
        with AppHost(REPO_ROOT, env=env, port=None) as host:
            yield made, host
    finally:
        made.remove()


def finished(host: AppHost, expected: int) -> dict[str, Any] | None:
    """The rules' counts once `expected` copies have ended, else None."""
    try:
        rules = rule_counts(host)
    except (OSError, AssertionError):  # the host is restarting
        return None
    ended = sum(r["copies"]["seen"] - r["copies"]["running"] for r in rules.values())
    return rules if ended >= expected else None


def test_a_burst_of_500_events_with_a_kill_in_the_middle_replicates_every_blob_once(
    burst: tuple[Replica, AppHost], e2e_stack: StorageStack
) -> None:
    made, host = burst
    rng = random.Random(13)
    names = [
        f"logs/{i:04d}.csv" if rng.random() < RENAMED_SHARE else f"data/{i:04d}.bin"
        for i in range(EVENTS)
    ]
    contents = {name: rng.randbytes(rng.randint(1, 8) * 512) for name in names}
    e2e_stack.reset_transactions()
    events = [made.write(name, data) for name, data in contents.items()]
    deliveries: list[Any] = [e if i % 2 else as_cloud_event(e) for i, e in enumerate(events)]
    rng.shuffle(deliveries)
    expected_copies = len(names) + sum(name.startswith("logs/") for name in names)

    for payload in deliveries[: len(deliveries) // 2]:
        made.publish(payload)
    wait_for(lambda: finished(host, expected_copies // 6), what="a sixth of the copies")
    host.restart(kill=True)
    for payload in deliveries[len(deliveries) // 2 :]:
        made.publish(payload)
    rules = wait_for(lambda: finished(host, expected_copies), what="every copy", limit_s=600)

    assert {name: r["copies"]["seen"] for name, r in rules.items()} == {
        "plain": len(names),
        "renamed": expected_copies - len(names),
    }
    for rule in rules.values():
        assert rule["copies"]["succeeded"] == rule["copies"]["seen"], rule
    copies = CopyApi(host.base_url)
    for event in rng.sample(events, 20):  # the documents agree with the counts
        for instance_id in ids_of(made, event).values():
            assert copies.document(instance_id)["state"] == "succeeded"
    for name, data in contents.items():
        targets = [(made.plain, name)]
        if name.startswith("logs/"):
            targets.append((made.renamed, "logs-copy/" + name.removeprefix("logs/")))
        for container, target in targets:
            copied = container.get_blob_client(target).download_blob().readall()
            assert hashlib.sha256(copied).digest() == hashlib.sha256(data).digest(), target
    accepted = e2e_stack.transactions().accepted_copies
    assert len(accepted) == expected_copies and set(accepted.values()) == {1}
    assert all(key.startswith(f"{DEST}/") for key in accepted)
