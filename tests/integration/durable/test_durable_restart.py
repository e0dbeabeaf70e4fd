"""A devhost restart in the middle of running orchestrations resumes them from SQLite."""

from __future__ import annotations

import azure.durable_functions as df
import pytest
from durable_apps import CALLS, GATES
from durable_harness import Harness, until_status

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus


async def test_restart_during_an_activity_reruns_it_and_completes(
    durable: Harness, key: str
) -> None:
    """An activity abandoned by a stopped engine runs again in the new engine, which completes."""
    instance_id = await durable.client.start_new("gate_then_event", client_input=key)
    await GATES.entered_wait(key)
    await durable.restart()
    GATES.open(key)
    await until_status(durable, instance_id, Status.Running)
    await durable.client.raise_event(instance_id, "x", "after restart")
    status = await durable.finished(instance_id)
    assert status.output == '"after restart"'
    assert CALLS[f"gate:{key}"] == 2


async def test_restart_rearms_pending_timers(durable: Harness, key: str) -> None:
    """A durable timer pending at shutdown fires after the restart."""
    GATES.open(key)
    instance_id = await durable.client.start_new("timer_then_gate", client_input=key)
    await until_status(durable, instance_id, Status.Running)
    await durable.restart()
    status = await durable.finished(instance_id)
    assert status.output == f"passed {key}"


async def test_restart_keeps_events_and_suspension(durable: Harness) -> None:
    """A suspended instance with a queued event stays suspended across a restart, then completes."""
    instance_id = await durable.client.start_new("waiting")
    await until_status(durable, instance_id, Status.Running)
    await durable.client.suspend(instance_id, "pause")
    await until_status(durable, instance_id, Status.Suspended)
    await durable.client.raise_event(instance_id, "go", "kept")
    await durable.restart()
    assert (await durable.client.get_status(instance_id)).runtime_status is Status.Suspended
    await durable.client.resume(instance_id, "resume")
    assert (await durable.finished(instance_id)).output == '"kept"'


async def test_restart_resumes_a_parent_waiting_on_its_child(durable: Harness, key: str) -> None:
    """A sub-orchestration interrupted by a restart completes and its parent gets the result."""
    instance_id = await durable.client.start_new("parent_of_gate", client_input=key)
    await GATES.entered_wait(key)
    await durable.restart()
    GATES.open(key)
    status = await durable.finished(instance_id)
    assert status.output == f"passed {key}"


async def test_restart_under_load_loses_no_instance(durable: Harness) -> None:
    """Fifty chains and continue-as-new loops interrupted by a restart all finish correctly."""
    chains = [await durable.client.start_new("chain", client_input=i) for i in range(50)]
    loops = [await durable.client.start_new("counting", client_input=0) for _ in range(10)]
    await durable.restart()
    chain_outputs = [(await durable.finished(i)).output for i in chains]
    loop_outputs = [(await durable.finished(i)).output for i in loops]
    assert chain_outputs == [8 * i for i in range(50)]
    assert loop_outputs == [3] * 10
