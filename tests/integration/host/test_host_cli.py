"""The `python -m devhost` command line: run, up and storage, as a developer calls them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.storage.stack import StorageConfig
from devhost.testing import REPO_ROOT
from tests.integration.host.host_helpers import http, wait_for

pytestmark = pytest.mark.integration


def devhost(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[str]:
    """Start `python -m devhost ...` from the repository root, output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "devhost", *args],
        cwd=REPO_ROOT,
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_storage_command_is_the_storage_stack_cli() -> None:
    """`devhost storage` hands its arguments to the storage stack's own command line."""
    process = devhost("storage", "--help")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "--queue-port" in output


def test_run_refuses_queue_triggers_without_a_storage_setting(
    apps_dir: Path, tmp_path: Path
) -> None:
    """Without AzureWebJobsStorage a queue-triggered app stops at once with a message saying so."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(apps_dir / "queue_basics" / "function_app.py", app)
    env = {**os.environ, "AzureWebJobsStorage": "", "WORK_QUEUE": "work", "RESULT_QUEUE": "res"}
    process = devhost(
        "run", str(app), "--port", "0", "--durable-db", str(tmp_path / "d.sqlite"), env=env
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "app setting 'AzureWebJobsStorage'" in output
    assert "Traceback" not in output


def test_up_serves_the_app_against_its_own_storage_stack(apps_dir: Path, tmp_path: Path) -> None:
    """`devhost up` starts storage, runs the app's `--prepare` step against it, points
    AzureWebJobsStorage at it, and stops both on SIGTERM."""
    ports = StorageConfig.free_ports()
    ready = tmp_path / "ready"
    env = {k: v for k, v in os.environ.items() if k != "AzureWebJobsStorage"}
    env["WORK_QUEUE"] = "work-prepared"
    process = devhost(
        "up",
        str(apps_dir / "queue_basics"),
        "--port",
        "0",
        "--ready-file",
        str(ready),
        "--durable-db",
        str(tmp_path / "d.sqlite"),
        "--storage-dir",
        str(tmp_path / "storage"),
        "--blob-port",
        str(ports.blob_port),
        "--queue-port",
        str(ports.queue_port),
        "--table-port",
        str(ports.table_port),
        "--prepare",
        "prepare:make_work_queue",
        env=env,
    )
    try:
        base_url = wait_for(
            lambda: ready.read_text() if ready.exists() and process.poll() is None else None,
            what="devhost up to serve",
        )
        assert http("POST", f"{base_url}/api/enqueue", body=b"via up").status == 202
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert f"queue http://127.0.0.1:{ports.queue_port}/" in output
    assert "Executed 'Functions.enqueue' (Succeeded" in output
    assert "Stopping the storage stack" in output
    assert "prepared: queue work-prepared" in output
    assert output.index("prepared: queue") < output.index("Host started")


def test_sigterm_stops_run_gracefully(apps_dir: Path, tmp_path: Path) -> None:
    """`devhost run` answers SIGTERM with an orderly stop and exit code 0."""
    ready = tmp_path / "ready"
    process = devhost(
        "run", str(apps_dir / "http_basics"), "--port", "0", "--ready-file", str(ready)
    )
    try:
        wait_for(lambda: True if ready.exists() else None, what="devhost run to serve")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert output.index("Stopping host...") < output.index("Host stopped.")
