"""Fault injection: chosen requests fail or slow down, and the SDK sees the service's errors."""

from __future__ import annotations

import json
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient

from devhost.storage.stack import StorageStack
from tests.integration.storage.storage_helpers import sas_url, wait_finished

pytestmark = pytest.mark.integration


def test_injected_error_surfaces_as_the_sdks_error(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """A rule answering 503 ServerBusy reaches the SDK as HttpResponseError with that code."""
    storage_stack.faults.fail(status=503, code="ServerBusy", method="PUT", path=r"/busy\.bin$")
    blob = dest.get_blob_client("busy.bin")
    with pytest.raises(HttpResponseError) as err:
        blob.upload_blob(b"x")
    assert (err.value.status_code, err.value.error_code) == (503, "ServerBusy")  # type: ignore[attr-defined]  # azure.storage sets error_code
    blob.upload_blob(b"x")  # times=1: the next request goes through
    assert blob.download_blob().readall() == b"x"


def test_injected_error_can_target_copy_blob_only(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A rule on the x-ms-copy-source header fails Copy Blob and nothing else."""
    src.upload_blob("s.bin", b"s" * 100)
    storage_stack.faults.fail(
        status=500, code="InternalError", header="x-ms-copy-source", times=None
    )
    target = dest.get_blob_client("t.bin")
    target.upload_blob(b"other writes still work")
    with pytest.raises(HttpResponseError) as err:
        target.start_copy_from_url(sas_url(src.get_blob_client("s.bin")))
    assert err.value.error_code == "InternalError"  # type: ignore[attr-defined]  # azure.storage sets error_code


def test_latency_rule_delays_but_does_not_fail(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """A delay-only rule lets the request succeed (after the delay)."""
    storage_stack.faults.delay(0.05, method="GET", times=1)
    dest.upload_blob("slow.bin", b"slow")
    assert dest.download_blob("slow.bin").readall() == b"slow"


def test_transient_source_errors_are_retried(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """One failed source read is retried, like Azure's copy does; the copy still succeeds."""
    src.upload_blob("s.bin", b"s" * 600_000)
    storage_stack.faults.fail(target="source", method="GET", status=500, code="InternalError")
    target = dest.get_blob_client("retried.bin")
    target.start_copy_from_url(sas_url(src.get_blob_client("s.bin")))
    assert wait_finished(target).copy.status == "success"
    assert target.download_blob().readall() == b"s" * 600_000


def test_persistent_source_errors_fail_the_copy(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A source that keeps failing makes the copy 'failed' with the status in its description."""
    src.upload_blob("s.bin", b"s" * 1000)
    storage_stack.faults.fail(
        target="source", method="GET", status=503, code="ServerBusy", times=None
    )
    target = dest.get_blob_client("failed.bin")
    target.start_copy_from_url(sas_url(src.get_blob_client("s.bin")))
    props = wait_finished(target)
    assert props.copy.status == "failed"
    assert props.copy.status_description is not None
    assert props.copy.status_description.startswith("503 ServerBusy")


def test_transient_destination_write_errors_are_retried(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """One Put Block answered 500 is written again, as Azure's copy rides out intermittent
    errors; the copy succeeds with every byte."""
    src.upload_blob("s.bin", b"s" * 1000)
    storage_stack.faults.fail(
        target="destination", query="comp=block", status=500, code="InternalError"
    )
    target = dest.get_blob_client("dest-retried.bin")
    target.start_copy_from_url(sas_url(src.get_blob_client("s.bin")))
    assert wait_finished(target).copy.status == "success"
    assert target.download_blob().readall() == b"s" * 1000
    assert storage_stack.faults.injected()["destination"] == 1


def test_destination_write_errors_fail_the_copy(
    storage_stack: StorageStack, src: ContainerClient, dest: ContainerClient
) -> None:
    """A destination write refused mid-copy, every time it is tried, makes the copy 'failed'."""
    src.upload_blob("s.bin", b"s" * 1000)
    storage_stack.faults.fail(
        target="destination", query="comp=block", status=500, code="InternalError", times=None
    )
    target = dest.get_blob_client("dest-failed.bin")
    target.start_copy_from_url(sas_url(src.get_blob_client("s.bin")))
    props = wait_finished(target)
    assert props.copy.status == "failed"
    assert props.size == 0


def test_control_api_adds_and_clears_rules(
    storage_stack: StorageStack, dest: ContainerClient
) -> None:
    """The same faults are reachable over HTTP for tests in other processes."""
    rule = json.dumps(
        {"status": 500, "code": "InternalError", "method": "GET", "path": "ctl", "times": None}
    ).encode()
    request = urllib.request.Request(
        f"{storage_stack.control_url}/faults", data=rule, method="POST"
    )
    with urllib.request.urlopen(request) as resp:
        assert resp.status == 201 and "id" in json.load(resp)
    dest.upload_blob("ctl.bin", b"c")
    with pytest.raises(HttpResponseError):
        dest.download_blob("ctl.bin").readall()
    clear = urllib.request.Request(f"{storage_stack.control_url}/faults", method="DELETE")
    with urllib.request.urlopen(clear) as resp:
        assert resp.status == 204
    assert dest.download_blob("ctl.bin").readall() == b"c"
    with urllib.request.urlopen(f"{storage_stack.control_url}/copies") as resp:
        assert isinstance(json.load(resp), list)
