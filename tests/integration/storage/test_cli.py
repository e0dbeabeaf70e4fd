"""`python -m devhost.storage` runs the stack in the foreground and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.storage.stack import StorageConfig

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_cli_serves_until_sigterm_then_stops_everything() -> None:
    """The command prints its endpoints (no key), serves, and frees every port on SIGTERM."""
    config = StorageConfig.free_ports()
    ports = [config.blob_port, config.queue_port, config.table_port]
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost.storage", "--blob-port", str(ports[0]),
         "--queue-port", str(ports[1]), "--table-port", str(ports[2]), "--copy-rate", "8MiB"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C to stop." in line:
                break
        output = "".join(lines)
        assert f"BlobEndpoint=http://127.0.0.1:{ports[0]}/devstoreaccount1" in output
        assert "Eby8vdM02x" not in output
        assert not any(_port_free(p) for p in ports)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "storage stack stopped." in rest
        assert all(_port_free(p) for p in ports)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
