"""Instance control: start rules, status queries, terminate, suspend/resume, purge, restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp
import azure.durable_functions as df
import azure.functions as func
import pytest
from durable_harness import Harness, until_status

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus


async def test_starting_a_running_instance_id_is_refused(durable: Harness) -> None:
    """start_new with the id of a running instance fails instead of replacing it."""
    await durable.client.start_new("waiting", instance_id="busy")
    with pytest.raises(Exception, match="already exists"):
        await durable.client.start_new("waiting", instance_id="busy")


async def test_starting_a_completed_instance_id_replaces_it(durable: Harness) -> None:
    """start_new with the id of a completed instance runs a new instance under that id."""
    await durable.client.start_new("one", instance_id="again", client_input=1)
    assert (await durable.finished("again")).output == 2
    await durable.client.start_new("one", instance_id="again", client_input=5)
    assert (await durable.finished("again")).output == 10


async def test_unknown_orchestrator_is_refused(durable: Harness) -> None:
    """start_new of a function that is not an orchestrator raises with the function's name."""
    with pytest.raises(Exception, match="'nope' doesn't exist"):
        await durable.client.start_new("nope")


async def test_terminate_ends_a_waiting_instance_with_the_reason(durable: Harness) -> None:
    """A terminated instance reports Terminated and the reason as its output."""
    instance_id = await durable.client.start_new("waiting")
    await until_status(durable, instance_id, Status.Running)
    await durable.client.terminate(instance_id, "enough")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Terminated
    assert status.output == "enough"


async def test_suspended_instance_holds_events_until_resumed(durable: Harness) -> None:
    """A suspended instance does not process an event until it is resumed, then completes."""
    instance_id = await durable.client.start_new("waiting")
    await until_status(durable, instance_id, Status.Running)
    await durable.client.suspend(instance_id, "pause")
    await until_status(durable, instance_id, Status.Suspended)
    await durable.client.raise_event(instance_id, "go", 1)
    assert (await durable.client.get_status(instance_id)).runtime_status is Status.Suspended
    await durable.client.resume(instance_id, "continue")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Completed
    assert status.output == "1"


async def test_purge_deletes_finished_instances_only(durable: Harness) -> None:
    """Purging a completed instance deletes it; purging a running one is refused."""
    done = await durable.client.start_new("one", client_input=1)
    await durable.finished(done)
    running = await durable.client.start_new("waiting")
    assert (await durable.client.purge_instance_history(done)).instances_deleted == 1
    assert not await durable.client.get_status(done)
    with pytest.raises(Exception, match="412"):
        await durable.client.purge_instance_history(running)
    assert (await durable.client.purge_instance_history("missing")).instances_deleted == 0


async def test_purge_by_filter_deletes_matching_finished_instances(durable: Harness) -> None:
    """purge_instance_history_by deletes the completed instances created in the time window."""
    ids = [await durable.client.start_new("one", client_input=i) for i in range(3)]
    for instance_id in ids:
        await durable.finished(instance_id)
    since = datetime.now(UTC) - timedelta(minutes=1)
    result = await durable.client.purge_instance_history_by(
        created_time_from=since, runtime_status=[Status.Completed]
    )
    assert result.instances_deleted == 3


async def test_status_queries_filter_by_status_and_prefix(durable: Harness) -> None:
    """get_status_by filters on runtime status and id prefix; get_status_all lists everything."""
    await durable.client.start_new("one", instance_id="q-done", client_input=1)
    await durable.finished("q-done")
    await durable.client.start_new("waiting", instance_id="q-wait")
    await until_status(durable, "q-wait", Status.Running)
    running = await durable.client.get_status_by(runtime_status=[Status.Running])
    assert [s.instance_id for s in running] == ["q-wait"]
    prefixed = await durable.client.get_status_by(instance_id_prefix="q-")
    assert {s.instance_id for s in prefixed} == {"q-done", "q-wait"}
    assert len(await durable.client.get_status_all()) == 2


