"""What shared.api answers validates against openapi.json, status by status, headers included."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from shared import api, jobapi
from shared.accounts import Account, AccountRegistry
from shared.instances import InstancePage
from shared.settings import Settings

SPEC = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text("utf-8"))
ORIGIN = "https://blobcopy.example.net"
SOURCE = "https://src.blob.core.windows.net/c/a.bin?sv=2024-01-01&sig=s3cr3t"
DESTINATION = "https://dst.blob.core.windows.net/c/a.bin"
SETTINGS = Settings(
    registry=AccountRegistry(
        (
            Account("src", "https://src.blob.core.windows.net"),
            Account("dst", "https://dst.blob.core.windows.net"),
        ),
        ("dst",),
    )
)
NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)


@dataclass
class Instance:
    """What DurableOrchestrationClient.get_status returns, reduced to what shared.api reads."""

    instance_id: str
    input_: Any
    runtime_status: str = "Running"
    custom_status: Any = None
    output: Any = None
    name: str = "copy_orchestrator"
    created_time: dt.datetime = NOW
    last_updated_time: dt.datetime = NOW


class FakeDurableClient:
    """An in-memory Durable client: start_new, get_status, raise_event, and instance pages."""

    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.events: list[tuple[str, str, Any]] = []

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        self.instances[instance_id] = Instance(instance_id, json.dumps(client_input))
        return instance_id

    async def get_status(self, instance_id: str, show_input: bool = False) -> Instance | None:
        return self.instances.get(instance_id)

    async def page(self, top: int, continuation: str | None) -> InstancePage:
        """The management API's instances route, paging at `top` with an offset token."""
        start = int(continuation or 0)
        rows = list(self.instances.values())[start : start + top]
        more = start + len(rows) < len(self.instances)
        return InstancePage(rows, str(start + len(rows)) if more else None)

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        self.events.append((instance_id, name, data))


def closed(schema: Any) -> Any:
    """A spec schema as strict JSON Schema: x-nullable allows null, objects allow no extra keys."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if result.pop("x-nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


def check(operation: tuple[str, str], answer: Any) -> None:
    """Fail unless `answer` is a response the spec documents for that path and method."""
    path, method = operation
    responses = SPEC["paths"][path][method]["responses"]
    assert str(answer.status) in responses, f"{method} {path} answered undocumented {answer.status}"
    response = responses[str(answer.status)]
    for header in response.get("headers", {}):
        assert header in answer.headers, f"{answer.status} lacks {header}"
    definitions = closed(copy.deepcopy(SPEC["definitions"]))
    schema = {**closed(response["schema"]), "definitions": definitions}
    Draft4Validator(schema).validate(answer.body)


def start(client: FakeDurableClient, body: Any, code: str | None = None) -> Any:
    """POST /api/copies through shared.api."""
    return asyncio.run(api.start(client, body, SETTINGS, ORIGIN, code))


def request(**changes: Any) -> dict[str, Any]:
    """A valid copy request with `changes`."""
    return {"source": {"url": SOURCE}, "destination": {"url": DESTINATION}, **changes}


def test_start_answers_as_documented() -> None:
    """202 with Location and Retry-After; the Location keeps the caller's `code`."""
    answer = start(FakeDurableClient(), request(id="c1"), code="k3y")
    check(("/copies", "post"), answer)
    assert answer.headers["Location"] == f"{ORIGIN}/api/copies/c1?code=k3y"


def test_invalid_request_answers_as_documented() -> None:
    """400 names the wrong fields in the documented error shape."""
    answer = start(FakeDurableClient(), {"source": {"url": "nope"}, "overwrite": "sometimes"})
    check(("/copies", "post"), answer)
    fields = {item["field"] for item in answer.body["error"]["fields"]}
    assert {"source.url", "destination", "overwrite"} <= fields


def test_forbidden_destination_answers_as_documented() -> None:
    """403 for a destination outside the allowlist."""
    bad = request(destination={"url": "https://src.blob.core.windows.net/c/b.bin"})
    answer = start(FakeDurableClient(), bad)
    assert answer.status == 403
    check(("/copies", "post"), answer)


def test_reused_id_answers_as_documented() -> None:
    """409 when an id comes back with a different request."""
    client = FakeDurableClient()
    start(client, request(id="c1"))
    answer = start(client, request(id="c1", verify=True))
    assert answer.status == 409
    check(("/copies", "post"), answer)


