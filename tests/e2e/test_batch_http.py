"""Batches end to end: POST /api/batches on the real app under devhost, Azurite + copy engine.

Sources are in devstoreaccount2 and destinations in devstoreaccount1, so every copy is an
asynchronous cross-account Copy Blob run by the copy engine. The app lists sources in pages of
at most BLOBCOPY_BATCH_PAGE_SIZE (small in e2e), so every batch here spans several pages.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from azure.storage.blob import ContainerClient

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, Reply, http, wait_for
from shared.batchops import ADOPTION_SKEW
from tests.e2e.conftest import app_settings
from tests.e2e.e2e_helpers import DEST_ACCOUNT, SOURCE_ACCOUNT, TestBlobs, assert_no_signature

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FINAL = {"succeeded", "failed", "aborted", "timed_out"}


class BatchApi:
    """The batch API as a caller sees it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, request: dict[str, Any]) -> Reply:
        body = json.dumps(request).encode()
        headers = {"Content-Type": "application/json"}
        return http("POST", f"{self.base_url}/api/batches", body=body, headers=headers)

    def start(self, request: dict[str, Any]) -> str:
        reply = self.post(request)
        assert reply.status == 202, reply.body
        assert reply.headers["location"].endswith(quote(reply.json()["id"], safe=""))
        batch_id: str = reply.json()["id"]
        return batch_id

    def status(self, batch_id: str) -> Reply:
        reply = http("GET", f"{self.base_url}/api/batches/{quote(batch_id, safe='')}")
        assert_no_signature(reply.body)
        return reply

    def wait_final(self, batch_id: str, limit_s: float = 90.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            reply = self.status(batch_id)
            doc: dict[str, Any] = reply.json()
            return doc if reply.status == 200 and doc["state"] in FINAL else None

        return wait_for(probe, what=f"batch {batch_id} to end", limit_s=limit_s)

    def abort(self, batch_id: str, reason: str) -> Reply:
        body = json.dumps({"reason": reason}).encode()
        return http(
            "POST", f"{self.base_url}/api/batches/{quote(batch_id, safe='')}/abort", body=body
        )


@pytest.fixture
def batches(copy_service: AppHost) -> BatchApi:
    return BatchApi(copy_service.base_url)


def batch_request(src: ContainerClient, dst: ContainerClient, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"url": src.url, "prefix": "in/"},
        "destination": {"url": dst.url, "prefix": "out/"},
        **extra,
    }


def fill(src: ContainerClient, count: int, size: int = 2048) -> dict[str, bytes]:
    data = {f"in/{i:04d}.bin": os.urandom(size) for i in range(count)}
    for name, content in data.items():
        src.upload_blob(name, content)
    return data


