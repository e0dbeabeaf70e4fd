"""The webhook's 202 answers: Location and Retry-After, and when a start waits, as on Azure.

Read in Azure/azure-functions-durable-extension, `src/WebJobs.Extensions.DurableTask/
HttpApiHandler.cs`: `HandleGetStatusRequestAsync` answers Pending, Running, ContinuedAsNew and
Suspended with 202, `Location` = the request URL and `Retry-After: 5` ("Some clients will
otherwise retry in a tight loop"), and nothing of the two on 200/500;
`CreateCheckStatusResponseMessage` (start, restart, a wait that timed out) answers 202 with
`Location` = statusQueryGetUri and `Retry-After: 10`. `HandleStartOrchestratorRequestAsync` and
`HandleRestartInstanceRequestAsync` wait only when both `timeout` and `pollingInterval` parse
(`SupportsPollFreeWait` is false on Azure Storage); `WaitForCompletionOrCreateCheckStatusResponse
Async` polls every interval and throws ArgumentException, a 400, when the interval is the longer.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import azure.durable_functions as df
import pytest
from durable_harness import Harness, until_status

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus
WEBHOOK = "/runtime/webhooks/durabletask/"


async def post(durable: Harness, path: str, body: Any = None) -> tuple[int, Any, Any]:
    """POST to the webhook: (status, headers, JSON body or None)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(durable.base_url + WEBHOOK + path, json=body) as response,
    ):
        text = await response.text()
        return response.status, response.headers, (await response.json()) if text else None


async def test_start_answers_check_status_with_retry_after_10(durable: Harness) -> None:
    """POST orchestrators/{name}: 202, Location = statusQueryGetUri, Retry-After 10."""
    status, headers, body = await post(durable, "orchestrators/waiting")
    assert status == 202
    assert headers["Location"] == body["statusQueryGetUri"]
    assert headers["Retry-After"] == "10"
    assert "rewindPostUri" not in body


async def test_status_of_a_suspended_instance_asks_to_retry_in_5(durable: Harness) -> None:
    """Suspended is "running" for the status URL: 202 with Location and Retry-After 5."""
    instance_id = await durable.client.start_new("waiting")
    await until_status(durable, instance_id, Status.Running)
    await durable.client.suspend(instance_id, "pause")
    await until_status(durable, instance_id, Status.Suspended)
    url = durable.client.create_http_management_payload(instance_id)["statusQueryGetUri"]
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert (response.status, response.headers["Retry-After"]) == (202, "5")
        assert response.headers["Location"] == url


async def test_finished_status_has_no_location_or_retry_after(durable: Harness) -> None:
    """200 and a failed instance's 500 carry neither header."""
    done = await durable.client.start_new("one", client_input=1)
    failed = await durable.client.start_new("failing")
    await durable.finished(done)
    await durable.finished(failed)
    urls = [
        f"{durable.base_url}{WEBHOOK}instances/{done}",
        f"{durable.base_url}{WEBHOOK}instances/{failed}?returnInternalServerErrorOnFailure=true",
    ]
    async with aiohttp.ClientSession() as session:
        for url, code in zip(urls, (200, 500), strict=True):
            async with session.get(url) as response:
                assert response.status == code
                assert "Retry-After" not in response.headers
                assert "Location" not in response.headers


async def test_start_with_timeout_but_no_polling_interval_does_not_wait(durable: Harness) -> None:
    """Without pollingInterval the start answers the check-status 202 at once."""
    began = time.monotonic()
    status, headers, _ = await post(durable, "orchestrators/waiting?timeout=5")
    assert (status, headers["Retry-After"]) == (202, "10")
    assert time.monotonic() - began < 2


async def test_a_wait_that_times_out_answers_check_status(durable: Harness) -> None:
    """Still running at the timeout: the check-status 202 with Retry-After 10."""
    path = "orchestrators/waiting?timeout=0.2&pollingInterval=0.05"
    status, headers, body = await post(durable, path)
    assert (status, headers["Retry-After"]) == (202, "10")
    assert headers["Location"] == body["statusQueryGetUri"]


async def test_a_polling_interval_longer_than_the_timeout_is_refused(durable: Harness) -> None:
    """400 (ArgumentException), yet the instance was started before the check."""
    status, _, body = await post(durable, "orchestrators/one/longer?timeout=1&pollingInterval=2", 3)
    assert status == 400
    assert body["Message"] == "One or more of the arguments submitted is incorrect"
    assert (await durable.finished("longer")).output == 6


async def test_a_failed_instance_waited_for_answers_200(durable: Harness) -> None:
    """The wait hands a failed end to the status handler with returnInternalServerError false."""
    path = "orchestrators/failing?timeout=10&pollingInterval=0.05"
    status, headers, body = await post(durable, path + "&returnInternalServerErrorOnFailure=true")
    assert (status, body["runtimeStatus"]) == (200, "Failed")
    assert "Retry-After" not in headers


async def test_restart_answers_check_status_or_waits(durable: Harness) -> None:
    """restart: the check-status 202 (Retry-After 10), or the output with timeout+interval."""
    instance_id = await durable.client.start_new("one", client_input=2)
    await durable.finished(instance_id)
    status, headers, body = await post(durable, f"instances/{instance_id}/restart")
    assert (status, headers["Retry-After"]) == (202, "10")
    assert body["id"] != instance_id
    path = f"instances/{instance_id}/restart?timeout=10&pollingInterval=0.05"
    assert (await post(durable, path))[::2] == (200, 4)


async def test_restart_of_an_unknown_instance_is_a_400(durable: Harness) -> None:
    """RestartAsync throws ArgumentException for an unknown id; the handler answers 400."""
    status, _, body = await post(durable, "instances/nobody/restart")
    assert status == 400
    assert body["Message"] == "InstanceId does not match a valid orchestration instance."