def test_status_answers_as_documented() -> None:
    """202 while running, 200 when over, 404 when unknown; each as documented."""
    client = FakeDurableClient()
    start(client, request(id="c1"))
    running = asyncio.run(jobapi.get(client, "c1", ORIGIN, kind=api.COPIES))
    assert running.status == 202
    check(("/copies/{id}", "get"), running)
    instance = client.instances["c1"]
    instance.runtime_status = "Completed"
    instance.output = running.body | {"state": "succeeded", "completed": NOW.isoformat()}
    finished = asyncio.run(jobapi.get(client, "c1", ORIGIN, kind=api.COPIES))
    assert finished.status == 200
    check(("/copies/{id}", "get"), finished)
    check(("/copies/{id}", "get"), asyncio.run(jobapi.get(client, "nope", ORIGIN, kind=api.COPIES)))


def test_abort_answers_as_documented() -> None:
    """202 while running, 409 with the final document when over, 404 unknown, 400 bad body."""
    client = FakeDurableClient()
    start(client, request(id="c1"))
    operation = ("/copies/{id}/abort", "post")
    check(
        operation,
        asyncio.run(jobapi.abort(client, "c1", b'{"reason": "test"}', ORIGIN, kind=api.COPIES)),
    )
    check(
        operation,
        asyncio.run(jobapi.abort(client, "c1", b'{"reason": 5}', ORIGIN, kind=api.COPIES)),
    )
    check(operation, asyncio.run(jobapi.abort(client, "nope", b"", ORIGIN, kind=api.COPIES)))
    client.instances["c1"].runtime_status = "Terminated"
    over = asyncio.run(jobapi.abort(client, "c1", b"", ORIGIN, kind=api.COPIES))
    assert over.status == 409
    check(operation, over)


def test_list_answers_as_documented() -> None:
    """200 with a page of copies and its continuation, 400 for a bad state, limit or token."""
    client = FakeDurableClient()
    start(client, request(id="c1"))
    start(client, request(id="c2"))
    listing = asyncio.run(jobapi.list_jobs(client, "running", kind=api.COPIES))
    check(("/copies", "get"), listing)
    assert [doc["id"] for doc in listing.body["copies"]] == ["c1", "c2"]
    assert listing.body["continuation"] is None
    first = asyncio.run(jobapi.list_jobs(client, limit="1", kind=api.COPIES))
    check(("/copies", "get"), first)
    rest = asyncio.run(
        jobapi.list_jobs(
            client, limit="1", continuation=first.body["continuation"], kind=api.COPIES
        )
    )
    assert [d["id"] for d in first.body["copies"] + rest.body["copies"]] == ["c1", "c2"]
    check(("/copies", "get"), asyncio.run(jobapi.list_jobs(client, "done", kind=api.COPIES)))
    check(("/copies", "get"), asyncio.run(jobapi.list_jobs(client, limit="0", kind=api.COPIES)))
    check(
        ("/copies", "get"), asyncio.run(jobapi.list_jobs(client, continuation="x", kind=api.COPIES))
    )


def test_answers_carry_no_signature() -> None:
    """No answer of the API repeats the source's SAS signature."""
    client = FakeDurableClient()
    answers = [
        start(client, request(id="c1")),
        asyncio.run(jobapi.get(client, "c1", ORIGIN, kind=api.COPIES)),
    ]
    answers.append(asyncio.run(jobapi.list_jobs(client, kind=api.COPIES)))
    for answer in answers:
        assert "s3cr3t" not in json.dumps(answer.body)


# --- batches: shared.batchapi answers as documented -----------------------------------------

SOURCE_CONTAINER = "https://src.blob.core.windows.net/data"
DESTINATION_CONTAINER = "https://dst.blob.core.windows.net/backup"


class FakeBatchClient(FakeDurableClient):
    """The fake Durable client, keeping the orchestrator's name (copies and batches share ids)."""

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        self.instances[instance_id] = Instance(instance_id, json.dumps(client_input), name=name)
        return instance_id


def batch_request(**changes: Any) -> dict[str, Any]:
    """A valid batch request with `changes`."""
    return {
        "source": {"url": SOURCE_CONTAINER, "prefix": "2026/"},
        "destination": {"url": DESTINATION_CONTAINER, "prefix": "copy/"},
        **changes,
    }


def start_batch(client: FakeDurableClient, body: Any, code: str | None = None) -> Any:
    """POST /api/batches through shared.batchapi."""
    from shared.batchapi import start_batch as start_it

    return asyncio.run(start_it(client, body, SETTINGS, ORIGIN, code))


