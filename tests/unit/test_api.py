"""The HTTP and queue handling logic, against a fake Durable client (no I/O)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest

from shared import api, httpserve, jobapi, queueapi
from shared.instances import InstancePage
from shared.orchestration import ORCHESTRATOR
from shared.settings import Settings, settings_from_env
from shared.status import document

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SRC = "http://127.0.0.1:10000/devstoreaccount2/src/a.bin"
DST = "http://127.0.0.1:10000/devstoreaccount1/dst/a.bin"
BASE = "http://localhost:7071"
AZURE_PAGE = 100  # OrchestrationStatusQueryCondition.PageSize's default in the extension


def settings(**env: str) -> Settings:
    """Azurite's two accounts, as local.settings.json.example configures them."""
    values = {
        "BLOBCOPY_ACCOUNTS": "devstoreaccount1,devstoreaccount2",
        "BLOBCOPY_ALLOWED_DESTINATIONS": "devstoreaccount1",
    }
    for name in ("devstoreaccount1", "devstoreaccount2"):
        values[f"BLOBCOPY_ACCOUNT_{name.upper()}_CONNECTION_STRING"] = (
            f"DefaultEndpointsProtocol=http;AccountName={name};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:10000/{name};"
        )
    return settings_from_env({**values, **env})


@dataclass
class FakeStatus:
    """The attributes of DurableOrchestrationStatus the API reads."""

    instance_id: str
    input_: Any
    runtime_status: str = "Running"
    name: str = ORCHESTRATOR
    custom_status: Any = None
    output: Any = None
    created_time: Any = None
    last_updated_time: Any = None


class FakeClient:
    """An in-memory Durable client."""

    def __init__(self) -> None:
        self.instances: dict[str, FakeStatus] = {}
        self.events: list[tuple[str, str, Any]] = []
        self.started: list[tuple[str, str, Any]] = []

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        self.started.append((name, instance_id, client_input))
        self.instances[instance_id] = FakeStatus(
            instance_id, json.dumps(client_input), "Pending", name=name
        )
        return instance_id

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        return self.instances.get(instance_id)

    async def page(self, top: int, continuation: str | None) -> InstancePage:
        """The management API's `instances` route as the extension pages it: at most `top`
        (default 100) rows and an opaque token for the rest (here an offset)."""
        start = int(continuation or 0)
        rows = list(self.instances.values())[start : start + min(top, AZURE_PAGE)]
        more = start + len(rows) < len(self.instances)
        return InstancePage(rows, str(start + len(rows)) if more else None)

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        self.events.append((instance_id, name, data))


def body(**extra: Any) -> dict[str, Any]:
    """A valid copy request."""
    return {"source": {"url": SRC}, "destination": {"url": DST}, **extra}


def finish(client: FakeClient, instance_id: str, state: str) -> None:
    """Mark an instance completed with a final document."""
    found = client.instances[instance_id]
    found.runtime_status = "Completed"
    found.output = document(instance_id=instance_id, state=state, source=SRC, destination=DST)


async def test_start_answers_202_with_location_and_retry_after() -> None:
    """Starting a copy answers 202 with the status URL in Location and a Retry-After."""
    client = FakeClient()
    answer = await api.start(client, body(id="job-1"), settings(), BASE, code="k")
    assert answer.status == 202
    assert answer.headers["Location"] == f"{BASE}/api/copies/job-1?code=k"
    assert int(answer.headers["Retry-After"]) >= 1
    name, instance_id, plan = client.started[0]
    assert (name, instance_id, plan["lease"]) == (ORCHESTRATOR, "job-1", "renewed")


async def test_start_without_id_makes_a_new_one() -> None:
    """A request without id gets a fresh instance id."""
    client = FakeClient()
    first = await api.start(client, body(), settings(), BASE)
    second = await api.start(client, body(), settings(), BASE)
    assert first.body["id"] != second.body["id"] and len(client.started) == 2


