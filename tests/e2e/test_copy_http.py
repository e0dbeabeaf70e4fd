"""Copies over the HTTP API on the whole local stack: bytes, progress, idempotency, no secrets."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from devhost.storage.stack import StorageStack
from tests.e2e.e2e_helpers import (
    DEST_ACCOUNT,
    FAST_POLL,
    SOURCE_ACCOUNT,
    CopyApi,
    ExternalFiles,
    TestBlobs,
)

pytestmark = pytest.mark.e2e

KIB = 1024
MIB = 1024 * KIB


def test_cross_account_copy_gives_identical_bytes(copies: CopyApi, blobs: TestBlobs) -> None:
    """A blob in another account is copied with identical bytes and the copy ends succeeded."""
    data = os.urandom(768 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    accepted = copies.post({"source": {"url": source}, "destination": {"url": dest.url}})
    assert accepted.status == 202
    assert accepted.headers["location"].endswith(f"/api/copies/{accepted.json()['id']}")
    assert int(accepted.headers["retry-after"]) >= 1
    doc = copies.wait_final(accepted.json()["id"])
    assert doc["state"] == "succeeded", doc
    assert doc["error"] is None
    assert doc["progress"]["bytes_copied"] == doc["progress"]["total_bytes"] == len(data)
    assert dest.download_blob().readall() == data
    assert dest.get_blob_properties().copy.status == "success"


def test_external_url_copy_gives_identical_bytes(
    copies: CopyApi, blobs: TestBlobs, external_files: ExternalFiles
) -> None:
    """A file an HTTP server outside Azure serves is copied with identical bytes."""
    data = os.urandom(640 * KIB + 123)
    source = external_files.serve(data, "report.bin")
    dest = blobs.destination(name="from-web.bin")
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    doc = copies.wait_final(copy_id)
    assert doc["state"] == "succeeded", doc
    assert doc["source"] == source
    assert dest.download_blob().readall() == data


def _page_blob(blobs: TestBlobs, data: bytes) -> str:
    blob = blobs.container(SOURCE_ACCOUNT).get_blob_client("page.bin")
    blob.create_page_blob(len(data))
    blob.upload_page(data, offset=0, length=len(data))
    blobs.sources.append(blob)
    return str(blob.url)


def _append_blob(blobs: TestBlobs, data: bytes) -> str:
    blob = blobs.container(SOURCE_ACCOUNT).get_blob_client("append.bin")
    blob.create_append_blob()
    for start in range(0, len(data), 100 * KIB):
        blob.append_block(data[start : start + 100 * KIB])
    blobs.sources.append(blob)
    return str(blob.url)


def _snapshot(blobs: TestBlobs, data: bytes) -> str:
    url = blobs.source(data)
    snapshot = blobs.sources[-1].create_snapshot()["snapshot"]
    blobs.sources[-1].upload_blob(b"changed after the snapshot", overwrite=True)
    return f"{url}?snapshot={snapshot}"


@pytest.mark.parametrize(
    ("make_source", "blob_type"),
    [
        pytest.param(_page_blob, "PageBlob", id="page-blob"),
        pytest.param(_append_blob, "AppendBlob", id="append-blob"),
        pytest.param(_snapshot, "BlockBlob", id="snapshot"),
    ],
)
def test_other_source_kinds_copy_exactly(
    copies: CopyApi,
    blobs: TestBlobs,
    make_source: Callable[[TestBlobs, bytes], str],
    blob_type: str,
) -> None:
    """Page blobs, append blobs and snapshots in another account copy with identical bytes
    and keep their blob type."""
    data = os.urandom(512 * KIB)
    source = make_source(blobs, data)
    dest = blobs.destination()
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    assert dest.get_blob_properties().blob_type == blob_type
    assert dest.download_blob().readall() == data


def test_same_account_copy_succeeds(copies: CopyApi, blobs: TestBlobs) -> None:
    """A copy within the destination's own account (synchronous in storage) succeeds too."""
    data = os.urandom(256 * KIB)
    source = blobs.source(data, account=DEST_ACCOUNT)
    dest = blobs.destination(name="same-account.bin")
    copy_id = copies.start({"source": {"url": source}, "destination": {"url": dest.url}})
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    assert dest.download_blob().readall() == data