def publish(client: FakeDurableClient, batch_id: str, state: str = "running") -> dict[str, Any]:
    """What the batch orchestrator publishes: a batch document as custom status while it runs,
    as output once over."""
    from shared.batchstatus import batch_document
    from shared.contracts import BatchTally
    from shared.status import State

    instance = client.instances[batch_id]
    plan = json.loads(instance.input_)
    final = state != "running"
    doc = batch_document(
        instance_id=batch_id,
        state=State(state),
        request=plan["request"],
        tally=BatchTally(listed=4, succeeded=2, failed=int(final), bytes_copied=2048),
        running=0 if final else 1,
        listing_complete=final,
        bytes_copied=2048 if final else 2560,
        total_bytes=2048 if final else 4096,
        estimated_finish=None if final else (NOW + dt.timedelta(seconds=30)).isoformat(),
        report_url=plan["report_url"],
        errors={"CopyFailed": 1} if final else {},
        created=plan["created"],
        updated=NOW.isoformat(),
        completed=NOW.isoformat() if final else None,
        error={"code": "BlobsFailed", "message": "1 of 4 blobs failed"} if final else None,
    )
    if final:
        instance.runtime_status, instance.output = "Completed", doc
    else:
        instance.custom_status = doc
    return doc


def get_batch(client: FakeDurableClient, batch_id: str) -> Any:
    from shared.batchapi import BATCHES

    return asyncio.run(jobapi.get(client, batch_id, ORIGIN, None, kind=BATCHES))


def test_start_batch_answers_as_documented() -> None:
    """202 with Location (under /api/batches, keeping `code`) and Retry-After."""
    answer = start_batch(FakeBatchClient(), batch_request(id="b1"), code="k3y")
    check(("/batches", "post"), answer)
    assert answer.status == 202
    assert answer.headers["Location"] == f"{ORIGIN}/api/batches/b1?code=k3y"
    assert answer.body == {"id": "b1", "status_url": answer.headers["Location"]}


def test_start_batch_plans_the_report_in_the_destination_account() -> None:
    """The batch's input names its report: <id>.jsonl in the destination account's
    blobcopy-reports container (the `report.url` the status document shows)."""
    client = FakeBatchClient()
    start_batch(client, batch_request(id="b1"))
    plan = json.loads(client.instances["b1"].input_)
    assert plan["report_url"] == "https://dst.blob.core.windows.net/blobcopy-reports/b1.jsonl"
    assert client.instances["b1"].name == "batch_orchestrator"


def test_invalid_batch_request_names_every_field() -> None:
    """400 names each wrong field: a query on a container URL, the concurrency bound, a
    missing destination, unknown keys."""
    bad = {
        "source": {"url": SOURCE_CONTAINER + "?sig=x"},
        "max_concurrency": 501,
        "include": [""],
        "kind": "copy",
    }
    answer = start_batch(FakeBatchClient(), bad)
    check(("/batches", "post"), answer)
    fields = {item["field"] for item in answer.body["error"]["fields"]}
    assert {"source.url", "destination", "max_concurrency", "include.0", "kind"} <= fields
    assert "sig=x" not in json.dumps(answer.body)


def test_batch_into_its_own_source_range_is_refused() -> None:
    """In one container, prefixes that overlap are a 400 on destination.prefix."""
    same = batch_request(destination={"url": SOURCE_CONTAINER, "prefix": "2026/out/"})
    answer = start_batch(FakeBatchClient(), same)
    check(("/batches", "post"), answer)
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["destination.prefix"]


def test_batch_of_a_blob_url_is_refused() -> None:
    """A URL naming a blob, not a container, is a 400 on that field."""
    answer = start_batch(FakeBatchClient(), batch_request(source={"url": SOURCE + "x"}))
    assert answer.status == 400
    check(("/batches", "post"), answer)


def test_forbidden_batch_containers_answer_as_documented() -> None:
    """403 for a destination outside the allowlist, and for a container in no configured
    account, before anything is started."""
    client = FakeBatchClient()
    into_source = batch_request(destination={"url": "https://src.blob.core.windows.net/other"})
    external = batch_request(source={"url": "https://example.org/bucket"})
    for body, field in ((into_source, "destination.url"), (external, "source.url")):
        answer = start_batch(client, body)
        assert answer.status == 403
        check(("/batches", "post"), answer)
        assert [f["field"] for f in answer.body["error"]["fields"]] == [field]
    assert client.instances == {}


