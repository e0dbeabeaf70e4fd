"""devhost/durable/carryover.py: which events of a continue-as-new batch reach the next execution.

Source: DurableTask.Core `TaskOrchestrationContext.HandleEventRaisedEvent` carries EventRaised
events read after ContinueAsNew (Azure Storage: Carryover); events read before are dropped, as
the extension's shim does not preserve them (`Listener/OutOfProcOrchestrationShim.cs`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from devhost.durable import episode as ep
from devhost.durable import protocol as p
from devhost.durable.carryover import carried_over
from tests.unit.durablekit import T0, completed, make_instance, raised, run_episode, started

Gen = Generator[Any, Any, Any]


async def test_only_events_after_the_decision_are_carried() -> None:
    """With the decision taken at the completion, the event before it is not carried."""
    batch = [raised("x", "1"), completed(0), raised("x", "2"), raised("y", "3")]
    asked: list[int] = []

    async def decides(prefix: list[p.JsonDict]) -> bool:
        asked.append(len(prefix))
        return len(prefix) >= 2  # the completion at index 1 decides

    assert await carried_over(batch, decides) == batch[2:]
    assert len(asked) <= 2


async def test_nothing_is_asked_without_external_events() -> None:
    """A batch without EventRaised needs no replay at all."""

    async def decides(prefix: list[p.JsonDict]) -> bool:
        raise AssertionError("no probe expected")

    assert await carried_over([completed(0)], decides) == []


LOGGED: list[bool] = []


def once_then_continue(ctx: df.DurableOrchestrationContext) -> Gen:
    yield ctx.call_activity("hello", "a")
    LOGGED.append(ctx.is_replaying)
    ctx.continue_as_new(None)


def test_the_probe_replays_with_the_real_sdk_as_a_replay() -> None:
    """replay_context answers with the SDK's decision while the code sees is_replaying=True."""
    inst, handle = make_instance(), df.Orchestrator.create(once_then_continue)
    run_episode(inst, handle, [started()], T0)
    LOGGED.clear()
    reply = p.parse_reply(handle(ep.replay_context(inst, [completed(0, '"A"')], T0)))
    assert reply.continue_as_new is not None
    assert LOGGED == [True]
    not_yet = p.parse_reply(handle(ep.replay_context(inst, [raised("x", "1")], T0)))
    assert not_yet.continue_as_new is None
