"""Custom status across continue-as-new, as DurableTask.Core and its Azure Storage store keep it.

Read in Azure/durabletask: `src/DurableTask.Core/TaskOrchestrationDispatcher.cs`,
`OnProcessWorkItemAsync`. The work item that continues as new runs the new execution's first
episode at once and then stores `runtimeState.Status = runtimeState.Status ?? carryOverStatus`,
where `carryOverStatus` is the status the previous execution last reported (set from
`workItem.OrchestrationRuntimeState.Status` when continuing). Every episode's own status is
`result?.CustomStatus` (`ExecuteOrchestrationAsync`), and
`src/DurableTask.AzureStorage/Tracking/AzureTableTrackingStore.cs` `UpdateStateAsync` writes
`["CustomStatus"] = newRuntimeState.Status ?? "null"` on every work item. So the previous status
survives only that first episode: the next work item stores what the new execution reports, null
included. The out-of-proc shim sets the context's status only when the SDK reports one
(Azure/azure-functions-durable-extension `Listener/OutOfProcOrchestrationShim.cs`).
"""

from __future__ import annotations

from typing import Any

import pytest
from durable_harness import Harness, until_waiting

pytestmark = pytest.mark.integration


async def custom_status(harness: Harness, instance_id: str) -> Any:
    """The custom status the client SDK reads."""
    return (await harness.client.get_status(instance_id)).custom_status


async def until_episodes(harness: Harness, instance_id: str, count: int) -> None:
    """Wait until the current execution has ended `count` episodes (OrchestratorCompleted)."""
    assert harness.engine is not None
    while sum(e["EventType"] == 13 for e in harness.engine.history(instance_id)) < count:
        await until_waiting(harness, instance_id, "")


async def test_custom_status_survives_continue_as_new_until_the_next_episode(
    durable: Harness,
) -> None:
    """Gen 0's status is still shown after gen 1's first episode, which set none; gen 1's next
    episode, which sets none either, clears it ("null" in the instances table)."""
    instance_id = await durable.client.start_new("status_then_continue", client_input=0)
    await until_waiting(durable, instance_id, "1")
    assert await custom_status(durable, instance_id) == {"set by": "gen 0"}
    await durable.client.raise_event(instance_id, "x", 1)
    await until_episodes(durable, instance_id, 2)
    assert await custom_status(durable, instance_id) is None
    await durable.client.raise_event(instance_id, "y", 2)
    status = await durable.finished(instance_id)
    assert (status.output, status.custom_status) == (["1", "2"], None)  # events' JSON text


async def test_custom_status_is_carried_one_execution_only(durable: Harness) -> None:
    """Gen 1 continues as new in its first episode without a status: gen 2 gets gen 1's (none),
    not gen 0's, as `carryOverStatus` is reassigned on every continue-as-new of a work item."""
    instance_id = await durable.client.start_new("status_then_continue_twice", client_input=0)
    await until_waiting(durable, instance_id, "2")
    assert await custom_status(durable, instance_id) is None
    await durable.client.raise_event(instance_id, "x", "go")
    assert (await durable.finished(instance_id)).output == '"go"'
