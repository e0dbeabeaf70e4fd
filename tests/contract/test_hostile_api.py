"""Hostile input against the real handlers, in process: every refusal is a documented 4xx
naming the field, nothing is started or looked up for it, and nothing raises.

The handlers are the triggers' own (`serve_start`, `serve_get`, `serve_abort`, `serve_list`
with a `func.HttpRequest`, and `handle_queue_message`), over the fake Durable client, and each
answer is checked against openapi.json. Over real HTTP and the real queue:
tests/e2e/test_hostile_http.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import api, batchapi, httpserve, jobapi, queueapi
from shared.jobapi import Resource
from shared.requests import is_copy_id
from tests.contract.test_api_answers import check
from tests.hostile import (
    DEST_ACCOUNT,
    SOURCE_ACCOUNT,
    deep_nesting,
    hostile,
    hostile_ids,
    hostile_urls,
    huge_bodies,
    json_values,
    named_fields,
    names,
    nasty_text,
    prefix_must_be_refused,
    raw_bodies,
    url_must_be_refused,
)
from tests.unit.test_api import FakeClient, MemoryRecords, settings

BASE = "http://127.0.0.1:7071"
SRC = f"http://127.0.0.1:10000/{SOURCE_ACCOUNT}/src/a.bin"
DST = f"http://127.0.0.1:10000/{DEST_ACCOUNT}/dst/a.bin"
SRC_BOX = f"http://127.0.0.1:10000/{SOURCE_ACCOUNT}/src"
DST_BOX = f"http://127.0.0.1:10000/{DEST_ACCOUNT}/dst"
SETTINGS = settings()
COPY_FIELDS = (
    "source", "destination", "id", "overwrite", "lease_source", "metadata", "tags", "tier",
    "timeout_seconds", "poll", "snapshot_destination", "verify", "notify",
)  # fmt: skip
BATCH_FIELDS = (
    "kind", "source", "destination", "include", "exclude", "max_concurrency", "dry_run", "id",
    "overwrite", "lease_source", "metadata", "tier", "timeout_seconds", "verify", "notify",
)  # fmt: skip
LOOP = asyncio.new_event_loop()
T = TypeVar("T")


def run(work: Coroutine[Any, Any, T]) -> T:
    """One handler call on the module's loop (a new loop per example would cost more)."""
    return LOOP.run_until_complete(work)


