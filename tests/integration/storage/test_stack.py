"""The storage stack's life cycle and pass-through: blob, queue and table all reachable."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableServiceClient
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobSasPermissions,
    BlobServiceClient,
    generate_blob_sas,
)
from azure.storage.queue import QueueServiceClient

from devhost.storage.credentials import FakeAzureADCredential
from devhost.storage.stack import StorageConfig, StorageStack
from tests.integration.storage.storage_helpers import service

pytestmark = pytest.mark.integration


def test_blob_queue_and_table_work_through_the_connection_string(
    storage_stack: StorageStack,
) -> None:
    """Blob (through the engine), queue and table (Azurite) all answer the real SDK."""
    conn = storage_stack.connection_string()
    container = service(storage_stack).create_container(f"smoke-{uuid.uuid4().hex[:8]}")
    payload = b"hello" * 100_000
    container.upload_blob("a.txt", payload)
    assert container.download_blob("a.txt").readall() == payload
    assert container.get_blob_client("a.txt").get_blob_properties().size == len(payload)
    container.delete_container()

    queues = QueueServiceClient.from_connection_string(conn)
    queue = queues.create_queue(f"q{uuid.uuid4().hex[:8]}")
    queue.send_message("hi")
    assert [m.content for m in queue.receive_messages()] == ["hi"]
    queue.delete_queue()

    tables = TableServiceClient.from_connection_string(conn)
    table = tables.create_table(f"t{uuid.uuid4().hex[:8]}")
    table.create_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
    assert table.get_entity("p", "r")["v"] == 1
    tables.delete_table(table.table_name)


def test_connection_string_names_every_endpoint(storage_stack: StorageStack) -> None:
    """The connection string is explicit (any ports work) and uses the engine for blob."""
    conn = storage_stack.connection_string("devstoreaccount2")
    port = storage_stack.config.blob_port
    assert f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount2;" in conn
    assert "QueueEndpoint=" in conn and "TableEndpoint=" in conn
    assert storage_stack.blob_endpoint() == f"http://127.0.0.1:{port}/devstoreaccount1"


def test_control_api_answers_health(storage_stack: StorageStack) -> None:
    """The control API lives under the reserved /__copyengine/ path on the blob port."""
    with urllib.request.urlopen(f"{storage_stack.control_url}/health") as resp:
        assert json.load(resp) == {"ok": True}


def test_stop_is_idempotent_and_removes_the_temp_dir(tmp_path: Path) -> None:
    """Stopping twice is harmless; a stack without data_dir cleans its temp dir up."""
    stack = StorageStack(StorageConfig.free_ports())
    stack.start()
    try:
        assert stack._temp_dir is not None
        temp = stack._temp_dir
        assert temp.exists()
    finally:
        stack.stop()
    stack.stop()
    assert not temp.exists()


def test_user_delegation_sas_works_in_https_mode(storage_stack_https: StorageStack) -> None:
    """With HTTPS + OAuth, a token credential gets a user delegation key and its SAS reads."""
    stack = storage_stack_https
    assert stack.ca_cert_path is not None
    verify = str(stack.ca_cert_path)
    keyed = BlobServiceClient.from_connection_string(
        stack.connection_string(), connection_verify=verify
    )
    container = keyed.create_container(f"uds-{uuid.uuid4().hex[:8]}")
    container.upload_blob("b.bin", b"x" * 1000)
    tokened = BlobServiceClient(
        stack.blob_endpoint(), credential=FakeAzureADCredential(), connection_verify=verify
    )
    now = dt.datetime.now(dt.UTC)
    key = tokened.get_user_delegation_key(
        now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1)
    )
    sas = generate_blob_sas(
        "devstoreaccount1",
        container.container_name,
        "b.bin",
        user_delegation_key=key,
        permission=BlobSasPermissions(read=True),
        expiry=now + dt.timedelta(hours=1),
    )
    url = f"{stack.blob_endpoint()}/{container.container_name}/b.bin?{sas}"
    assert BlobClient.from_blob_url(url, connection_verify=verify).download_blob().readall() == (
        b"x" * 1000
    )
    container.delete_container()


_STACK_THEN_SLEEP = """
import time
from devhost.storage.stack import StorageConfig, StorageStack
stack = StorageStack(StorageConfig.free_ports())
stack.start()
print(stack.config.queue_port, flush=True)
time.sleep(120)
"""


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_azurite_dies_with_a_killed_parent() -> None:
    """SIGKILL of the process that started the stack leaves no Azurite holding its ports."""
    repo = Path(__file__).resolve().parents[3]
    parent = subprocess.Popen(
        [sys.executable, "-c", _STACK_THEN_SLEEP], cwd=repo, stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        queue_port = int(parent.stdout.readline())
        assert _accepts(queue_port)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while _accepts(queue_port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _accepts(queue_port), "Azurite outlived the process that started it"


def test_a_broken_lease_cannot_be_renewed_as_in_azure(storage_stack: StorageStack) -> None:
    """Renewing a broken lease answers 409 LeaseIsBrokenAndCannotBeRenewed (Azurite renews it)."""
    container = service(storage_stack).create_container(f"lease-{uuid.uuid4().hex[:8]}")
    try:
        blob = container.upload_blob("a.bin", b"x")
        lease = BlobLeaseClient(blob)
        lease.acquire(lease_duration=15)
        lease.renew()  # an unbroken lease renews as usual
        BlobLeaseClient(blob).break_lease(lease_break_period=0)
        with pytest.raises(HttpResponseError) as caught:
            lease.renew()
        assert caught.value.error_code == "LeaseIsBrokenAndCannotBeRenewed"  # type: ignore[attr-defined]  # azure.storage sets error_code
        assert blob.get_blob_properties().lease.state == "broken"
        lease.release()  # a broken lease can still be released
    finally:
        container.delete_container()
