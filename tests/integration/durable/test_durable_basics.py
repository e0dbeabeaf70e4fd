"""Activities, retries, timers, fan-out, sub-orchestrations and failures through the real SDK."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import pytest
from durable_apps import GATES
from durable_harness import Harness

pytestmark = pytest.mark.integration
Status = df.OrchestrationRuntimeStatus


async def test_chain_of_activities_completes_with_the_last_result(durable: Harness) -> None:
    """Three chained activities complete and the orchestration output is the last result."""
    instance_id = await durable.client.start_new("chain", client_input=1)
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Completed
    assert status.output == 8


async def test_dict_input_reaches_the_orchestrator_as_a_dict(durable: Harness) -> None:
    """A dict passed to start_new is what get_input() returns in the orchestrator."""
    cities = ["Tokyo", "Seattle"]
    instance_id = await durable.client.start_new("greet", client_input={"cities": cities})
    status = await durable.finished(instance_id)
    assert status.output == ["Hello Tokyo", "Hello Seattle"]


async def test_task_all_fans_out_and_sums(durable: Harness) -> None:
    """task_all over ten activities returns all their results."""
    instance_id = await durable.client.start_new("fan_out", client_input=10)
    status = await durable.finished(instance_id)
    assert status.output == sum(2 * i for i in range(10))


async def test_task_any_returns_the_first_finished_task(durable: Harness, key: str) -> None:
    """task_any resolves with the activity that finished first while the other still runs."""
    instance_id = await durable.client.start_new("first_of", client_input=key)
    status = await durable.finished(instance_id)
    GATES.open(key)
    assert status.output == "Hello fast"


async def test_activity_retry_succeeds_on_the_third_attempt(durable: Harness, key: str) -> None:
    """A retried activity that fails twice succeeds on attempt three, with retry timers between."""
    instance_id = await durable.client.start_new("with_retry", client_input=key)
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Completed
    assert status.output == "ok after 3"
    kinds = [
        e["EventType"]
        for e in durable.engine.history(instance_id)
        if e["EventType"] in (4, 6, 10, 11, 5)
    ]
    assert kinds == [4, 6, 10, 11, 4, 6, 10, 11, 4, 5]


async def test_exhausted_retries_throw_the_last_failure(durable: Harness) -> None:
    """After the last attempt fails, the orchestrator catches the activity's failure and goes on."""
    instance_id = await durable.client.start_new("retry_exhausted")
    status = await durable.finished(instance_id)
    assert status.output == {
        "caught": "Activity function 'always_fail' failed: ValueError: nope ",
        "after": 42,
    }


async def test_timer_fires_before_the_next_activity(durable: Harness, key: str) -> None:
    """A durable timer fires and the orchestration continues after it."""
    GATES.open(key)
    instance_id = await durable.client.start_new("timer_then_gate", client_input=key)
    status = await durable.finished(instance_id)
    assert status.output == f"passed {key}"


async def test_sub_orchestrations_return_their_output(durable: Harness) -> None:
    """Sub-orchestrations, with a generated and with a given instance id, return their outputs."""
    instance_id = await durable.client.start_new("parent", client_input=3)
    status = await durable.finished(instance_id)
    assert status.output == [24, 10]
    named = await durable.client.get_status(f"{instance_id}-named")
    assert named.runtime_status is Status.Completed


async def test_versions_reach_orchestrators_and_children(durable: Harness) -> None:
    """start_new(version=…) and call_sub_orchestrator(version=…) set context.version."""
    instance_id = await durable.client.start_new("versioned", version="1.0")
    status = await durable.finished(instance_id)
    assert status.output == ["1.0", "2.1"]


async def test_sub_orchestration_retry_creates_a_new_child(durable: Harness, key: str) -> None:
    """A sub-orchestration that fails once is retried and the parent gets the second result."""
    instance_id = await durable.client.start_new("parent_with_retry", client_input=key)
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Completed
    assert status.output == "ok 2"


async def test_activity_failure_fails_the_orchestration(durable: Harness) -> None:
    """An unhandled activity failure fails the instance with Azure's wording."""
    instance_id = await durable.client.start_new("failing")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Failed
    assert status.output.startswith(
        "Orchestrator function 'failing' failed: Activity function 'always_fail' failed: "
        "ValueError: boom"
    )


async def test_unknown_activity_fails_clearly(durable: Harness) -> None:
    """Calling an activity that does not exist fails the instance and names the function."""
    instance_id = await durable.client.start_new("unknown_activity")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Failed
    assert "The function 'no_such_activity' doesn't exist" in status.output


async def test_entities_are_reported_as_not_supported(durable: Harness) -> None:
    """call_entity fails the instance with a message saying entities are not supported."""
    instance_id = await durable.client.start_new("uses_entity")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Failed
    assert "entities (call_entity) are not supported by devhost" in status.output


async def test_call_http_is_reported_as_not_supported(durable: Harness) -> None:
    """call_http fails the instance with a message saying durable HTTP is not supported."""
    instance_id = await durable.client.start_new("uses_http")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Failed
    assert "(call_http) is not supported by devhost" in status.output


async def test_non_determinism_fails_the_instance(durable: Harness) -> None:
    """An orchestrator that calls a different activity on replay fails with a clear message."""
    instance_id = await durable.client.start_new("nondeterministic")
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Failed
    assert "Non-deterministic workflow detected" in status.output


async def test_hundred_concurrent_orchestrations_complete(durable: Harness) -> None:
    """One hundred chains started at once all complete with their own results."""
    ids = await asyncio.gather(
        *(durable.client.start_new("chain", client_input=i) for i in range(100))
    )
    statuses = await asyncio.gather(*(durable.finished(i) for i in ids))
    assert [s.output for s in statuses] == [8 * i for i in range(100)]


async def test_orchestrators_can_run_in_a_worker_thread(durable_threaded: Harness) -> None:
    """With orchestrator_in_thread, chains and fan-outs complete as they do inline."""
    client = durable_threaded.client
    ids = [await client.start_new("chain", client_input=i) for i in range(5)]
    ids.append(await client.start_new("fan_out", client_input=4))
    outputs = [(await durable_threaded.finished(i)).output for i in ids]
    assert outputs == [0, 8, 16, 24, 32, 12]


async def test_continue_as_new_restarts_with_new_input(durable: Harness) -> None:
    """continue_as_new runs new executions until the orchestrator returns."""
    instance_id = await durable.client.start_new("counting", client_input=0)
    status = await durable.finished(instance_id)
    assert status.runtime_status is Status.Completed
    assert status.output == 3


async def test_two_children_with_one_instance_id_do_not_hang_the_parent(durable: Harness) -> None:
    """The second of two sub-orchestrations started with the same id in one episode fails
    as already running, so the parent ends instead of waiting forever."""
    instance_id = await durable.client.start_new("twin_children")
    status = await durable.finished(instance_id)
    assert status.runtime_status.name == "Completed"
    assert "already running" in str(status.output)
