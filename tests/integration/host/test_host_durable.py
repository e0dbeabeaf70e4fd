"""A Durable Functions app run by devhost with its Durable engine, over real HTTP."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import AppHost
from tests.integration.host.host_helpers import Reply, http, wait_for

pytestmark = pytest.mark.integration

FINISHED = ("Completed", "Failed", "Terminated")


@pytest.fixture(scope="module")
def durable_app(apps_dir: Path) -> Iterator[AppHost]:
    """The durable_chain app with its own durable history, served once for this module."""
    with AppHost(apps_dir / "durable_chain") as host:
        yield host


def start_chain(host: AppHost, payload: dict[str, Any], instance_id: str = "") -> Reply:
    url = f"{host.base_url}/api/chains" + (f"/{instance_id}" if instance_id else "")
    reply = http(
        "POST", url, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    assert reply.status == 202, reply.text
    return reply


def status(url: str) -> dict[str, Any]:
    return dict(http("GET", url).json())


def wait_finished(url: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = status(url)
        return found if found.get("runtimeStatus") in FINISHED else None

    return wait_for(probe, what=f"the orchestration at {url} to finish")


def wait_custom_status(url: str, expected: str) -> None:
    wait_for(lambda: True if status(url).get("customStatus") == expected else None, what=expected)


def test_http_starter_runs_the_activity_chain(durable_app: AppHost) -> None:
    """The starter's check-status response leads to a completed chain with every result."""
    reply = start_chain(durable_app, {"name": "Oslo"})
    urls = reply.json()
    assert reply.headers["location"] == urls["statusQueryGetUri"]
    assert urls["statusQueryGetUri"].startswith(
        f"{durable_app.base_url}/runtime/webhooks/durabletask/"
    )
    final = wait_finished(urls["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == ["Hello Oslo", "HELLO OSLO!", {"length": 11, "text": "HELLO OSLO!"}]


def test_send_event_url_releases_a_waiting_orchestration(durable_app: AppHost) -> None:
    """`sendEventPostUri` from the check-status response delivers an external event."""
    urls = start_chain(durable_app, {"name": "Lima", "gate": True}).json()
    wait_custom_status(urls["statusQueryGetUri"], "at the gate")
    event_url = urls["sendEventPostUri"].replace("{eventName}", "proceed")
    assert (
        http("POST", event_url, body=b"{}", headers={"Content-Type": "application/json"}).status
        == 202
    )
    assert wait_finished(urls["statusQueryGetUri"])["output"][1] == "HELLO LIMA!"


def test_terminate_url_ends_an_orchestration(durable_app: AppHost) -> None:
    """`terminatePostUri` from the check-status response terminates the instance."""
    urls = start_chain(durable_app, {"gate": True}).json()
    wait_custom_status(urls["statusQueryGetUri"], "at the gate")
    assert http("POST", urls["terminatePostUri"].replace("{text}", "enough")).status == 202
    assert wait_finished(urls["statusQueryGetUri"])["runtimeStatus"] == "Terminated"


def test_durable_client_binding_reads_status(durable_app: AppHost) -> None:
    """A function with a durableClient input binding can query an instance by id."""
    instance_id = uuid.uuid4().hex
    urls = start_chain(durable_app, {"name": "Kyiv"}, instance_id).json()
    assert urls["id"] == instance_id
    wait_finished(urls["statusQueryGetUri"])
    reply = http("GET", f"{durable_app.base_url}/api/chains/{instance_id}")
    assert reply.json() == {"runtimeStatus": "Completed"}


def test_failing_activity_fails_the_orchestration(durable_app: AppHost) -> None:
    """An activity that raises makes the orchestration fail with the activity's message."""
    urls = start_chain(durable_app, {"name": "Rome", "fail": True}).json()
    final = wait_finished(urls["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Failed"
    assert "describe was asked to fail" in json.dumps(final["output"])
    assert "Executed 'Functions.describe_activity' (Failed" in durable_app.output()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "stopped"])
def test_restarted_host_resumes_orchestration(apps_dir: Path, kill: bool) -> None:
    """A host killed or stopped mid-orchestration resumes the instance from its history."""
    with AppHost(apps_dir / "durable_chain", port=_free_port()) as host:
        urls = start_chain(host, {"name": "Quito", "gate": True}).json()
        wait_custom_status(urls["statusQueryGetUri"], "at the gate")
        host.restart(kill=kill)
        assert status(urls["statusQueryGetUri"])["runtimeStatus"] == "Running"
        event_url = urls["sendEventPostUri"].replace("{eventName}", "proceed")
        assert (
            http("POST", event_url, body=b"{}", headers={"Content-Type": "application/json"}).status
            == 202
        )
        final = wait_finished(urls["statusQueryGetUri"])
        assert final["runtimeStatus"] == "Completed"
        assert final["output"][0] == "Hello Quito"
