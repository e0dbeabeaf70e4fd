"""function_app.py indexes as the Functions host sees it: names, triggers, routes."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

from shared import contracts

# A fresh copy of the module: an app answers get_functions() only once, and other suites index
# the imported `function_app` themselves.
APP_FILE = Path(__file__).resolve().parents[2] / "function_app.py"
MODULE = runpy.run_path(str(APP_FILE), run_name="function_app_under_test")
FUNCTIONS = {f.get_function_name(): f for f in MODULE["app"].get_functions()}


def bindings(name: str) -> list[dict[str, Any]]:
    """The raw bindings of one function, decoded."""
    return [json.loads(b) for b in FUNCTIONS[name].get_raw_bindings()]


def trigger(name: str) -> dict[str, Any]:
    """The trigger binding of one function."""
    return next(b for b in bindings(name) if b["type"].endswith("Trigger"))


def test_http_routes_and_methods() -> None:
    """The four HTTP functions serve the documented routes with FUNCTION auth."""
    routes = {
        "start_copy_http": ("copies", ["POST"]),
        "get_copy_http": ("copies/{id}", ["GET"]),
        "abort_copy_http": ("copies/{id}/abort", ["POST"]),
        "list_copies_http": ("copies", ["GET"]),
    }
    for name, (route, methods) in routes.items():
        http = trigger(name)
        assert (http["route"], http["methods"], http["authLevel"]) == (route, methods, "FUNCTION")
        assert any(b["type"] == "durableClient" for b in bindings(name))


def test_queue_trigger_listens_to_copy_requests() -> None:
    """The queue trigger reads copy-requests on the host's storage connection."""
    queue = trigger("copy_requests_queue")
    assert (queue["queueName"], queue["connection"]) == ("copy-requests", "AzureWebJobsStorage")


def test_orchestrator_and_every_activity_are_registered() -> None:
    """The orchestrator and each activity it calls are registered under their own names."""
    assert trigger("copy_orchestrator")["type"] == "orchestrationTrigger"
    for activity in contracts.ACTIVITIES:
        assert trigger(activity.name)["type"] == "activityTrigger"
