"""A copy outlives the host that runs it: durable state carries it across a crash."""

from __future__ import annotations

import os
import re

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import AppHost
from tests.e2e.e2e_helpers import FAST_POLL, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def test_copy_survives_a_host_crash(
    own_copy_service: AppHost, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """A host killed while a copy runs resumes it after a restart: the copy succeeds with
    identical bytes and the source lease is released."""
    data = os.urandom(1024 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    service = CopyApi(own_copy_service.base_url)
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = service.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    service.wait_pending(copy_id)
    e2e_stack.faults.allow_chunks(1)
    service.base_url = own_copy_service.restart(kill=True)
    assert service.document(copy_id)["state"] == "running"
    e2e_stack.faults.release_copies()
    doc = service.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert dest.download_blob().readall() == data
    assert blobs.leased_sources() == []
