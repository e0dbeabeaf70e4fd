"""Queue triggers and queue output bindings against the real storage stack (Azurite)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient

from devhost.storage.stack import StorageStack
from devhost.testing import AppHost, storage_env
from tests.integration.host.host_helpers import http, wait_for

pytestmark = pytest.mark.integration

MAX_DEQUEUE_COUNT = 3  # tests/apps/queue_basics/host.json


@dataclass
class Queues:
    """The app's queues, named uniquely for this module, and every message read so far."""

    work: QueueClient
    results: QueueClient
    poison: QueueClient
    seen: dict[str, list[str]]

    def collect(self, which: str) -> list[str]:
        client = {"results": self.results, "poison": self.poison}[which]
        for message in client.receive_messages(max_messages=32):
            self.seen[which].append(str(message.content))
            client.delete_message(message)
        return self.seen[which]


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")


@pytest.fixture(scope="module")
def queues(storage_stack: StorageStack) -> Queues:
    """Fresh work, results and poison queues on the session's storage stack."""
    suffix = uuid.uuid4().hex[:12]
    conn = storage_stack.connection_string()
    work = QueueClient.from_connection_string(conn, f"work-{suffix}")
    results = QueueClient.from_connection_string(conn, f"results-{suffix}")
    poison = QueueClient.from_connection_string(conn, f"work-{suffix}-poison")
    for client in (work, results, poison):
        client.create_queue()
    return Queues(work=work, results=results, poison=poison, seen={"results": [], "poison": []})


@pytest.fixture(scope="module")
def queue_app(apps_dir: Path, storage_stack: StorageStack, queues: Queues) -> Iterator[AppHost]:
    """The queue_basics app, pointed at this module's queues."""
    env = {
        "AzureWebJobsStorage": storage_stack.connection_string(),
        "WORK_QUEUE": queues.work.queue_name,
        "RESULT_QUEUE": queues.results.queue_name,
    }
    with AppHost(apps_dir / "queue_basics", env=env) as host:
        yield host


def result_for(queues: Queues, body: str) -> dict[str, object]:
    """Wait for the app's report on the message with this body."""

    def probe() -> dict[str, object] | None:
        for raw in queues.collect("results"):
            text = unb64(raw)
            if text.startswith("{") and json.loads(text)["body"] == body:
                return dict(json.loads(text))
        return None

    return wait_for(probe, what=f"a result for {body!r}")


def test_queue_trigger_receives_message_and_metadata(queue_app: AppHost, queues: Queues) -> None:
    """A base64 message reaches the function decoded, with id, dequeue count, times and receipt."""
    sent = queues.work.send_message(b64("hello queue"))
    report = result_for(queues, "hello queue")
    assert report["id"] == sent.id
    assert report["dequeue_count"] == 1
    assert report["has_times"] is True
    assert report["has_pop_receipt"] is True


def test_failing_message_moves_to_poison_after_max_dequeue_count(
    queue_app: AppHost, queues: Queues
) -> None:
    """A message that always fails is tried maxDequeueCount times, then moved as sent to -poison."""
    raw = b64(f"fail-{uuid.uuid4().hex}")
    queues.work.send_message(raw)
    wait_for(lambda: True if raw in queues.collect("poison") else None, what="the poison message")
    output = queue_app.output()
    assert output.count(f"ValueError: asked to fail: {unb64(raw)}") == MAX_DEQUEUE_COUNT
    assert f"Message has reached MaxDequeueCount of {MAX_DEQUEUE_COUNT}" in output


def test_message_that_is_not_base64_goes_to_poison_uninvoked(
    queue_app: AppHost, queues: Queues
) -> None:
    """With base64 encoding (the default), plain text never reaches the function: it is poison."""
    raw = f"plain text {uuid.uuid4().hex}!"
    queues.work.send_message(raw)
    wait_for(lambda: True if raw in queues.collect("poison") else None, what="the poison message")
    assert "Message is not valid base64" in queue_app.output()
    assert raw not in queue_app.output()


def test_queue_output_binding_writes_base64_messages(queue_app: AppHost, queues: Queues) -> None:
    """A list set on a queue output binding becomes one base64-encoded message per item."""
    marker = uuid.uuid4().hex
    reply = http(
        "POST", f"{queue_app.base_url}/api/enqueue", body=f"one-{marker}\ntwo-{marker}".encode()
    )
    assert reply.status == 202

    def probe() -> list[str] | None:
        texts = [unb64(raw) for raw in queues.collect("results")]
        mine = [t for t in texts if t.endswith(marker)]
        return mine if len(mine) == 2 else None

    assert sorted(wait_for(probe, what="two output messages")) == [f"one-{marker}", f"two-{marker}"]


