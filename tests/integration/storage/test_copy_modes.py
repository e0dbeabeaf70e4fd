"""Copy sources outside Azure, the all-async switch, and copy state across engine restarts."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient

from devhost.storage.stack import StorageConfig, StorageStack
from tests.integration.storage.storage_helpers import (
    SOURCE_ACCOUNT,
    copied_bytes,
    sas_url,
    service,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.integration


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain HTTP file server on a free loopback port: an 'external URL' (no ranges)."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def ranged_web_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An aiohttp static file server (Range, ETag) on a free loopback port, in its own thread."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_static("/", tmp_path)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_external_url_with_ranges_is_read_in_ranges(
    storage_stack: StorageStack, ranged_web_root: tuple[Path, str], dest: ContainerClient
) -> None:
    """A server with Range and ETag support is read chunk by chunk, like a blob source."""
    root, base = ranged_web_root
    data = os.urandom(900_000)
    (root / "ranged.bin").write_bytes(data)
    target = dest.get_blob_client("ranged.bin")
    storage_stack.faults.hold_copies()
    assert target.start_copy_from_url(f"{base}/ranged.bin")["copy_status"] == "pending"
    storage_stack.faults.allow_chunks(1)
    assert copied_bytes(wait_until(target, lambda p: copied_bytes(p) > 0)) == 256 * 1024
    storage_stack.faults.release_copies()
    assert wait_finished(target).copy.status == "success"
    assert target.download_blob().readall() == data


def test_external_url_copy_is_pending_then_succeeds(
    storage_stack: StorageStack, web_root: tuple[Path, str], dest: ContainerClient
) -> None:
    """Any URL an HTTP GET can read copies asynchronously, content type included."""
    root, base = web_root
    data = os.urandom(700_000)
    (root / "file.json").write_bytes(data)
    target = dest.get_blob_client("external.json")
    storage_stack.faults.hold_copies()
    started = target.start_copy_from_url(f"{base}/file.json")
    assert started["copy_status"] == "pending"
    storage_stack.faults.allow_chunks(1)
    assert copied_bytes(wait_until(target, lambda p: copied_bytes(p) > 0)) < len(data)
    storage_stack.faults.release_copies()
    props = wait_finished(target)
    assert props.copy.status == "success"
    assert props.copy.progress == f"{len(data)}/{len(data)}"
    assert props.copy.source == f"{base}/file.json"
    assert props.content_settings.content_type == "application/json"
    assert target.download_blob().readall() == data


def test_unreadable_external_url_answers_cannot_verify_copy_source(
    web_root: tuple[Path, str], dest: ContainerClient
) -> None:
    """An external URL that answers 404 is refused up front with that status."""
    _, base = web_root
    with pytest.raises(HttpResponseError) as err:
        dest.get_blob_client("never.bin").start_copy_from_url(f"{base}/missing.bin")
    assert (err.value.status_code, err.value.error_code) == (404, "CannotVerifyCopySource")  # type: ignore[attr-defined]  # azure.storage sets error_code


def test_all_async_switch_makes_same_account_copies_pending(tmp_path: Path) -> None:
    """With all_async, even a same-account copy answers pending and finishes in the background."""
    with StorageStack(StorageConfig.free_ports(all_async=True, data_dir=tmp_path)) as stack:
        container = service(stack).create_container("same")
        container.upload_blob("a.bin", b"a" * 5000)
        target = container.get_blob_client("b.bin")
        started = target.start_copy_from_url(sas_url(container.get_blob_client("a.bin")))
        assert started["copy_status"] == "pending"
        assert wait_finished(target).copy.status == "success"
        assert target.download_blob().readall() == b"a" * 5000


def test_copy_properties_survive_an_engine_restart(tmp_path: Path) -> None:
    """With a data dir, a finished copy still reports its x-ms-copy-* after a restart."""
    config = StorageConfig.free_ports(data_dir=tmp_path)
    name = f"c{uuid.uuid4().hex[:8]}"
    with StorageStack(config) as stack:
        source = service(stack, SOURCE_ACCOUNT).create_container(name)
        source.upload_blob("s.bin", b"s" * 3000)
        target = service(stack).create_container(name).get_blob_client("t.bin")
        copy_id = target.start_copy_from_url(sas_url(source.get_blob_client("s.bin")))["copy_id"]
        wait_finished(target)
    with StorageStack(StorageConfig.free_ports(data_dir=tmp_path)) as again:
        props = service(again).get_blob_client(name, "t.bin").get_blob_properties()
        assert (props.copy.id, props.copy.status) == (copy_id, "success")
        assert props.copy.progress == "3000/3000"
