"""Indexing function_app.py and adapting its durable functions, in process (no server)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devhost.functions.durable import activity_runners, orchestrator_runners
from devhost.functions.indexer import AppIndex, load_app
from devhost.functions.invoker import Invoker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def durable_index(apps_dir: Path) -> Iterator[AppIndex]:
    """The durable_chain app, indexed once (an app can only be indexed once).

    Loading imports it as `function_app`; the test process's own `function_app` (the product,
    imported by other suites) and `sys.path` are put back afterwards.
    """
    saved_module = sys.modules.pop("function_app", None)
    saved_path = list(sys.path)
    try:
        yield load_app(apps_dir / "durable_chain")
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("function_app", None)
        if saved_module is not None:
            sys.modules["function_app"] = saved_module


@pytest.fixture(scope="module")
def invoker(apps_dir: Path) -> Iterator[Invoker]:
    """An invoker with its own thread pool, as the host builds it."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield Invoker(app_dir=apps_dir / "durable_chain", executor=pool)


def test_bindings_are_read_from_the_app(durable_index: AppIndex) -> None:
    """HTTP routes, methods and durable client bindings come from the decorators."""
    starter = next(f for f in durable_index.functions if f.name == "start_chain")
    assert starter.trigger.type == "httpTrigger"
    assert starter.trigger.get("route") == "chains/{instance_id?}"
    assert starter.trigger.get("methods") == ["POST"]
    assert [b.type for b in starter.inputs] == ["durableClient"]
    assert starter.is_async


def test_durable_names_follow_binding_aliases(durable_index: AppIndex) -> None:
    """An orchestrator or activity is known by its binding's alias, else by its function name."""
    names = {
        f.name: f.durable_name for f in durable_index.functions if f.trigger.type != "httpTrigger"
    }
    assert names == {
        "chain_orchestrator": "chain",
        "hello_activity": "say_hello",
        "shout": "shout",
        "describe_activity": "describe",
    }


def test_orchestrator_runner_returns_the_sdk_state(
    durable_index: AppIndex, invoker: Invoker
) -> None:
    """A first episode answers with the state JSON asking for the first activity."""
    run = orchestrator_runners(durable_index.functions, invoker)["chain"]
    stamp = "2024-01-01T00:00:00.0000000Z"
    context = {
        "history": [
            {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": stamp},
            {
                "EventType": 0,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": stamp,
                "Name": "chain",
                "Version": "",
                "Input": json.dumps(json.dumps({"name": "Oslo"})),
            },
        ],
        "input": json.dumps({"name": "Oslo"}),
        "instanceId": "abc",
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
    }
    state = json.loads(run(json.dumps(context)))
    assert state["isDone"] is False
    (action,) = state["actions"][0]
    assert action["functionName"] == "say_hello"
    assert json.loads(action["input"]) == "Oslo"


async def test_activity_runner_decodes_and_encodes_like_the_worker(
    durable_index: AppIndex, invoker: Invoker
) -> None:
    """Activity input is JSON-decoded (non-JSON text passes as str); the result is JSON text."""
    runners = activity_runners(durable_index.functions, invoker)
    assert await runners["say_hello"]('"Tokyo"') == '"Hello Tokyo"'
    assert await runners["say_hello"]("not json") == '"Hello not json"'
    assert json.loads(await runners["describe"]('{"text": "ab"}')) == {"length": 2, "text": "ab"}


async def test_activity_runner_raises_the_activity_exception(
    durable_index: AppIndex, invoker: Invoker
) -> None:
    """A failing activity raises its own exception, so the engine can report its type."""
    runners = activity_runners(durable_index.functions, invoker)
    with pytest.raises(ValueError, match="describe was asked to fail"):
        await runners["describe"]('{"text": "x", "fail": true}')