async def test_same_id_same_request_returns_the_existing_copy() -> None:
    """Repeating a request with the same id starts nothing new and answers 202."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    again = await api.start(client, body(id="job-1"), settings(), BASE)
    assert again.status == 202 and len(client.started) == 1


async def test_same_id_different_request_is_a_409() -> None:
    """Reusing an id for a different request answers 409 and starts nothing."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    other = await api.start(client, body(id="job-1", verify=True), settings(), BASE)
    assert other.status == 409 and len(client.started) == 1


async def test_bad_request_is_a_400_listing_fields_and_starts_nothing() -> None:
    """Invalid input answers 400 listing each field; no orchestration starts."""
    client = FakeClient()
    answer = await api.start(client, {"source": {"url": "x"}, "tier": "x"}, settings(), BASE)
    fields = {f["field"] for f in answer.body["error"]["fields"]}
    assert answer.status == 400 and {"source.url", "destination", "tier"} <= fields
    assert client.started == []


async def test_destination_outside_the_allowlist_is_a_403() -> None:
    """A destination not allowed by BLOBCOPY_ALLOWED_DESTINATIONS answers 403."""
    client = FakeClient()
    allowed = settings(BLOBCOPY_ALLOWED_DESTINATIONS="devstoreaccount1/other")
    answer = await api.start(client, body(), allowed, BASE)
    assert answer.status == 403 and client.started == []


async def test_destination_is_refused_when_no_allowlist_is_set() -> None:
    """Without BLOBCOPY_ALLOWED_DESTINATIONS nothing may be written: the service fails closed."""
    client = FakeClient()
    answer = await api.start(client, body(), settings(BLOBCOPY_ALLOWED_DESTINATIONS=""), BASE)
    assert answer.status == 403 and client.started == []
    assert "BLOBCOPY_ALLOWED_DESTINATIONS" in answer.body["error"]["message"]


async def test_container_only_destination_is_a_400_on_the_field() -> None:
    """A destination naming a container but no blob is a malformed request (400), as the same
    URL is on the source side, not a forbidden one (issue 12: it answered 403)."""
    client = FakeClient()
    for side in ("destination", "source"):
        answer = await api.start(
            client,
            body(**{side: {"url": "http://127.0.0.1:10000/devstoreaccount1/dst"}}),
            settings(),
            BASE,
        )
        fields = [f["field"] for f in answer.body["error"]["fields"]]
        assert (answer.status, fields) == (400, [f"{side}.url"])
    assert client.started == []


async def test_destination_in_an_unconfigured_account_is_a_403() -> None:
    """A destination the service has no credentials for is outside the allowlist."""
    answer = await api.start(
        FakeClient(), body(destination={"url": "https://x.example/c/b"}), settings(), BASE
    )
    assert answer.status == 403


async def test_external_or_snapshot_sources_are_never_leased() -> None:
    """Sources outside the configured accounts, or snapshots, get lease policy none."""
    client = FakeClient()
    await api.start(client, body(source={"url": "https://example.com/f.bin"}), settings(), BASE)
    await api.start(client, body(source={"url": SRC + "?snapshot=S"}), settings(), BASE)
    assert [plan["lease"] for _, _, plan in client.started] == ["none", "none"]


async def test_status_of_a_running_copy_is_202_with_retry_after() -> None:
    """A running copy's status answers 202 with Retry-After and Location."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    answer = await jobapi.get(client, "job-1", BASE, kind=api.COPIES)
    assert answer.status == 202 and answer.body["state"] == "running"
    assert "Retry-After" in answer.headers and answer.headers["Location"].endswith("/job-1")


async def test_status_of_a_finished_copy_is_200() -> None:
    """A finished copy's status answers 200 with its final document."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    finish(client, "job-1", "succeeded")
    answer = await jobapi.get(client, "job-1", BASE, kind=api.COPIES)
    assert answer.status == 200 and answer.body["state"] == "succeeded"


