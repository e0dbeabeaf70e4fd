"""A `make run` restart during a pending copy ends with the copy succeeded (README "Run it
locally": "a restart resumes the copies that were running").

tests/e2e/test_copy_restart.py restarts the host alone, on a storage stack that keeps running.
Here the whole `make run` stops (host, copy engine, Azurite) and starts again the same way in
the same clone, so the copy comes back only through what `make run` keeps under `.devhost/`:
the durable history (`durable.sqlite`) for the orchestration, and the copy engine's state
(`azurite/copystate.sqlite`, devhost/storage/resume.py) for the pending copy itself.

The copy is the README's own example source, `big.bin`, which `make run` prepares. The engine
holds it pending after a few chunks (its control API), so the stop always meets it mid-copy;
the restarted engine has no hold, and copies it again from its first byte, under the same copy
id.

The SIGKILL variant first waits until Azurite has written its metadata to disk. Azurite keeps
it in memory and saves it every 5 s, so a crash sooner than that loses the blobs themselves
(the example source, the destination, their leases: `make run` then prepares a new `big.bin`,
and the copy fails `BlobNotFound`). That is Azurite's loss, which this does not test.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobClient

from demo.localrun import DEST, EXAMPLE
from devhost.testing import http, wait_for
from tests.e2e.e2e_helpers import FAST_POLL, CopyApi
from tests.e2e.makerun import MakeRun, _alive, _process_tree, make_run
from tests.e2e.secretwatch import SecretWatch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEST_CONTAINER = "dst"  # `make run` makes it (demo/localrun.py)
#: Chunks the held copy may write before the stop, so a partial destination is there to redo.
CHUNKS_BEFORE_STOP = 2


@pytest.fixture(name="make_run")
def make_run_fixture(tmp_path: Path, secret_watch: SecretWatch) -> Iterator[MakeRun]:
    """`make run` in a fresh clone on free ports, stopped after the test whatever happens."""
    with make_run(tmp_path, secret_watch.scanner) as run:
        yield run


def control(run: MakeRun, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    """One call of the copy engine's control API; its JSON answer, if any."""
    data = None if body is None else json.dumps(body).encode()
    reply = http(method, f"{run.control_url}/{route}", body=data)
    assert reply.status < 300, reply.body
    return reply.json() if reply.body else None


def _cmdline(pid: int) -> list[str]:
    """A process's arguments (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def copied_bytes(run: MakeRun, blob: str) -> int:
    """How far the copy engine says the copy into `blob` has got."""
    for record in control(run, "GET", "copies"):
        if record["blob"] == blob and record["status"] == "pending":
            return int(record["progress"].split("/")[0])
    return 0


def sha256(run: MakeRun, account: str, container: str, name: str) -> str:
    """The SHA-256 of a blob's content, read through the stack's blob endpoint."""
    client = BlobClient.from_connection_string(run.connection_string(account), container, name)
    digest = hashlib.sha256()
    for chunk in client.download_blob().chunks():
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_a_make_run_restart_during_a_pending_copy_ends_with_the_copy_succeeded(
    make_run: MakeRun, how: str
) -> None:
    """Stopped (SIGTERM, Ctrl-C's path) or killed (SIGKILL to every process: a crash) while a
    copy is pending, `make run` started again the same way finishes the copy: `succeeded`, and
    the destination holds the source's bytes."""
    account, container, name = EXAMPLE
    dest_name = f"restart-{how}.bin"
    control(make_run, "POST", "hold", {"path": f"/{DEST_CONTAINER}/{dest_name}$"})
    api = CopyApi(make_run.base_url)
    copy_id = api.start(
        {
            "source": {"url": make_run.blob_url(account, container, name)},
            "destination": {"url": make_run.blob_url(DEST, DEST_CONTAINER, dest_name)},
            "poll": FAST_POLL,
        }
    )
    pending = api.wait_pending(copy_id)
    control(make_run, "POST", "allow", {"chunks": CHUNKS_BEFORE_STOP})
    wait_for(lambda: copied_bytes(make_run, dest_name) or None, what="the first chunks copied")

    if how == "sigkill":
        make_run.wait_until_azurite_saved()  # Azurite's own loss is not what this tests
    make_run.stop(kill=how == "sigkill")
    assert make_run.left_running == [], "a process of `make run` outlived its stop"
    assert (make_run.workdir / ".devhost" / "durable.sqlite").exists()
    assert (make_run.workdir / ".devhost" / "azurite" / "copystate.sqlite").exists()
    api.base_url = make_run.start()

    doc = api.wait_final(copy_id)
    assert doc["state"] == "succeeded", (doc["error"], make_run.output_tail())
    assert doc["copy_id"] == pending["copy_id"], "the copy went on, it was not started anew"
    assert sha256(make_run, DEST, DEST_CONTAINER, dest_name) == sha256(
        make_run, account, container, name
    )


def test_a_sigkilled_devhost_up_leaves_no_host_or_storage_running(make_run: MakeRun) -> None:
    """Only `devhost up` is killed (a crash of the stack's parent): its host and storage
    children die with it (PR_SET_PDEATHSIG, devhost/lifetime.py), so nothing keeps serving its
    ports against a stack that is gone, and the next `make run` can start."""
    tree = _process_tree(make_run.pid)
    up = next(p for p in tree if _cmdline(p[0]).count("devhost") and "up" in _cmdline(p[0]))
    children = {p for p in tree if p != up and p[0] != make_run.pid}
    assert children, "devhost up started no children"
    os.kill(up[0], signal.SIGKILL)
    wait_for(lambda: not any(_alive(p) for p in children) or None, what="the children to stop")
    make_run.stop()
    make_run.start()  # the ports are free again
    assert http("GET", f"{make_run.base_url}/api/copies").status == 200
