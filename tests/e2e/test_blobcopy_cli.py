"""The `blobcopy` CLI against the real copy service under devhost: every command, end to end.

Commands run through click's CliRunner on `blobcopy.cli:cli` with `--url` pointing at the
`copy_service` fixture, so they cross real HTTP; one test runs the installed console script.
Every copy is bounded: `--timeout` makes the service itself end a copy that would hang, and
status polling in the tests gives up after `WAIT_LIMIT_S`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from click.testing import CliRunner, Result

from blobcopy import exit_codes
from blobcopy.cli import cli
from devhost.storage.stack import ACCOUNTS, StorageStack
from devhost.testing import AppHost

pytestmark = pytest.mark.e2e

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS
WAIT_LIMIT_S = 45.0
COPY_TIMEOUT_S = "60"
SMALL = os.urandom(64 * 1024)
#: Several 256 KiB chunks at the e2e rate: a held copy of it stays pending until aborted.
LARGER = os.urandom(2 * 1024 * 1024)


class Blobs:
    """One test's containers (unique names) in the source and destination accounts."""

    def __init__(self, stack: StorageStack) -> None:
        self.tag = uuid.uuid4().hex[:12]
        self.source = self._container(stack, SOURCE_ACCOUNT, f"cli-src-{self.tag}")
        self.destination = self._container(stack, DEST_ACCOUNT, f"cli-dst-{self.tag}")

    @staticmethod
    def _container(stack: StorageStack, account: str, name: str) -> ContainerClient:
        service = BlobServiceClient.from_connection_string(stack.connection_string(account))
        container = service.get_container_client(name)
        container.create_container()
        return container

    def seed(self, name: str, data: bytes) -> str:
        """Upload a source blob; its URL."""
        blob = self.source.get_blob_client(name)
        blob.upload_blob(data, overwrite=True)
        return str(blob.url)

    def missing(self, name: str = "missing.bin") -> str:
        """The URL of a source blob that does not exist (in a container that does)."""
        return str(self.source.get_blob_client(name).url)

    def target(self, name: str) -> str:
        """The URL of a destination blob in this test's destination container."""
        return str(self.destination.get_blob_client(name).url)

    def delete(self) -> None:
        """Remove both containers."""
        for container in (self.source, self.destination):
            container.delete_container()
            container.close()


@pytest.fixture
def blobs(e2e_stack: StorageStack) -> Iterator[Blobs]:
    """Fresh containers for one test, removed afterwards."""
    made = Blobs(e2e_stack)
    yield made
    made.delete()


def run_cli(service: AppHost, *args: str) -> Result:
    """Run one `blobcopy` command against the service, as a user would type it."""
    return CliRunner().invoke(cli, ["--url", service.base_url, *args], catch_exceptions=False)


def json_of(result: Result) -> Any:
    """The JSON a `--json` command printed on stdout."""
    return json.loads(result.stdout)


def start_json(service: AppHost, source: str, destination: str, *extra: str) -> str:
    """`blobcopy start SOURCE DESTINATION --json`; the new copy's id."""
    result = run_cli(
        service, "start", source, destination, "--timeout", COPY_TIMEOUT_S, "--json", *extra
    )
    assert result.exit_code == exit_codes.OK, result.output
    copy_id: str = json_of(result)["id"]
    return copy_id


def status_until(service: AppHost, copy_id: str, ready: Any, what: str) -> dict[str, Any]:
    """`blobcopy status ID --json` until `ready(document)`; fail, never hang, past the limit."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        result = run_cli(service, "status", copy_id, "--json")
        assert result.exit_code == exit_codes.OK, result.output
        document: dict[str, Any] = json_of(result)
        if ready(document):
            return document
        if time.monotonic() > deadline:
            pytest.fail(f"copy {copy_id} never reached: {what}; last: {document}")
        time.sleep(0.2)


def test_start_json_prints_the_new_copy(copy_service: AppHost, blobs: Blobs) -> None:
    """`start --json` prints the accepted copy's id and status URL, and the copy then succeeds."""
    result = run_cli(
        copy_service,
        "start",
        blobs.seed("a.bin", SMALL),
        blobs.target("a.bin"),
        "--timeout",
        COPY_TIMEOUT_S,
        "--json",
    )
    assert result.exit_code == exit_codes.OK, result.output
    accepted = json_of(result)
    assert accepted["id"]
    assert accepted["status_url"].endswith(f"/api/copies/{accepted['id']}")
    final = status_until(
        copy_service, accepted["id"], lambda d: d["state"] != "running", "a final state"
    )
    assert final["state"] == "succeeded"