async def test_unknown_id_is_a_404() -> None:
    """Status and abort of an unknown id answer 404."""
    client = FakeClient()
    assert (await jobapi.get(client, "nope", BASE, kind=api.COPIES)).status == 404
    assert (await jobapi.abort(client, "nope", b"", BASE, kind=api.COPIES)).status == 404


async def test_abort_of_a_running_copy_raises_the_event() -> None:
    """Abort of a running copy raises `abort` with the reason and answers 202."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    answer = await jobapi.abort(client, "job-1", b'{"reason": "stop"}', BASE, kind=api.COPIES)
    assert answer.status == 202 and client.events == [("job-1", "abort", {"reason": "stop"})]


async def test_abort_of_a_finished_copy_is_a_409() -> None:
    """Abort of a finished copy answers 409 and raises nothing."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    finish(client, "job-1", "failed")
    answer = await jobapi.abort(client, "job-1", b"", BASE, kind=api.COPIES)
    assert answer.status == 409 and client.events == []


class EndingClient(FakeClient):
    """A client whose instance ends (or is purged) just before raise_event reaches the host.

    DurableOrchestrationClient.raise_event (azure-functions-durable 1.7) raises a bare
    Exception on the extension's 410 ("Instance with ID ... is gone: either completed or
    failed") and 404 ("No instance with ID ... found."): HttpApiHandler answers 410 once the
    instance is Completed, Failed, Terminated or Canceled, 404 when it does not exist.
    """

    def __init__(self, ends_as: str | None) -> None:
        super().__init__()
        self.ends_as = ends_as  # None: purged

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        if self.ends_as is None:
            del self.instances[instance_id]
            raise Exception(f"No instance with ID {instance_id} found.")
        finish(self, instance_id, self.ends_as)
        raise Exception(f"Instance with ID {instance_id} is gone: either completed or failed")


async def test_abort_racing_completion_is_a_409_with_the_document() -> None:
    """An abort whose raise_event meets the extension's 410 (the copy just ended) answers 409
    with the final document, as an abort of a copy already over does, never a 500."""
    client = EndingClient(ends_as="succeeded")
    await api.start(client, body(id="job-1"), settings(), BASE)
    answer = await jobapi.abort(client, "job-1", b"", BASE, kind=api.COPIES)
    assert answer.status == 409
    assert answer.body["copy"]["state"] == "succeeded"
    assert answer.body["error"]["code"] == "Conflict"


async def test_abort_racing_a_purge_is_a_404() -> None:
    """An abort whose raise_event meets the extension's 404 (instance gone) answers 404."""
    client = EndingClient(ends_as=None)
    await api.start(client, body(id="job-1"), settings(), BASE)
    answer = await jobapi.abort(client, "job-1", b"", BASE, kind=api.COPIES)
    assert answer.status == 404


async def test_abort_that_fails_while_the_copy_runs_is_not_hidden() -> None:
    """A raise_event failure while the copy still runs (not a race with its end) propagates."""

    class Broken(FakeClient):
        async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
            raise Exception("Webhook returned unrecognized status code 503")

    client = Broken()
    await api.start(client, body(id="job-1"), settings(), BASE)
    try:
        await jobapi.abort(client, "job-1", b"", BASE, kind=api.COPIES)
    except Exception as exc:
        assert "503" in str(exc)
    else:
        raise AssertionError("the failure was swallowed")


async def test_abort_with_a_bad_body_is_a_400() -> None:
    """An abort body that is not JSON, or a non-string reason, answers 400."""
    client = FakeClient()
    await api.start(client, body(id="job-1"), settings(), BASE)
    assert (await jobapi.abort(client, "job-1", b"{", BASE, kind=api.COPIES)).status == 400
    assert (
        await jobapi.abort(client, "job-1", b'{"reason": 5}', BASE, kind=api.COPIES)
    ).status == 400