async def test_status_shows_input_custom_status_and_history(durable: Harness) -> None:
    """get_status returns the input, the custom status and, on request, the history events."""
    instance_id = await durable.client.start_new("waiting", client_input={"a": 1})
    await until_status(durable, instance_id, Status.Running)
    status = await durable.client.get_status(instance_id, show_history=True, show_input=True)
    assert status.input_ == '{"a": 1}'
    assert status.custom_status == {"phase": "waiting"}
    assert status.historyEvents[0]["EventType"] == "ExecutionStarted"


async def test_webhook_status_answers_202_then_200(durable: Harness) -> None:
    """The status URL answers 202 with Location and Retry-After while running, 200 when done."""
    instance_id = await durable.client.start_new("waiting")
    url = durable.client.create_http_management_payload(instance_id)["statusQueryGetUri"]
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 202
            assert response.headers["Location"] == url
            assert response.headers["Retry-After"] == "5"
        await durable.client.raise_event(instance_id, "go", "now")
        await durable.finished(instance_id)
        async with session.get(url) as response:
            assert response.status == 200
            assert (await response.json())["runtimeStatus"] == "Completed"


async def test_wait_for_completion_returns_the_output(durable: Harness) -> None:
    """wait_for_completion_or_create_check_status_response answers 200 with the output."""
    instance_id = await durable.client.start_new("one", client_input=4)
    request = func.HttpRequest("GET", durable.base_url + "/api/x", body=b"")
    response = await durable.client.wait_for_completion_or_create_check_status_response(
        request, instance_id, timeout_in_milliseconds=5000, retry_interval_in_milliseconds=20
    )
    assert response.status_code == 200
    assert json.loads(response.get_body()) == 8


async def test_restart_runs_the_same_input_again(durable: Harness) -> None:
    """restart starts a new instance with the original input."""
    instance_id = await durable.client.start_new("one", client_input=6)
    await durable.finished(instance_id)
    restarted = await durable.client.restart(instance_id)
    new_id = restarted["id"]
    assert new_id != instance_id
    assert (await durable.finished(new_id)).output == 12


async def test_webhook_start_route_answers_with_management_urls(durable: Harness) -> None:
    """POST orchestrators/{name} answers 202 with the management URLs and a Location header."""
    async with aiohttp.ClientSession() as session:
        url = f"{durable.base_url}/runtime/webhooks/durabletask/orchestrators/one"
        async with session.post(url, json=3) as response:
            assert response.status == 202
            body = await response.json()
    assert set(body) >= {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri"}
    assert len(body["id"]) == 32
    assert (await durable.finished(body["id"])).output == 6


async def test_unknown_instance_status_is_empty(durable: Harness) -> None:
    """get_status of an unknown id is falsy, and the webhook answers 404."""
    assert not await durable.client.get_status("nobody")
    url = f"{durable.base_url}/runtime/webhooks/durabletask/instances/nobody"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 404


async def test_failed_instance_can_answer_500_on_request(durable: Harness) -> None:
    """A failed instance's status is 200, or 500 with returnInternalServerErrorOnFailure=true."""
    instance_id = await durable.client.start_new("failing")
    await durable.finished(instance_id)
    url = f"{durable.base_url}/runtime/webhooks/durabletask/instances/{instance_id}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
        async with session.get(url + "?returnInternalServerErrorOnFailure=true") as response:
            assert response.status == 500


async def test_webhook_start_with_timeout_waits_for_the_output(durable: Harness) -> None:
    """POST orchestrators/{name}?timeout=… answers 200 with the output once it completes."""
    url = f"{durable.base_url}/runtime/webhooks/durabletask/orchestrators/one/wait-1"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "?timeout=10&pollingInterval=0.05", json=21) as response,
    ):
        assert response.status == 200
        assert await response.json() == 42
