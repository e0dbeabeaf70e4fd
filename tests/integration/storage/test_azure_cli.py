"""The Azure CLI (a client nobody here wrote) starts and cancels copies through the engine.

The CLI lives in its own venv because it is large and pins its own SDKs:

    python3.11 -m venv .venv-azcli && .venv-azcli/bin/pip install azure-cli==2.91.0

`az storage blob copy start-batch` builds a cross-account source URL from the public cloud's
endpoint suffix (https://<account>.blob.core.windows.net), so it cannot reach a local second
account; this test copies within one account on a stack with `all_async`, which makes those
copies pending exactly like cross-account ones.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.storage.stack import StorageConfig, StorageStack
from tests.integration.storage.storage_helpers import service, wait_finished

AZ = Path(__file__).resolve().parents[3] / ".venv-azcli" / "bin" / "az"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not AZ.exists(),
        reason="Azure CLI not installed: python3.11 -m venv .venv-azcli && "
        ".venv-azcli/bin/pip install azure-cli==2.91.0",
    ),
]


@pytest.fixture(scope="module")
def async_stack() -> Iterator[StorageStack]:
    """A stack where every copy is asynchronous, with small chunks."""
    config = StorageConfig.free_ports(all_async=True, copy_chunk_bytes=64 * 1024)
    with StorageStack(config) as stack:
        yield stack


def az(stack: StorageStack, tmp_path: Path, *args: str) -> str:
    """Run `az` against the stack (own config dir, no telemetry) and return its stdout."""
    env = dict(
        os.environ,
        AZURE_CONFIG_DIR=str(tmp_path / "azcfg"),
        AZURE_CORE_COLLECT_TELEMETRY="false",
        AZURE_STORAGE_CONNECTION_STRING=stack.connection_string(),
    )
    done = subprocess.run(
        [str(AZ), *args, "--only-show-errors", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_copy_start_batch_then_cancel(async_stack: StorageStack, tmp_path: Path) -> None:
    """start-batch starts pending copies; `copy cancel` aborts one; the others succeed."""
    blobs: BlobServiceClient = service(async_stack)
    source = blobs.create_container("clisrc")
    dest = blobs.create_container("clidst")
    contents = {f"dir/b{i}.bin": os.urandom(100_000 * (i + 1)) for i in range(3)}
    for name, data in contents.items():
        source.upload_blob(name, data)
    async_stack.faults.hold_copies(path="b2")

    started = json.loads(
        az(async_stack, tmp_path, "storage", "blob", "copy", "start-batch",
           "--source-container", "clisrc", "--destination-container", "clidst")
    )  # fmt: skip

    assert len(started) == 3
    shown = json.loads(
        az(async_stack, tmp_path, "storage", "blob", "show", "-c", "clidst", "-n", "dir/b2.bin",
           "--query", "properties.copy")
    )  # fmt: skip
    assert shown["status"] == "pending"
    az(async_stack, tmp_path, "storage", "blob", "copy", "cancel", "-c", "clidst",
       "-b", "dir/b2.bin", "--copy-id", shown["id"])  # fmt: skip
    cancelled = dest.get_blob_client("dir/b2.bin").get_blob_properties()
    assert (cancelled.copy.status, cancelled.size) == ("aborted", 0)
    for name in ("dir/b0.bin", "dir/b1.bin"):
        assert wait_finished(dest.get_blob_client(name)).copy.status == "success"
        assert dest.download_blob(name).readall() == contents[name]