async def test_list_filters_by_state() -> None:
    """The list answers 200 with every copy, or only those in the requested state."""
    client = FakeClient()
    for n in range(3):
        await api.start(client, body(id=f"job-{n}"), settings(), BASE)
    finish(client, "job-0", "succeeded")
    everything = await jobapi.list_jobs(client, kind=api.COPIES)
    running = await jobapi.list_jobs(client, "running", kind=api.COPIES)
    assert everything.status == running.status == 200
    assert len(everything.body["copies"]) == 3
    assert sorted(d["id"] for d in running.body["copies"]) == ["job-1", "job-2"]


async def list_every_page(
    client: FakeClient, state: str | None = None, limit: str | None = None
) -> list[dict[str, Any]]:
    """GET /api/copies page after page, following `continuation` until it is null."""
    docs: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        answer = await jobapi.list_jobs(client, state, limit, continuation=token, kind=api.COPIES)
        assert answer.status == 200, answer.body
        docs += answer.body["copies"]
        token = answer.body["continuation"]
        if token is None:
            return docs
    raise AssertionError("the continuation never ended")


async def test_list_reaches_copies_past_the_first_hundred() -> None:
    """With 250 copies and a management API that pages at 100 (as Azure's does), following the
    API's own continuation returns every copy once, in pages of at most `limit`."""
    client = FakeClient()
    for n in range(250):
        await api.start(client, body(id=f"job-{n:03}"), settings(), BASE)
    first = await jobapi.list_jobs(client, limit="40", kind=api.COPIES)
    assert len(first.body["copies"]) == 40 and first.body["continuation"]
    ids = [d["id"] for d in await list_every_page(client, limit="70")]
    assert ids == [f"job-{n:03}" for n in range(250)]
    assert len(await list_every_page(client)) == 250


async def test_list_pages_a_filter_and_a_server_that_does_not_page() -> None:
    """A state filter pages over matching copies only; a management API that answers every
    row at once and no token (devhost before paging) gives the same result."""

    class Unpaged(FakeClient):
        async def page(self, top: int, continuation: str | None) -> InstancePage:
            return InstancePage(list(self.instances.values()), None)

    for client in (FakeClient(), Unpaged()):
        for n in range(230):
            await api.start(client, body(id=f"job-{n:03}"), settings(), BASE)
        for n in range(0, 230, 3):
            finish(client, f"job-{n:03}", "succeeded")
        done = [d["id"] for d in await list_every_page(client, state="succeeded", limit="7")]
        assert done == [f"job-{n:03}" for n in range(0, 230, 3)]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5", ""])
async def test_list_with_a_bad_limit_is_a_400_naming_it(limit: str) -> None:
    """`limit` outside 1..1000 or not an integer answers 400 naming `limit`."""
    answer = await jobapi.list_jobs(FakeClient(), limit=limit, kind=api.COPIES)
    assert answer.status == 400
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["limit"]


@pytest.mark.parametrize("token", ["garbage", "eyJ4IjogMX0", "bnVsbA"])
async def test_list_with_a_continuation_it_never_gave_is_a_400(token: str) -> None:
    """A continuation this API did not give answers 400 naming `continuation`, not 500."""
    answer = await jobapi.list_jobs(FakeClient(), continuation=token, kind=api.COPIES)
    assert answer.status == 400
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["continuation"]


async def test_list_with_an_unknown_state_is_a_400() -> None:
    """A state filter outside the five states answers 400 naming `state`."""
    answer = await jobapi.list_jobs(FakeClient(), "paused", kind=api.COPIES)
    assert answer.status == 400 and answer.body["error"]["fields"][0]["field"] == "state"


async def test_queue_copy_message_starts_a_copy() -> None:
    """A valid copy message starts an orchestration."""
    client = FakeClient()
    outcome = await queueapi.handle_queue_message(client, json.dumps(body(id="q-1")), settings())
    assert outcome == "started q-1" and client.started[0][1] == "q-1"


async def test_queue_message_and_http_request_are_the_same_request() -> None:
    """The same request sent by HTTP and then by queue is recognised as one copy."""
    client = FakeClient()
    await api.start(client, body(id="q-1"), settings(), BASE)
    outcome = await queueapi.handle_queue_message(client, json.dumps(body(id="q-1")), settings())
    assert outcome == "started q-1" and len(client.started) == 1


