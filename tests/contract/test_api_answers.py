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

from shared import api
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
    running = asyncio.run(api.get(client, "c1", ORIGIN))
    assert running.status == 202
    check(("/copies/{id}", "get"), running)
    instance = client.instances["c1"]
    instance.runtime_status = "Completed"
    instance.output = running.body | {"state": "succeeded", "completed": NOW.isoformat()}
    finished = asyncio.run(api.get(client, "c1", ORIGIN))
    assert finished.status == 200
    check(("/copies/{id}", "get"), finished)
    check(("/copies/{id}", "get"), asyncio.run(api.get(client, "nope", ORIGIN)))


def test_abort_answers_as_documented() -> None:
    """202 while running, 409 with the final document when over, 404 unknown, 400 bad body."""
    client = FakeDurableClient()
    start(client, request(id="c1"))
    operation = ("/copies/{id}/abort", "post")
    check(operation, asyncio.run(api.abort(client, "c1", b'{"reason": "test"}', ORIGIN)))
    check(operation, asyncio.run(api.abort(client, "c1", b'{"reason": 5}', ORIGIN)))
    check(operation, asyncio.run(api.abort(client, "nope", b"", ORIGIN)))
    client.instances["c1"].runtime_status = "Terminated"
    over = asyncio.run(api.abort(client, "c1", b"", ORIGIN))
    assert over.status == 409
    check(operation, over)


def test_list_answers_as_documented() -> None:
    """200 with a page of copies and its continuation, 400 for a bad state, limit or token."""
    client = FakeDurableClient()
    start(client, request(id="c1"))
    start(client, request(id="c2"))
    listing = asyncio.run(api.list_copies(client, "running"))
    check(("/copies", "get"), listing)
    assert [doc["id"] for doc in listing.body["copies"]] == ["c1", "c2"]
    assert listing.body["continuation"] is None
    first = asyncio.run(api.list_copies(client, limit="1"))
    check(("/copies", "get"), first)
    rest = asyncio.run(api.list_copies(client, limit="1", continuation=first.body["continuation"]))
    assert [d["id"] for d in first.body["copies"] + rest.body["copies"]] == ["c1", "c2"]
    check(("/copies", "get"), asyncio.run(api.list_copies(client, "done")))
    check(("/copies", "get"), asyncio.run(api.list_copies(client, limit="0")))
    check(("/copies", "get"), asyncio.run(api.list_copies(client, continuation="x")))


def test_answers_carry_no_signature() -> None:
    """No answer of the API repeats the source's SAS signature."""
    client = FakeDurableClient()
    answers = [start(client, request(id="c1")), asyncio.run(api.get(client, "c1", ORIGIN))]
    answers.append(asyncio.run(api.list_copies(client)))
    for answer in answers:
        assert "s3cr3t" not in json.dumps(answer.body)