def test_start_wait_follows_the_copy_to_success(copy_service: AppHost, blobs: Blobs) -> None:
    """`start --wait` returns once the copy succeeded, exits 0 and prints the final document."""
    result = run_cli(
        copy_service,
        "start",
        blobs.seed("b.bin", SMALL),
        blobs.target("b.bin"),
        "--timeout",
        COPY_TIMEOUT_S,
        "--wait",
        "--json",
    )
    assert result.exit_code == exit_codes.OK, result.output
    final = json_of(result)
    assert final["state"] == "succeeded"
    assert final["progress"]["bytes_copied"] == len(SMALL)
    assert blobs.destination.get_blob_client("b.bin").download_blob().readall() == SMALL


def test_status_shows_the_copy(copy_service: AppHost, blobs: Blobs) -> None:
    """`status ID` shows the copy's document, as JSON and as a table naming its id and state."""
    copy_id = start_json(copy_service, blobs.seed("c.bin", SMALL), blobs.target("c.bin"))
    document = status_until(copy_service, copy_id, lambda d: d["state"] != "running", "the end")
    assert document["id"] == copy_id
    assert document["destination"] == blobs.target("c.bin")
    table = run_cli(copy_service, "status", copy_id)
    assert table.exit_code == exit_codes.OK, table.output
    assert copy_id in table.stdout
    assert "succeeded" in table.stdout


def test_status_of_an_unknown_copy_exits_not_found(copy_service: AppHost) -> None:
    """`status` of an id the service never saw exits with the not-found code."""
    result = run_cli(copy_service, "status", f"never-{uuid.uuid4().hex}")
    assert result.exit_code == exit_codes.NOT_FOUND, result.output


def test_list_includes_a_started_copy(copy_service: AppHost, blobs: Blobs) -> None:
    """`list` shows a copy just started, in the JSON listing and in the table."""
    copy_id = start_json(copy_service, blobs.seed("d.bin", SMALL), blobs.target("d.bin"))
    listing = run_cli(copy_service, "list", "--json")
    assert listing.exit_code == exit_codes.OK, listing.output
    assert copy_id in {copy["id"] for copy in json_of(listing)["copies"]}
    table = run_cli(copy_service, "list")
    assert table.exit_code == exit_codes.OK, table.output
    assert copy_id in table.stdout
    status_until(copy_service, copy_id, lambda d: d["state"] != "running", "the end")


def test_abort_stops_a_running_copy(
    copy_service: AppHost, e2e_stack: StorageStack, blobs: Blobs
) -> None:
    """`abort ID` on a copy in progress ends it aborted; `status --wait` exits with that code."""
    e2e_stack.faults.hold_copies(path=blobs.destination.container_name)
    copy_id = start_json(
        copy_service, blobs.seed("e.bin", LARGER), blobs.target("e.bin"), "--poll-max", "0.5"
    )
    status_until(copy_service, copy_id, lambda d: bool(d["copy_id"]), "a pending storage copy")
    aborted = run_cli(copy_service, "abort", copy_id, "--reason", "e2e test")
    assert aborted.exit_code == exit_codes.OK, aborted.output
    assert f"Abort requested for copy {copy_id}" in aborted.stdout
    final = run_cli(copy_service, "status", copy_id, "--wait", "--json")
    assert final.exit_code == exit_codes.COPY_ABORTED, final.output
    assert json_of(final)["state"] == "aborted"
    again = run_cli(copy_service, "abort", copy_id)
    assert again.exit_code == exit_codes.CONFLICT, again.output


def test_failed_copy_with_wait_exits_with_the_failed_code(
    copy_service: AppHost, blobs: Blobs
) -> None:
    """`start --wait` of a source that does not exist ends failed and exits with its code."""
    result = run_cli(
        copy_service,
        "start",
        blobs.missing(),
        blobs.target("f.bin"),
        "--timeout",
        COPY_TIMEOUT_S,
        "--wait",
        "--json",
    )
    assert result.exit_code == exit_codes.COPY_FAILED, result.output
    final = json_of(result)
    assert final["state"] == "failed"
    assert final["error"]["code"]


def test_console_script_lists_copies(copy_service: AppHost) -> None:
    """The installed `blobcopy` console script reaches the service and lists copies as JSON."""
    script = Path(sys.executable).with_name("blobcopy")
    assert script.exists(), f"no blobcopy console script next to {sys.executable}: make setup"
    done = subprocess.run(
        [str(script), "--url", copy_service.base_url, "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == exit_codes.OK, done.stderr
    assert isinstance(json.loads(done.stdout)["copies"], list)