async def test_queue_abort_message_raises_the_event() -> None:
    """`{"action": "abort", "id": ...}` aborts the running copy."""
    client = FakeClient()
    await api.start(client, body(id="q-1"), settings(), BASE)
    await queueapi.handle_queue_message(client, b'{"action": "abort", "id": "q-1"}', settings())
    assert client.events == [("q-1", "abort", {"reason": None})]


async def test_invalid_queue_message_is_described_not_raised() -> None:
    """A bad message yields a 'dropped' description naming the fields; nothing starts."""
    client = FakeClient()
    outcome = await queueapi.handle_queue_message(client, b'{"source": 1}', settings())
    assert outcome.startswith("dropped") and "destination" in outcome and not client.started
    assert (await queueapi.handle_queue_message(client, b"not json", settings())).startswith(
        "dropped"
    )


async def test_dot_segments_are_refused_over_http_and_the_queue() -> None:
    """A destination that climbs out of its container (`allowed/%2e%2e/other`) is a 400 naming
    destination.url over HTTP, and a dropped message naming it on the queue; nothing starts."""
    client = FakeClient()
    climbing = DST.replace("/dst/", "/dst/%2e%2e/other/")
    answer = await api.start(client, body(destination={"url": climbing}), settings(), BASE)
    assert answer.status == 400
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["destination.url"]
    message = json.dumps(body(destination={"url": climbing})).encode()
    outcome = await queueapi.handle_queue_message(client, message, settings())
    assert outcome.startswith("dropped") and "destination.url" in outcome
    assert client.started == []


def test_retry_after_counts_down_to_the_estimated_finish() -> None:
    """Retry-After is the time left until the absolute estimated finish, in [1, 60] seconds."""
    doc = {"progress": {"estimated_finish": "2026-01-01T00:00:30.000000Z"}}
    at = dt.datetime(2026, 1, 1, 0, 0, 10, tzinfo=dt.UTC)
    assert jobapi.retry_after(doc, at) == "20"
    assert jobapi.retry_after(doc, at + dt.timedelta(minutes=5)) == "1"
    far = {"progress": {"estimated_finish": "2026-01-02T00:00:00Z"}}
    assert jobapi.retry_after(far, at) == "60"
    assert jobapi.retry_after({"progress": {"estimated_finish": None}}) == "2"


def test_retry_after_ignores_an_old_relative_eta_republished_later() -> None:
    """A stale eta_seconds beside a fresh `updated` (as a continue_as_new republished it) does
    not stretch Retry-After: only the absolute estimate counts (issue 16, bug 11)."""
    doc = {
        "updated": "2026-01-01T00:00:30.000000Z",
        "progress": {"eta_seconds": 49.0, "estimated_finish": "2026-01-01T00:00:49.000000Z"},
    }
    assert jobapi.retry_after(doc, dt.datetime(2026, 1, 1, 0, 0, 30, tzinfo=dt.UTC)) == "19"


class RacingClient(FakeClient):
    """A client whose first status read misses an instance another caller is starting."""

    def __init__(self) -> None:
        super().__init__()
        self.misses = 1

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        if self.misses:
            self.misses -= 1
            return None
        return await super().get_status(instance_id, show_input)

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        if instance_id in self.instances:
            raise RuntimeError("An instance with this id already exists")
        return await super().start_new(name, instance_id, client_input)


async def test_start_that_loses_a_race_returns_the_winner() -> None:
    """If start_new fails because the same request just started, the answer is still 202."""
    client = RacingClient()
    client.misses = 0
    await api.start(client, body(id="job-1"), settings(), BASE)
    client.misses = 1
    answer = await api.start(client, body(id="job-1"), settings(), BASE)
    assert answer.status == 202 and len(client.started) == 1