def test_reused_batch_id_answers_as_documented() -> None:
    """The same request again: 202, the same batch; another request with its id: 409."""
    client = FakeBatchClient()
    start_batch(client, batch_request(id="b1"))
    assert start_batch(client, batch_request(id="b1")).status == 202
    answer = start_batch(client, batch_request(id="b1", dry_run=True))
    assert answer.status == 409
    check(("/batches", "post"), answer)


def test_batch_status_answers_as_documented() -> None:
    """202 + Retry-After while running, 200 once over, 404 for an unknown id or a copy's."""
    client = FakeBatchClient()
    start_batch(client, batch_request(id="b1"))
    publish(client, "b1")
    running = get_batch(client, "b1")
    assert running.status == 202
    check(("/batches/{id}", "get"), running)
    assert running.headers["Location"] == f"{ORIGIN}/api/batches/b1"
    assert running.body["counts"]["pending"] == 4 - 2 - 1
    publish(client, "b1", "failed")
    finished = get_batch(client, "b1")
    assert finished.status == 200
    check(("/batches/{id}", "get"), finished)
    assert finished.body["report"]["url"].endswith("/blobcopy-reports/b1.jsonl")
    start(client, request(id="c1"))
    for unknown in ("nope", "c1"):
        answer = get_batch(client, unknown)
        assert answer.status == 404
        check(("/batches/{id}", "get"), answer)


def test_a_batch_not_yet_published_or_ended_badly_still_answers_a_batch_document() -> None:
    """Before its first custom status, after the orchestrator crashed, after a terminate: the
    document is a batch's (counts, listing_complete, report), valid against BatchStatus."""
    client = FakeBatchClient()
    start_batch(client, batch_request(id="b9"))
    early = get_batch(client, "b9")
    assert early.status == 202 and early.body["counts"]["listed"] == 0
    check(("/batches/{id}", "get"), early)
    publish(client, "b9")
    instance = client.instances["b9"]
    for runtime, code in (("Failed", "OrchestratorFailed"), ("Terminated", "Terminated")):
        instance.runtime_status, instance.output = runtime, "boom"
        ended = get_batch(client, "b9")
        assert ended.status == 200 and ended.body["state"] == "failed"
        assert ended.body["error"]["code"] == code and ended.body["counts"]["succeeded"] == 2
        check(("/batches/{id}", "get"), ended)


def test_batch_abort_answers_as_documented() -> None:
    """202 under /api/batches while running, 409 with the final document under "batch" once
    over, 404 unknown, 400 for a bad body."""
    from shared.batchapi import BATCHES

    def abort(batch_id: str, body: bytes) -> Any:
        return asyncio.run(jobapi.abort(client, batch_id, body, ORIGIN, None, None, kind=BATCHES))

    client = FakeBatchClient()
    start_batch(client, batch_request(id="b1"))
    publish(client, "b1")
    operation = ("/batches/{id}/abort", "post")
    raised = abort("b1", b'{"reason": "wrong prefix"}')
    check(operation, raised)
    assert raised.headers["Location"] == f"{ORIGIN}/api/batches/b1"
    assert client.events == [("b1", "abort", {"reason": "wrong prefix"})]
    check(operation, abort("b1", b'{"reason": 5}'))
    check(operation, abort("nope", b""))
    final = publish(client, "b1", "failed")
    over = abort("b1", b"")
    assert over.status == 409
    check(operation, over)
    assert over.body["batch"] == final


def test_batch_list_answers_as_documented() -> None:
    """200 with {"batches": [...], "continuation"}, batches only; 400 for a bad query."""
    from shared.batchapi import BATCHES

    def listing(**query: Any) -> Any:
        return asyncio.run(jobapi.list_jobs(client, **query, kind=BATCHES))

    client = FakeBatchClient()
    start(client, request(id="c1"))
    for batch_id in ("b1", "b2"):
        start_batch(client, batch_request(id=batch_id))
        publish(client, batch_id)
    page = listing(state="running")
    check(("/batches", "get"), page)
    assert [doc["id"] for doc in page.body["batches"]] == ["b1", "b2"]
    assert page.body["continuation"] is None
    first = listing(limit="1")
    check(("/batches", "get"), first)
    check(("/batches", "get"), listing(state="done"))
    check(("/batches", "get"), listing(continuation="x"))