def report(blobs: TestBlobs, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's report lines, read from the report blob its document links."""
    url = doc["report"]["url"]
    container, name = url.split("/")[-2], url.split("/")[-1]
    blob = blobs.services[DEST_ACCOUNT].get_blob_client(container, name)
    return [json.loads(line) for line in blob.download_blob().readall().decode().splitlines()]


def test_a_batch_copies_every_blob_once_and_a_rerun_skips_them_all(
    batches: BatchApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """500 blobs across accounts, 16 at a time, listed in small pages: each lands
    byte-identical under the new prefix with one report line, and the copy engine saw exactly
    one accepted Copy Blob per destination and never more than 16 pending at once. The same
    batch again with overwrite=never copies nothing and reports 500 skipped."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    data = fill(src, 500, size=16 * 1024)
    e2e_stack.reset_transactions()
    doc = batches.wait_final(batches.start(batch_request(src, dst, max_concurrency=16)), 240)
    assert doc["state"] == "succeeded", doc
    assert doc["counts"]["listed"] == 500 and doc["counts"]["succeeded"] == 500
    assert doc["listing_complete"] and doc["progress"]["bytes_copied"] == 500 * 16 * 1024
    seen = e2e_stack.transactions()
    container = f"{dst.account_name}/{dst.container_name}"
    assert seen.accepted_copies == {f"{container}/out/{name[3:]}": 1 for name in data}
    assert 1 < seen.peak_pending[container] <= 16
    for name, content in data.items():
        copied = dst.get_blob_client("out/" + name[3:]).download_blob().readall()
        assert copied == content, name
    lines = report(blobs, doc)
    assert sorted(line["name"] for line in lines) == sorted(data)
    assert {line["state"] for line in lines} == {"succeeded"}

    before = {b.name: b.etag for b in dst.list_blobs(name_starts_with="out/")}
    time.sleep(ADOPTION_SKEW.total_seconds() + 0.5)
    e2e_stack.reset_transactions()
    again = batches.wait_final(batches.start(batch_request(src, dst, overwrite="never")), 240)
    assert again["state"] == "succeeded"
    assert again["counts"]["skipped"] == 500 and again["counts"]["succeeded"] == 0
    assert {b.name: b.etag for b in dst.list_blobs(name_starts_with="out/")} == before
    assert "Copy Blob" not in e2e_stack.transactions().by_operation


def test_a_dry_run_touches_no_destination(batches: BatchApi, blobs: TestBlobs) -> None:
    """dry_run lists and judges every blob and writes nothing into the destination container."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    fill(src, 12)
    doc = batches.wait_final(batches.start(batch_request(src, dst, dry_run=True)))
    assert doc["state"] == "succeeded" and doc["dry_run"]
    assert doc["counts"]["listed"] == 12 and doc["counts"]["succeeded"] == 12
    assert list(dst.list_blobs()) == []
    assert {line["state"] for line in report(blobs, doc)} == {"would_copy"}


def test_abort_in_the_middle_starts_no_more_and_leaves_nothing_pending(
    batches: BatchApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """With copies held pending, an abort ends the batch aborted: the pending copies are
    aborted, no copy was started after the abort, and none is left pending."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    fill(src, 30)
    e2e_stack.faults.hold_copies()
    batch_id = batches.start(batch_request(src, dst, max_concurrency=4))

    def running() -> dict[str, Any] | None:
        doc: dict[str, Any] = batches.status(batch_id).json()
        return doc if doc.get("counts", {}).get("running") == 4 else None

    wait_for(running, what="four copies pending", limit_s=30)
    assert batches.abort(batch_id, "enough").status == 202
    doc = batches.wait_final(batch_id)
    e2e_stack.faults.release_copies()
    assert doc["state"] == "aborted" and doc["error"]["message"] == "enough"
    assert doc["counts"]["listed"] == 4 and doc["counts"]["aborted"] == 4
    assert len(list(dst.list_blobs())) == 4
    props = [dst.get_blob_client(b.name).get_blob_properties() for b in dst.list_blobs()]
    assert all(p.copy.status != "pending" for p in props)


def test_a_copy_past_its_blob_timeout_is_aborted_and_the_rest_of_the_batch_goes_on(
    batches: BatchApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """blob_timeout_seconds=4 with renewed source leases and one copy held pending: that copy
    is aborted by the service (the engine shows it aborted, nothing pending), its source
    lease released, its report line failed with Timeout; the other blobs are copied and the
    batch ends failed, counting one Timeout."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    data = fill(src, 3)
    held = f"{dst.container_name}/out/0001\\.bin"
    e2e_stack.faults.hold_copies(path=held)
    request = batch_request(src, dst, blob_timeout_seconds=4, lease_source="renewed")
    try:
        doc = batches.wait_final(batches.start(request))
    finally:
        e2e_stack.faults.release_copies()
    assert doc["state"] == "failed" and doc["error"]["code"] == "BlobsFailed", doc
    assert (doc["counts"]["failed"], doc["counts"]["succeeded"]) == (1, 2)
    assert doc["errors"] == {"Timeout": 1}
    assert dst.get_blob_client("out/0001.bin").get_blob_properties().copy.status == "aborted"
    leases = [src.get_blob_client(n).get_blob_properties().lease.state for n in data]
    assert leases == ["available"] * 3
    lines = {line["name"]: (line["state"], line["error"]) for line in report(blobs, doc)}
    assert lines == {
        "in/0000.bin": ("succeeded", None),
        "in/0001.bin": ("failed", "Timeout"),
        "in/0002.bin": ("succeeded", None),
    }


def test_bad_batch_requests_answer_400_and_403_naming_the_field(
    batches: BatchApi, blobs: TestBlobs
) -> None:
    """A blob URL for a container, an overlap with the source, and a destination outside the
    allowlist are refused before any storage call, each naming its field."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    bad = batches.post(batch_request(src, dst, max_concurrency=0))
    assert bad.status == 400 and "max_concurrency" in bad.body.decode()
    blob_url = {"url": dst.url + "/x.bin"}
    bad = batches.post({"source": {"url": src.url}, "destination": blob_url})
    assert bad.status == 400 and "destination.url" in bad.body.decode()
    same = batches.post({"source": {"url": src.url}, "destination": {"url": src.url}})
    assert same.status == 400 and "destination.prefix" in same.body.decode()
    outside = batches.post({"source": {"url": dst.url}, "destination": {"url": src.url}})
    assert outside.status == 403 and "destination.url" in outside.body.decode()


@pytest.fixture
def short_history_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """A service whose batches continue as new every 3 rounds."""
    env = app_settings(e2e_stack) | {"BLOBCOPY_POLLS_PER_EXECUTION": "3"}
    with AppHost(REPO_ROOT, env=env) as host:
        yield host


def history_length(host: AppHost, instance_id: str) -> int:
    """Events in the instance's current execution, from the management API."""
    url = f"{host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}?showHistory=true"
    return len(http("GET", url).json().get("historyEvents") or [])


def test_the_history_of_every_execution_stays_bounded_whatever_the_batch_size(
    short_history_service: AppHost, blobs: TestBlobs
) -> None:
    """48 blobs at 4 at a time take a dozen rounds; continued as new every 3, no execution's
    history ever holds more than a fixed number of events, and nothing is lost."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    fill(src, 48, size=256)
    api = BatchApi(short_history_service.base_url)
    batch_id = api.start(batch_request(src, dst, max_concurrency=4))
    longest = 0
    while api.status(batch_id).status == 202:
        longest = max(longest, history_length(short_history_service, batch_id))
        time.sleep(0.05)
    doc = api.wait_final(batch_id)
    assert doc["state"] == "succeeded" and doc["counts"]["succeeded"] == 48
    assert short_history_service.output().count(f"{batch_id}: Orchestration continued as new") >= 3
    assert 0 < longest <= 40, longest


def test_a_batch_survives_a_host_killed_in_the_middle(
    own_copy_service: AppHost, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """devhost SIGKILLed mid-batch and restarted: the batch ends with every blob copied
    exactly once (one accepted Copy Blob per destination, from the engine's counter) and a
    report with one line per blob."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    data = fill(src, 40, size=512 * 1024)
    e2e_stack.reset_transactions()
    api = BatchApi(own_copy_service.base_url)
    batch_id = api.start(batch_request(src, dst, max_concurrency=4))

    def under_way() -> dict[str, Any] | None:
        doc: dict[str, Any] = api.status(batch_id).json()
        return doc if doc.get("counts", {}).get("succeeded", 0) >= 8 else None

    wait_for(under_way, what="a fifth of the batch copied", limit_s=60)
    api.base_url = own_copy_service.restart(kill=True)
    doc = api.wait_final(batch_id)
    assert doc["state"] == "succeeded", doc
    assert doc["counts"]["succeeded"] == 40
    container = f"{dst.account_name}/{dst.container_name}"
    assert e2e_stack.transactions().accepted_copies == {
        f"{container}/out/{name[3:]}": 1 for name in data
    }
    lines = report(blobs, doc)
    assert sorted(line["name"] for line in lines) == sorted(data)
    for name, content in data.items():
        assert dst.get_blob_client("out/" + name[3:]).download_blob().readall() == content


def report_page(host_url: str, batch_id: str, **query: str) -> Reply:
    """GET /api/batches/{id}/report with `query`."""
    params = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    reply = http("GET", f"{host_url}/api/batches/{quote(batch_id, safe='')}/report?{params}")
    assert_no_signature(reply.body)
    return reply


def test_the_report_is_served_a_page_at_a_time_and_filtered_by_state(
    batches: BatchApi, blobs: TestBlobs
) -> None:
    """Every report line comes back exactly once across pages of 7, the same lines the report
    blob holds; a state no blob ended in gives none and a null continuation."""
    src, dst = blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)
    data = fill(src, 30)
    doc = batches.wait_final(batches.start(batch_request(src, dst, max_concurrency=8)))
    lines: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(10):
        query = {"limit": "7"} | ({"continuation": token} if token else {})
        page = report_page(batches.base_url, doc["id"], **query)
        assert page.status == 200, page.text
        assert len(page.json()["lines"]) <= 7 and page.json()["state"] == "succeeded"
        lines += page.json()["lines"]
        token = page.json()["continuation"]
        if token is None:
            break
    assert sorted(line["name"] for line in lines) == sorted(data)
    assert lines == report(blobs, doc)
    none = report_page(batches.base_url, doc["id"], state="failed").json()
    assert none["lines"] == [] and none["continuation"] is None


def test_bad_report_queries_answer_400_or_404_naming_the_field(batches: BatchApi) -> None:
    url = batches.base_url
    for query, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"state": "bogus"}, "state"),
        ({"continuation": "not-a-token"}, "continuation"),
    ):
        reply = report_page(url, "any-batch", **query)
        assert reply.status == 400, reply.text
        assert [f["field"] for f in reply.json()["error"]["fields"]] == [field]
    assert report_page(url, "no-such-batch").status == 404