@pytest.fixture(autouse=True, scope="module")
def _settings_of_the_triggers() -> Iterator[None]:
    """The triggers read `get_settings()`: give them the test's accounts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpserve, "get_settings", lambda: SETTINGS)
        yield


class CountingClient(FakeClient):
    """The fake Durable client, counting lookups (the SDK would put an id into a URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[str] = []

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        self.looked_up.append(instance_id)
        return await super().get_status(instance_id, show_input)


def request(
    method: str,
    path: str,
    body: bytes = b"",
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    """An HttpRequest as the worker builds it."""
    return func.HttpRequest(
        method,
        f"{BASE}/api/{path}",
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=body,
    )


def answered(response: func.HttpResponse) -> jobapi.ApiResponse:
    """The trigger's HttpResponse read back as the ApiResponse the spec checks."""
    return jobapi.ApiResponse(
        response.status_code, json.loads(response.get_body()), dict(response.headers)
    )


def refused(answer: jobapi.ApiResponse, operation: tuple[str, str]) -> set[str]:
    """Assert a documented 4xx in the API's error shape naming a field; the fields named."""
    assert 400 <= answer.status < 500, (answer.status, answer.body)
    check(operation, answer)
    named = named_fields(answer.body)
    assert named, answer.body
    return named


def post(path: str, body: bytes, client: FakeClient, kind: Resource) -> jobapi.ApiResponse:
    starter = api.start if kind is api.COPIES else batchapi.start_batch
    return answered(run(httpserve.serve_start(request("POST", path, body), client, starter)))


# --- POST /api/copies ----------------------------------------------------------------------


def copy_body(**changes: Any) -> dict[str, Any]:
    return {"source": {"url": SRC}, "destination": {"url": DST}, **changes}


@hostile(200)
@given(body=st.one_of(raw_bodies(), deep_nesting(), huge_bodies()))
def test_a_body_that_is_no_request_is_a_400_on_body(body: bytes) -> None:
    """Junk, broken JSON, JSON that is no object, huge or deeply nested bodies: 400 naming
    `body` (or, for an object, its fields), and nothing started."""
    client = FakeClient()
    answer = post("copies", body, client, api.COPIES)
    named = refused(answer, ("/copies", "post"))
    assert answer.status == 400 and not client.started
    assert "body" in named or not named.isdisjoint(COPY_FIELDS) or _is_object(body), named


def _is_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


@hostile(350)
@given(field=st.sampled_from((*COPY_FIELDS, "colour")), value=json_values())
def test_a_wrong_field_is_named(field: str, value: Any) -> None:
    """A valid request with one field set to anything: accepted, or a 4xx naming that field."""
    client = FakeClient()
    body = copy_body(**{field: value})
    answer = post("copies", json.dumps(body).encode(), client, api.COPIES)
    if answer.status == 202:
        assert field != "colour" and client.started
        return
    named = refused(answer, ("/copies", "post"))
    assert names(named, field) or (field == "source" and "destination.url" in named), named
    assert not client.started


@hostile(400)
@given(side=st.sampled_from(("source", "destination")), url=hostile_urls())
def test_a_hostile_url_is_refused_naming_it(side: str, url: str) -> None:
    """Credentials, other schemes, dot segments, control characters, a destination SAS: a 4xx
    naming `<side>.url`; a URL the rules allow is accepted or refused on that field alone."""
    client = FakeClient()
    body = copy_body(**{side: {"url": url}})
    answer = post("copies", json.dumps(body).encode(), client, api.COPIES)
    must_refuse = url_must_be_refused(url, destination=side == "destination")
    if answer.status == 202:
        assert not must_refuse, url
        return
    named = refused(answer, ("/copies", "post"))
    assert not client.started
    assert f"{side}.url" in named or (not must_refuse and named <= {"destination.url"}), named


@hostile(150)
@given(copy_id=hostile_ids())
def test_a_hostile_id_in_a_body_is_a_400_on_id(copy_id: str) -> None:
    """An id the rule refuses (`#`, `?`, `/`, `%`, controls, too long) is a 400 on `id`."""
    client = FakeClient()
    answer = post("copies", json.dumps(copy_body(id=copy_id)).encode(), client, api.COPIES)
    if answer.status == 202:
        assert is_copy_id(copy_id) and client.started
        return
    assert refused(answer, ("/copies", "post")) == {"id"} and not client.started


# --- POST /api/batches ---------------------------------------------------------------------


def batch_body(**changes: Any) -> dict[str, Any]:
    return {"source": {"url": SRC_BOX}, "destination": {"url": DST_BOX}, **changes}


@hostile(150)
@given(body=st.one_of(raw_bodies(), deep_nesting(), huge_bodies()))
def test_a_batch_body_that_is_no_request_is_a_400(body: bytes) -> None:
    """The batch route refuses what is no batch request as the copy route does."""
    client = FakeClient()
    answer = post("batches", body, client, batchapi.BATCHES)
    refused(answer, ("/batches", "post"))
    assert answer.status == 400 and not client.started


@hostile(250)
@given(field=st.sampled_from((*BATCH_FIELDS, "tags")), value=json_values())
def test_a_wrong_batch_field_is_named(field: str, value: Any) -> None:
    """A valid batch with one field set to anything: accepted, or a 4xx naming that field."""
    client = FakeClient()
    answer = post(
        "batches", json.dumps(batch_body(**{field: value})).encode(), client, batchapi.BATCHES
    )
    if answer.status == 202:
        assert field != "tags" and client.started
        return
    named = refused(answer, ("/batches", "post"))
    assert names(named, field) or (field == "source" and names(named, "destination")), named
    assert not client.started


@hostile(300)
@given(
    side=st.sampled_from(("source", "destination")),
    url=st.one_of(hostile_urls(blob=False), st.sampled_from((SRC_BOX, DST_BOX))),
    prefix=st.one_of(st.just(""), nasty_text(20), st.sampled_from(("../", "a/../", "%2e%2e/"))),
)
def test_hostile_containers_and_prefixes_are_refused_naming_them(
    side: str, url: str, prefix: str
) -> None:
    """A container URL with a query, credentials, dot segments, or a prefix that would put a
    dot segment into blob names: a 4xx naming it, nothing started."""
    client = FakeClient()
    other = "destination" if side == "source" else "source"
    body = batch_body(**{side: {"url": url, "prefix": prefix}})
    body[other]["prefix"] = "other/"  # never overlaps what was drawn by accident
    answer = post("batches", json.dumps(body).encode(), client, batchapi.BATCHES)
    bad_url = url_must_be_refused(url + "/b", destination=False) or "?" in url or "#" in url
    bad_prefix = prefix_must_be_refused(prefix)
    if answer.status == 202:
        assert not bad_url and not bad_prefix, (url, prefix)
        return
    named = refused(answer, ("/batches", "post"))
    assert not client.started
    if bad_prefix:
        assert f"{side}.prefix" in named or f"{side}.url" in named, named


# --- path ids, query strings and headers -----------------------------------------------------


@hostile(300)
@given(
    kind=st.sampled_from((api.COPIES, batchapi.BATCHES)),
    route=st.sampled_from(("get", "abort")),
    instance_id=hostile_ids(),
    body=st.one_of(st.just(b""), raw_bodies()),
    headers=st.dictionaries(st.sampled_from(("Content-Type", "Accept", "X-Functions-Key")),
                            nasty_text(), max_size=2),
)  # fmt: skip
def test_a_hostile_path_id_is_unknown_and_never_looked_up(
    kind: Resource, route: str, instance_id: str, body: bytes, headers: dict[str, str]
) -> None:
    """GET and abort of an id nobody started: 404 naming `id` (400 naming the abort body's
    field); an id the rule refuses never reaches the Durable client, which would put it into
    a URL unquoted."""
    client, records = CountingClient(), MemoryRecords()
    path = f"{kind.path}/{quote(instance_id, safe='', errors='surrogatepass')}"
    route_params = {"id": instance_id}
    if route == "get":
        req = request("GET", path, params={}, route_params=route_params, headers=headers)
        answer = answered(run(httpserve.serve_get(req, client, kind)))
        operation = (f"/{kind.path}/{{id}}", "get")
    else:
        req = request("POST", path + "/abort", body, route_params=route_params, headers=headers)
        answer = run(jobapi.abort(client, instance_id, body, BASE, None, records, kind=kind))
        assert answered(run(_serve_abort(req, client, kind))).status == answer.status
        operation = (f"/{kind.path}/{{id}}/abort", "post")
    named = refused(answer, operation)
    assert named == {"id"} or answer.status == 400, named
    assert not records.kept and not client.events
    if not is_copy_id(instance_id):
        assert not client.looked_up


async def _serve_abort(req: func.HttpRequest, client: FakeClient, kind: Resource) -> Any:
    """serve_abort with the abort records kept in memory, not the host's storage."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpserve, "abort_requests", MemoryRecords)
        return await httpserve.serve_abort(req, client, kind)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


#: Continuations: junk, base64 of junk, and base64 of JSON shaped like ours with hostile parts.
_TOKENS = st.one_of(
    nasty_text(),
    st.binary(max_size=60).map(_b64),
    json_values().map(lambda v: _b64(json.dumps(v).encode())),
    st.fixed_dictionaries({"u": json_values(), "s": json_values()}).map(
        lambda v: _b64(json.dumps(v).encode())
    ),
)
_LIMITS = st.one_of(
    nasty_text(),
    st.integers(min_value=-(10**6), max_value=10**7).map(str),
    st.sampled_from(["", " 5", "5 ", "²", "1e3", "0x10", "0", "1001", "9" * 5000, "٣"]),
)


@hostile(200)
@given(
    kind=st.sampled_from((api.COPIES, batchapi.BATCHES)),
    query=st.fixed_dictionaries(
        {},
        optional={
            "state": st.one_of(nasty_text(), st.sampled_from(["running", "RUNNING", ""])),
            "limit": _LIMITS,
            "continuation": _TOKENS,
            "code": nasty_text(),
        },
    ),
)
def test_a_hostile_list_query_is_a_400_naming_it(kind: Resource, query: dict[str, str]) -> None:
    """Bad `state`, `limit` or `continuation`: a 400 naming each; a good query lists."""
    client = FakeClient()
    asked = (query.get("state"), query.get("limit"), query.get("continuation"))
    answer = run(jobapi.list_jobs(client, *asked, kind=kind))
    operation = (f"/{kind.path}", "get")
    if answer.status == 200:
        check(operation, answer)
        return
    assert refused(answer, operation) <= {"state", "limit", "continuation"}


# --- the copy-requests queue ---------------------------------------------------------------


def _messages() -> st.SearchStrategy[bytes]:
    """Queue messages: junk, and copy, batch and abort messages with one field gone wrong."""
    copy = st.builds(lambda f, v: copy_body(**{f: v}), st.sampled_from(COPY_FIELDS), json_values())
    batch = st.builds(
        lambda f, v: batch_body(kind="batch", **{f: v}),
        st.sampled_from(BATCH_FIELDS[1:]),
        json_values(),
    )
    aborts = st.fixed_dictionaries(
        {"action": st.one_of(st.just("abort"), nasty_text()), "id": hostile_ids()},
        optional={"reason": json_values()},
    )
    urls = st.builds(lambda u: copy_body(destination={"url": u}), hostile_urls())
    objects = st.one_of(copy, batch, aborts, urls).map(lambda v: json.dumps(v).encode())
    return st.one_of(raw_bodies(), deep_nesting(), objects)


@hostile(400)
@given(message=_messages())
def test_a_hostile_queue_message_is_set_aside_with_its_reason(message: bytes) -> None:
    """A message that is no valid request is described as dropped, naming the wrong field,
    and never raises (which would retry it into the poison queue); it starts nothing and
    records no abort."""
    client, records = CountingClient(), MemoryRecords()
    outcome = run(queueapi.handle_queue_message(client, message, SETTINGS, "m-1", records))
    if not outcome.startswith("dropped"):
        assert outcome.startswith(("started ", "abort ")), outcome
        return
    said = json.loads(outcome[outcome.index("{") :])
    named = named_fields(said) or set(said)
    assert named, outcome
    assert not client.started and not records.kept and not client.events
