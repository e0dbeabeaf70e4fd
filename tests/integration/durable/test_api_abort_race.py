"""shared/jobapi.py's abort against devhost's engine and the SDK's real client: the end races."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import azure.durable_functions as df
import pytest
from durable_harness import Harness

from shared import api, jobapi

pytestmark = pytest.mark.integration
BASE = "http://127.0.0.1:7071"
#: The harness's "failing" orchestrator served as if it were the copy orchestrator.
FAILING = jobapi.Resource("copy", "copies", "failing", api.document_of)


class StaleFirstRead:
    """The real client, except that the first status read returns a snapshot taken while the
    instance still ran: what jobapi.abort sees when the instance ends right after that read."""

    def __init__(self, client: df.DurableOrchestrationClient, instance_id: str) -> None:
        self.client = client
        self.stale: Any = SimpleNamespace(
            instance_id=instance_id,
            runtime_status=df.OrchestrationRuntimeStatus.Running,
            name="failing",
            input_=None,
            custom_status=None,
            output=None,
            created_time=None,
            last_updated_time=None,
        )

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return await self.client.get_status(instance_id, show_input=show_input)

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        await self.client.raise_event(instance_id, name, data)


async def test_abort_that_reaches_a_finished_instance_is_a_409(durable: Harness) -> None:
    """The real raise_event meets devhost's 410 (as HttpApiHandler.HandleRaiseEventRequestAsync
    answers for a Completed/Failed/Terminated instance) and raises; abort re-reads and says 409
    with the final document instead of a 500."""
    instance_id = await durable.client.start_new("failing")
    assert (
        await durable.finished(instance_id)
    ).runtime_status is df.OrchestrationRuntimeStatus.Failed
    with pytest.raises(Exception, match="is gone"):  # what the SDK does on 410
        await durable.client.raise_event(instance_id, "abort", {"reason": None})
    stale = StaleFirstRead(durable.client, instance_id)
    answer = await jobapi.abort(stale, instance_id, b"", BASE, kind=FAILING)
    assert answer.status == 409 and answer.body["copy"]["state"] == "failed"


async def test_abort_that_reaches_a_purged_instance_is_a_404(durable: Harness) -> None:
    """The real raise_event meets devhost's 404 (instance purged after the first read): 404."""
    instance_id = await durable.client.start_new("failing")
    await durable.finished(instance_id)
    await durable.client.purge_instance_history(instance_id)
    stale = StaleFirstRead(durable.client, instance_id)
    answer = await jobapi.abort(stale, instance_id, b"", BASE, kind=FAILING)
    assert answer.status == 404