def test_queue_bindings_work_over_https(apps_dir: Path, storage_stack_https: StorageStack) -> None:
    """Against the HTTPS stack (its own CA), triggers and output bindings still reach the queues."""
    suffix = uuid.uuid4().hex[:12]
    env = {
        **storage_env(storage_stack_https),
        "WORK_QUEUE": f"w-{suffix}",
        "RESULT_QUEUE": f"r-{suffix}",
    }
    results = QueueClient.from_connection_string(
        storage_stack_https.connection_string(),
        f"r-{suffix}",
        connection_verify=str(storage_stack_https.ca_cert_path),
    )
    with AppHost(apps_dir / "queue_basics", env=env) as host:
        assert http("POST", f"{host.base_url}/api/enqueue", body=b"secure").status == 202

        def probe() -> str | None:
            texts = [unb64(str(m.content)) for m in results.receive_messages(max_messages=32)]
            return "found" if "secure" in texts else None

        wait_for(probe, what="the message sent over HTTPS")


HELD_APP = """
import asyncio
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()
SIGNALS = Path(os.environ["SIGNAL_DIR"])
running = 0
peak = 0


@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
async def held(msg: func.QueueMessage) -> None:
    global running, peak
    running += 1
    peak = max(peak, running)
    (SIGNALS / "peak").write_text(str(peak))
    (SIGNALS / f"started-{msg.id}").touch()
    while not (SIGNALS / "release").exists():
        await asyncio.sleep(0.02)
    running -= 1
    (SIGNALS / f"done-{msg.id}").touch()
"""
HELD_HOST = {
    "version": "2.0",
    "extensions": {
        "queues": {"maxPollingInterval": "00:00:00.200", "batchSize": 4, "newBatchThreshold": 4}
    },
}


def test_queue_trigger_runs_batch_size_plus_new_batch_threshold_at_once(
    tmp_path: Path, storage_stack: StorageStack
) -> None:
    """With batchSize 4 and newBatchThreshold 4, eight messages run at once and never more."""
    app, signals = tmp_path / "app", tmp_path / "signals"
    app.mkdir()
    signals.mkdir()
    (app / "function_app.py").write_text(HELD_APP)
    (app / "host.json").write_text(json.dumps(HELD_HOST))
    conn = storage_stack.connection_string()
    work = QueueClient.from_connection_string(conn, f"held-{uuid.uuid4().hex[:12]}")
    work.create_queue()
    for i in range(12):
        work.send_message(b64(f"m{i}"))
    env = {"AzureWebJobsStorage": conn, "WORK_QUEUE": work.queue_name, "SIGNAL_DIR": str(signals)}

    def count(prefix: str, wanted: int) -> int | None:
        found = len(list(signals.glob(f"{prefix}-*")))
        return found if found >= wanted else None

    with AppHost(app, env=env):
        wait_for(lambda: count("started", 8), what="eight functions running at once")
        (signals / "release").touch()
        wait_for(lambda: count("done", 12), what="every message processed")
    assert (signals / "peak").read_text() == "8"
    work.delete_queue()


def test_redelivery_setting_delivers_each_message_twice(
    apps_dir: Path, storage_stack: StorageStack
) -> None:
    """DEVHOST_QUEUE_REDELIVER=1: every message handled once is handled again (dequeue count 2)
    and then deleted, as Azure does when a host dies between the function and the delete."""
    suffix = uuid.uuid4().hex[:12]
    conn = storage_stack.connection_string()
    work = QueueClient.from_connection_string(conn, f"again-{suffix}")
    results = QueueClient.from_connection_string(conn, f"again-results-{suffix}")
    for client in (work, results):
        client.create_queue()
    env = {
        "AzureWebJobsStorage": conn,
        "WORK_QUEUE": work.queue_name,
        "RESULT_QUEUE": results.queue_name,
        "DEVHOST_QUEUE_REDELIVER": "1",
    }
    seen: list[dict[str, object]] = []

    def two_reports() -> list[dict[str, object]] | None:
        for message in results.receive_messages(max_messages=32):
            seen.append(json.loads(unb64(str(message.content))))
            results.delete_message(message)
        return seen if len(seen) >= 2 else None

    with AppHost(apps_dir / "queue_basics", env=env):
        sent = work.send_message(b64("twice"))
        wait_for(two_reports, what="two deliveries of one message")
        wait_for(
            lambda: True if work.get_queue_properties().approximate_message_count == 0 else None,
            what="the message deleted after its second delivery",
        )
    assert [(r["id"], r["dequeue_count"]) for r in seen] == [(sent.id, 1), (sent.id, 2)]
