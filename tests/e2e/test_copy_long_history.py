"""Long copies keep a bounded history: the orchestrator continues as new and nothing is lost."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, wait_for
from tests.e2e.conftest import app_settings
from tests.e2e.e2e_helpers import FAST_POLL, CopyApi, TestBlobs

pytestmark = pytest.mark.e2e

KIB = 1024


def _executions(host: AppHost, instance_id: str) -> int:
    """How many executions the instance has had, from the host's console log."""
    return 1 + host.output().count(f"{instance_id}: Orchestration continued as new")


@pytest.fixture
def short_history_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """A copy service that continues as new after every single wake-up."""
    env = app_settings(e2e_stack) | {"BLOBCOPY_POLLS_PER_EXECUTION": "1"}
    with AppHost(REPO_ROOT, env=env) as host:
        yield host


def test_copy_spanning_many_executions_succeeds(
    short_history_service: AppHost, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """A copy watched across several continue_as_new executions ends succeeded with its bytes."""
    data = os.urandom(2048 * KIB)  # 8 chunks of 256 KiB
    source, dest = blobs.source(data), blobs.destination()
    service = CopyApi(short_history_service.base_url)
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = service.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    for _ in range(3):  # let the copy crawl so it spans several polls, hence executions
        seen = service.document(copy_id)["progress"]["bytes_copied"] or 0
        e2e_stack.faults.allow_chunks(1)
        wait_for(
            lambda seen=seen: (  # type: ignore[misc]  # mypy infers no lambda with a default
                (service.document(copy_id)["progress"]["bytes_copied"] or 0) > seen or None
            ),
            what="progress after one more chunk",
        )
    e2e_stack.faults.release_copies()
    doc = service.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert dest.download_blob().readall() == data
    assert blobs.leased_sources() == []
    assert _executions(short_history_service, copy_id) >= 3


def test_abort_reaches_a_copy_after_it_continued_as_new(
    short_history_service: AppHost, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """An abort raised after several executions still aborts the copy and frees the lease."""
    source, dest = blobs.source(os.urandom(512 * KIB)), blobs.destination()
    service = CopyApi(short_history_service.base_url)
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = service.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    service.wait_pending(copy_id)
    wait_for(
        lambda: _executions(short_history_service, copy_id) >= 2 or None,
        what="a continue_as_new",
    )
    assert service.abort(copy_id, "stop").status == 202
    doc = service.wait_final(copy_id)
    assert doc["state"] == "aborted", doc
    assert _executions(short_history_service, copy_id) >= 2
    assert dest.get_blob_properties().size == 0
    assert blobs.leased_sources() == []
