"""Waiting for a copy: Retry-After, bounds, brief outages, final states; no real clock."""

from __future__ import annotations

import pytest

from blobcopy.client import ApiUnreachable, ServerError
from blobcopy.waiting import PollPolicy, is_finished, wait_for_copy
from tests.contract.blobcopy_fakes import FakeApi, answer, status_document


def test_retry_after_is_followed_within_bounds() -> None:
    """The delay is Retry-After, clamped to the policy's bounds, or the default when absent."""
    policy = PollPolicy(default_seconds=2, min_seconds=0.5, max_seconds=60)
    assert [policy.delay(value) for value in (5, 0, 3600, None)] == [5, 0.5, 60, 2]


def test_running_202_is_not_finished_and_200_is() -> None:
    """202 + running goes on; any final state, or a 200 in an unknown state, ends the wait."""
    assert not is_finished(answer(202, status_document("running")))
    assert is_finished(answer(200, status_document("aborted")))
    assert is_finished(answer(200, status_document("brand_new_state")))


def test_wait_reports_every_document_and_returns_the_last() -> None:
    """on_update sees each status document; the final one is returned."""
    api = FakeApi(answer(202, status_document(), "1"), answer(200, status_document("failed")))
    seen: list[str] = []
    final = wait_for_copy(
        api, "copy-1", on_update=lambda d: seen.append(d["state"]), sleep=lambda s: None
    )
    assert seen == ["running", "failed"]
    assert final["state"] == "failed"


def test_brief_outages_are_retried() -> None:
    """A refused connection or a 503 while waiting is retried, then waiting goes on."""
    api = FakeApi(
        ApiUnreachable("down"),
        ServerError(503, "busy"),
        answer(200, status_document("succeeded")),
    )
    sleeps: list[float] = []
    final = wait_for_copy(
        api, "copy-1", first=answer(202, status_document(), "4"), sleep=sleeps.append
    )
    assert final["state"] == "succeeded"
    assert sleeps[0] == 4 and len(sleeps) == 3


def test_a_lasting_outage_ends_the_wait() -> None:
    """After `transient_retries` failed looks in a row the error surfaces."""
    api = FakeApi(*[ApiUnreachable("down") for _ in range(3)])
    policy = PollPolicy(transient_retries=2)
    with pytest.raises(ApiUnreachable):
        wait_for_copy(
            api, "c", first=answer(202, status_document()), sleep=lambda s: None, policy=policy
        )


def test_wait_for_batch_reads_the_batch_route() -> None:
    """wait_for_batch asks get_batch, from the start's 202 (which holds no state) to the end."""
    from blobcopy.waiting import wait_for_batch
    from tests.contract.blobcopy_fakes import batch_accepted, batch_document

    api = FakeApi(answer(202, batch_document(), "3"), answer(200, batch_document("aborted")))
    seen: list[str] = []
    sleeps: list[float] = []
    final = wait_for_batch(
        api,
        "batch-1",
        first=batch_accepted(),
        on_update=lambda d: seen.append(str(d.get("state"))),
        sleep=sleeps.append,
    )
    assert final["state"] == "aborted"
    assert seen == ["None", "running", "aborted"]
    assert sleeps == [2.0, 3.0]
    assert api.calls == [("batch status", "batch-1")] * 2
