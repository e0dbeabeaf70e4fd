"""Faults while a copy runs: storage hiccups are retried, a lost source lease stops the copy."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobLeaseClient

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, wait_for
from tests.e2e.conftest import app_settings
from tests.e2e.e2e_helpers import FAST_POLL, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


@pytest.fixture
def short_lease_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """A copy service whose source leases last 15 s, so renewals come every 7.5 s."""
    env = app_settings(e2e_stack) | {"BLOBCOPY_LEASE_SECONDS": "15"}
    with AppHost(REPO_ROOT, env=env) as host:
        yield host


def test_status_read_failing_once_is_retried_and_the_copy_succeeds(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """A 503 on the orchestrator's status read of the destination is retried, not fatal."""
    data = os.urandom(1024 * KIB)
    source, dest = blobs.source(data), blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    copies.wait_pending(copy_id)
    rule = e2e_stack.faults.fail(
        status=503,
        code="ServerBusy",
        method="HEAD",
        path=re.escape(f"/{dest.container_name}/"),
        times=1,
    )
    wait_for(lambda: not e2e_stack.faults.active(rule) or None, what="the injected 503 hit")
    e2e_stack.faults.release_copies()
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert dest.download_blob().readall() == data


def test_source_lease_broken_mid_copy_stops_the_copy(
    short_lease_service: AppHost, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """When someone breaks the source lease, the next renewal fails, the storage copy is
    aborted and the copy ends failed with the lease error."""
    source, dest = blobs.source(os.urandom(1024 * KIB)), blobs.destination()
    service = CopyApi(short_lease_service.base_url)
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = service.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    service.wait_pending(copy_id)
    BlobLeaseClient(blobs.sources[-1]).break_lease(lease_break_period=0)
    doc = service.wait_final(copy_id)
    assert doc["state"] == "failed", doc
    assert doc["error"]["code"].startswith("Lease"), doc
    props = dest.get_blob_properties()
    assert (props.copy.status, props.size) == ("aborted", 0)