def test_copy_options_reach_the_destination(copies: CopyApi, blobs: TestBlobs) -> None:
    """Metadata, tags and tier land on the destination, verification passes and an infinite
    source lease is released at the end."""
    data = os.urandom(256 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    copy_id = copies.start(
        {
            "source": {"url": source},
            "destination": {"url": dest.url},
            "lease_source": "infinite",
            "verify": True,
            "metadata": {"owner": "e2e"},
            "tags": {"project": "blobcopy"},
            "tier": "Cool",
        }
    )
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    props = dest.get_blob_properties()
    assert (props.metadata, props.blob_tier) == ({"owner": "e2e"}, "Cool")
    assert dest.get_blob_tags() == {"project": "blobcopy"}
    assert dest.download_blob().readall() == data


def test_snapshot_is_dropped_after_a_successful_copy(copies: CopyApi, blobs: TestBlobs) -> None:
    """With snapshot_destination, a successful copy replaces the old content and leaves no
    snapshot behind."""
    data = os.urandom(256 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    dest.upload_blob(b"old content")
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "snapshot_destination": True}
    )
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    assert dest.download_blob().readall() == data
    listed = blobs.container(DEST_ACCOUNT).list_blobs(include=["snapshots"])
    assert [(b.name, b.snapshot) for b in listed] == [("dst.bin", None)]