async def test_redelivered_queue_message_finds_its_copy() -> None:
    """A message without id delivered twice (same message id) starts one copy, not two."""
    client = FakeClient()
    message = json.dumps(body())
    first = await queueapi.handle_queue_message(client, message, settings(), "m-1")
    again = await queueapi.handle_queue_message(client, message, settings(), "m-1")
    assert first == again == "started q-m-1" and len(client.started) == 1


async def test_plan_carries_timeout_and_settings() -> None:
    """The orchestration input carries the request's timeout, else the configured default."""
    client = FakeClient()
    await api.start(client, body(id="a", timeout_seconds=60), settings(), BASE)
    await api.start(client, body(id="b"), settings(BLOBCOPY_LEASE_SECONDS="30"), BASE)
    plans = {instance_id: plan for _, instance_id, plan in client.started}
    assert plans["a"]["timeout_seconds"] == 60 and plans["b"]["timeout_seconds"] == 86400
    assert plans["b"]["lease_seconds"] == 30 and plans["a"]["fingerprint"]


async def test_source_naming_only_a_container_is_a_400() -> None:
    """A source URL in a configured account must name a blob, not just a container."""
    client = FakeClient()
    container_only = SRC.rsplit("/", 1)[0]
    answer = await api.start(client, body(source={"url": container_only}), settings(), BASE)
    assert answer.status == 400 and client.started == []
    assert answer.body["error"]["fields"][0]["field"] == "source.url"


async def test_source_outside_the_source_allowlist_is_a_403() -> None:
    """With BLOBCOPY_ALLOWED_SOURCES set, a source in another container is refused, unstarted."""
    client = FakeClient()
    only_other = settings(BLOBCOPY_ALLOWED_SOURCES="devstoreaccount2/other")
    answer = await api.start(client, body(), only_other, BASE)
    assert answer.status == 403 and client.started == []
    assert answer.body["error"]["fields"][0]["field"] == "source.url"


async def test_external_sources_need_the_external_entry() -> None:
    """An external URL is allowed by default and refused when `external` is not listed."""
    external = body(source={"url": "https://example.org/file.bin"})
    assert (await api.start(FakeClient(), external, settings(), BASE)).status == 202
    accounts_only = settings(BLOBCOPY_ALLOWED_SOURCES="*")
    assert (await api.start(FakeClient(), external, accounts_only, BASE)).status == 403


async def test_a_list_query_with_several_wrong_parameters_names_each() -> None:
    """A bad state, limit and continuation together answer one 400 naming all three."""
    answer = await jobapi.list_jobs(
        FakeClient(), "paused", limit="0", continuation="x", kind=api.COPIES
    )
    assert answer.status == 400
    named = {f["field"] for f in answer.body["error"]["fields"]}
    assert named == {"state", "limit", "continuation"}


class MemoryRecords:
    """Abort records in memory (shared/control.py's AbortRequests, without storage)."""

    def __init__(self) -> None:
        self.kept: dict[str, str | None] = {}

    def record(self, instance_id: str, reason: str | None) -> None:
        self.kept[instance_id] = reason

    def forget(self, instance_id: str) -> None:
        self.kept.pop(instance_id, None)


async def test_an_abort_is_recorded_before_its_event_is_raised() -> None:
    """The abort of a running copy is recorded (read at continue_as_new and at start) and
    raised as the fast path."""
    client, records = FakeClient(), MemoryRecords()
    await api.start(client, body(id="job-1"), settings(), BASE)
    answer = await jobapi.abort(
        client, "job-1", b'{"reason": "r"}', BASE, records=records, kind=api.COPIES
    )
    assert answer.status == 202 and records.kept == {"job-1": "r"}
    assert client.events == [("job-1", "abort", {"reason": "r"})]


async def test_an_abort_that_meets_the_copys_end_leaves_no_record() -> None:
    """When raise_event meets the 410 of a copy that just ended, its record is dropped, so it
    cannot abort a later copy under the same id."""
    client, records = EndingClient(ends_as="succeeded"), MemoryRecords()
    await api.start(client, body(id="job-1"), settings(), BASE)
    answer = await jobapi.abort(client, "job-1", b"", BASE, records=records, kind=api.COPIES)
    assert answer.status == 409 and records.kept == {}


