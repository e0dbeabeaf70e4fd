"""Which external events of a continue-as-new episode reach the next execution.

Azure, read in source (Durable extension 2.13, DurableTask.Core, Azure Storage backend):
- The SDK stops reading history once the code decides continue_as_new
  (`TaskOrchestrationExecutor.execute` breaks on `has_execution_completed`).
- The extension's shim then calls `ContinueAsNew(action.Input)` without
  preserveUnprocessedEvents (`Listener/OutOfProcOrchestrationShim.cs`), so events raised into the
  orchestration before that point and not consumed are dropped (`DurableTaskExtension.cs`
  reschedules buffered events only with the flag; Python SDK issue #331).
- EventRaised events that DurableTask.Core reads after the shim's ContinueAsNew are carried into
  the next execution's first episode (`TaskOrchestrationContext.HandleEventRaisedEvent` ->
  `CarryoverEvents`, unless the backend says Ignore; Azure Storage's default is Carryover,
  `AzureStorageOrchestrationServiceSettings.EventBehaviourForContinueAsNew`).

The shim awaits the SDK's actions in order, so it reaches ContinueAsNew at the event whose
completion let the code decide. devhost finds that event by replaying prefixes of the batch
through the SDK: the decision, once taken with a prefix, stands for every longer one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from devhost.durable.protocol import EventType, JsonDict

Decides = Callable[[list[JsonDict]], Awaitable[bool]]


async def carried_over(batch: list[JsonDict], decides: Decides) -> list[JsonDict]:
    """The EventRaised events of `batch` that come after the event at which the orchestrator
    decided to continue as new; `decides(prefix)` says whether it already does with `prefix`."""
    raised = [i for i, item in enumerate(batch) if item["EventType"] == EventType.EVENT_RAISED]
    low, high = 0, len(raised)  # find the first raised event preceded by the decision
    while low < high:
        middle = (low + high) // 2
        if await decides(batch[: raised[middle]]):
            high = middle
        else:
            low = middle + 1
    return [batch[i] for i in raised[low:]]