def test_progress_grows_while_the_copy_runs(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """While a copy runs, the status document's bytes_copied never decreases and takes
    at least two distinct values before the copy succeeds."""
    data = os.urandom(2 * MIB)
    source = blobs.source(data)
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    seen: list[int] = []  # bytes_copied of every status document read

    def beyond(floor: int) -> Callable[[dict[str, Any]], bool]:
        def ready(doc: dict[str, Any]) -> bool:
            seen.append(doc["progress"]["bytes_copied"] or 0)
            return seen[-1] > floor

        return ready

    copies.wait_pending(copy_id)
    for _ in range(2):  # two steps of two chunks each: two distinct values in between
        floor = max(seen, default=0)
        e2e_stack.faults.allow_chunks(2)
        copies.wait_until(copy_id, beyond(floor), what=f"bytes_copied above {floor}")
    reply = copies.status(copy_id)
    assert reply.status == 202
    assert int(reply.headers["retry-after"]) >= 1
    assert reply.headers["location"].endswith(f"/api/copies/{copy_id}")
    running = reply.json()
    assert running["state"] == "running"
    assert 0 < running["progress"]["percent"] < 100
    e2e_stack.faults.release_copies()
    final = copies.wait_final(copy_id)
    seen.append(final["progress"]["bytes_copied"])
    assert final["state"] == "succeeded", final
    assert seen == sorted(seen), seen
    assert len({b for b in seen if 0 < b < len(data)}) >= 2, seen
    assert dest.download_blob().readall() == data


def test_same_id_twice_starts_one_copy(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """Posting the same request with the same id twice answers 202 with that id both times
    and runs a single copy."""
    data = os.urandom(512 * KIB)
    source = blobs.source(data)
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = f"e2e-{dest.container_name}"
    request = {
        "id": copy_id,
        "source": {"url": source},
        "destination": {"url": dest.url},
        "poll": FAST_POLL,
    }
    first = copies.post(request)
    assert (first.status, first.json()["id"]) == (202, copy_id)
    started = copies.wait_pending(copy_id)
    second = copies.post(dict(reversed(request.items())))  # same request, other key order
    assert (second.status, second.json()["id"]) == (202, copy_id)
    assert second.headers["location"] == first.headers["location"]
    e2e_stack.faults.release_copies()
    final = copies.wait_final(copy_id)
    assert final["state"] == "succeeded", final
    assert (final["created"], final["copy_id"]) == (started["created"], started["copy_id"])
    assert dest.get_blob_properties().copy.id == started["copy_id"]
    listed = [c for c in copies.list_all() if c["destination"] == dest.url]
    assert [c["id"] for c in listed] == [copy_id]


def test_concurrent_posts_of_one_id_start_one_copy(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """Four simultaneous posts of the same request and id all answer 202 with that id, and
    one copy runs."""
    source = blobs.source(os.urandom(512 * KIB))
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = f"e2e-{dest.container_name}"
    request = {
        "id": copy_id,
        "source": {"url": source},
        "destination": {"url": dest.url},
        "poll": FAST_POLL,
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: copies.post(request), range(4)))
    assert [(r.status, r.json()["id"]) for r in replies] == [(202, copy_id)] * 4
    started = copies.wait_pending(copy_id)
    e2e_stack.faults.release_copies()
    final = copies.wait_final(copy_id)
    assert final["state"] == "succeeded", final
    assert (final["created"], final["copy_id"]) == (started["created"], started["copy_id"])
    assert dest.get_blob_properties().copy.id == started["copy_id"]


def test_same_id_for_another_request_is_409(copies: CopyApi, blobs: TestBlobs) -> None:
    """Reusing a copy's id for a different request answers 409 and leaves the first copy be."""
    source = blobs.source(os.urandom(64 * KIB))
    dest = blobs.destination()
    copy_id = f"e2e-{dest.container_name}"
    request = {"id": copy_id, "source": {"url": source}, "destination": {"url": dest.url}}
    assert copies.post(request).status == 202
    other = copies.post({**request, "destination": {"url": dest.url + ".other"}})
    assert other.status == 409, other.body
    assert other.json()["error"]["fields"] == [{"field": "id", "message": "in use"}]
    assert copies.wait_final(copy_id)["state"] == "succeeded"
    assert not blobs.destination(name="dst.bin.other").exists()


def test_status_and_list_never_show_a_signature(
    copies: CopyApi, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """The service's own source SAS never appears in a status document or list answer,
    while the copy runs or after it ends."""
    source = blobs.source(os.urandom(512 * KIB))
    dest = blobs.destination()
    e2e_stack.faults.hold_copies(path=re.escape(dest.container_name))
    copy_id = copies.start(
        {"source": {"url": source}, "destination": {"url": dest.url}, "poll": FAST_POLL}
    )
    copies.wait_pending(copy_id)
    assert "sig=" in (dest.get_blob_properties().copy.source or "")  # the engine saw a SAS
    for reply in (copies.status(copy_id), copies.list(), copies.list("running")):
        assert reply.status in (200, 202)
        assert b"sig=" not in reply.body
    e2e_stack.faults.release_copies()
    copies.wait_final(copy_id)
    for reply in (copies.status(copy_id), copies.list(), copies.list("succeeded")):
        assert reply.status == 200
        assert b"sig=" not in reply.body


def test_caller_sas_is_redacted(copies: CopyApi, blobs: TestBlobs) -> None:
    """A source URL with the caller's own SAS shows in status and list with its signature
    value replaced, never the signature itself."""
    data = os.urandom(128 * KIB)
    source = blobs.source(data)
    container = blobs.container(SOURCE_ACCOUNT)
    credential = container.credential
    sas = generate_blob_sas(
        account_name=credential.account_name,
        container_name=container.container_name,
        blob_name="src.bin",
        account_key=credential.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    signature = re.search(r"sig=([^&]+)", sas)
    assert signature is not None
    dest = blobs.destination()
    copies.check_signatures = False  # `sig=REDACTED` is expected here; checked below instead
    copy_id = copies.start({"source": {"url": f"{source}?{sas}"}, "destination": {"url": dest.url}})
    copies.wait_final(copy_id)
    assert dest.download_blob().readall() == data
    for reply in (copies.status(copy_id), copies.list()):
        assert signature.group(1).encode() not in reply.body
        assert re.findall(rb"sig=(?!REDACTED)", reply.body, re.IGNORECASE) == []
    assert b"sig=REDACTED" in copies.status(copy_id).body


def test_the_list_pages_with_limit_and_continuation(copies: CopyApi, blobs: TestBlobs) -> None:
    """GET /api/copies answers at most `limit` copies and a continuation; following it to null
    returns every copy exactly once (these five among them), and a bad limit is a 400."""
    source = blobs.source(os.urandom(4 * KIB), account=DEST_ACCOUNT)
    ids = [
        copies.start(
            {
                "source": {"url": source},
                "destination": {"url": blobs.destination(name=f"p{n}").url},
                "lease_source": "none",  # five copies of one source at once
            }
        )
        for n in range(5)
    ]
    assert all(copies.wait_final(copy_id)["state"] == "succeeded" for copy_id in ids)
    # Other tests' copies are listed too, a caller's SAS among them as `sig=REDACTED`.
    copies.check_signatures = False
    first = copies.list(limit="2").json()
    assert len(first["copies"]) == 2 and first["continuation"]
    every = copies.list_all(limit=3)
    listed = [c["id"] for c in every]
    assert len(listed) == len(set(listed)) and set(ids) <= set(listed)
    assert re.findall(r"sig=(?!REDACTED)", json.dumps(every), re.IGNORECASE) == []
    assert set(ids) <= {c["id"] for c in copies.list_all("succeeded", limit=2)}
    refused = copies.list(limit="0")
    assert refused.status == 400
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["limit"]


def test_a_copy_that_if_newer_left_alone_says_skipped(copies: CopyApi, blobs: TestBlobs) -> None:
    """overwrite=if_newer with a newer destination: the copy succeeded, says `skipped: true`
    and has no copy id, and the destination keeps its bytes; a copy that copied says false
    (issue 17: a skipped copy looked like any other success)."""
    source = blobs.source(b"older source")
    dest = blobs.destination()
    dest.upload_blob(b"newer destination")
    left = copies.wait_final(
        copies.start(
            {"source": {"url": source}, "destination": {"url": dest.url}, "overwrite": "if_newer"}
        )
    )
    assert (left["state"], left["skipped"], left["copy_id"]) == ("succeeded", True, None)
    assert dest.download_blob().readall() == b"newer destination"
    other = blobs.destination(name="fresh.bin")
    copied = copies.wait_final(
        copies.start(
            {"source": {"url": source}, "destination": {"url": other.url}, "overwrite": "if_newer"}
        )
    )
    assert (copied["state"], copied["skipped"]) == ("succeeded", False)
    assert copied["copy_id"]