class StartsMeanwhile(FakeClient):
    """A client on which the copy message is handled between the abort's 404 and its record:
    the first status read misses the instance, the next one sees it running."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        self.reads += 1
        if self.reads == 1:
            return None
        if instance_id not in self.instances:
            self.instances[instance_id] = FakeStatus(instance_id, json.dumps({}), "Running")
        return self.instances[instance_id]


async def test_a_queued_abort_racing_its_copy_message_still_reaches_the_copy() -> None:
    """Queue messages run concurrently: if the copy started after the abort found no
    instance (so its start read no record), the abort is raised as an event as well."""
    client, records = StartsMeanwhile(), MemoryRecords()
    message = json.dumps({"action": "abort", "id": "job-9", "reason": "late"}).encode()
    outcome = await queueapi.handle_queue_message(client, message, settings(), "m1", records)
    assert records.kept == {"job-9": "late"} and "raised" in outcome
    assert client.events == [("job-9", "abort", {"reason": "late"})]


async def test_list_limits_and_tokens_that_break_parsers_are_400s() -> None:
    """`limit=²` (a digit to str.isdigit, not to int), a 5000-digit limit, and a forged
    continuation whose inner token holds CR/LF answer 400 naming the field, never 500."""
    import base64

    client = FakeClient()
    for limit in ("²", "9" * 5000):
        answer = await jobapi.list_jobs(client, None, limit, None, kind=api.COPIES)
        assert answer.status == 400 and answer.body["error"]["fields"][0]["field"] == "limit"
    forged = base64.urlsafe_b64encode(b'{"u": "a\\r\\nX-Evil: 1", "s": 0}').decode()
    answer = await jobapi.list_jobs(client, None, None, forged, kind=api.COPIES)
    assert answer.status == 400
    assert answer.body["error"]["fields"][0]["field"] == "continuation"


async def test_ids_the_sdk_would_put_into_urls_unquoted_are_unknown() -> None:
    """`victim#x` or `a/b` would address another instance or route through the SDK's
    unquoted URLs: get and abort answer 404 without looking them up."""
    client = FakeClient()
    await api.start(client, body(id="victim"), settings(), BASE)
    records = MemoryRecords()
    for odd in ("victim#x", "victim/raiseEvent/abort", "victim?x=1"):
        assert (await jobapi.get(client, odd, BASE, kind=api.COPIES)).status == 404
        assert (
            await jobapi.abort(client, odd, b"", BASE, records=records, kind=api.COPIES)
        ).status == 404
    assert client.events == [] and records.kept == {}


async def test_an_unplanned_error_answers_a_500_that_says_so_never_an_empty_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever a handler raises becomes a 500 in the API's error shape; the log has the
    trace, redacted, and the answer carries neither the trace nor a secret."""

    async def broken() -> jobapi.ApiResponse:
        raise RuntimeError("boom at https://a.blob.core.windows.net/c/b?sv=1&sig=SECRET")

    answer = await httpserve.never_empty(broken())
    body = json.loads(answer.get_body())
    assert answer.status_code == 500 and body["error"]["code"] == "InternalError"
    assert "boom" not in answer.get_body().decode()
    assert "RuntimeError" in caplog.text and "SECRET" not in caplog.text


async def test_a_url_with_an_empty_path_segment_is_a_400_before_anything_starts() -> None:
    """Issue 17 item 12: `.../devstoreaccount1//firstrun/long.bin` names no container; it is
    refused at the edge, naming the field, instead of failing inside the copy."""
    client = FakeClient()
    raw = body(destination={"url": "http://127.0.0.1:10000/devstoreaccount1//firstrun/long.bin"})
    answer = await api.start(client, raw, settings(), BASE)
    assert answer.status == 400 and client.started == []
    assert [f["field"] for f in answer.body["error"]["fields"]] == ["destination.url"]
