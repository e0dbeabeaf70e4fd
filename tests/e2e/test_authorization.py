"""Authorization is decided before any storage call: a copy or batch outside the allowlists is a
403, and the copy engine counts no transaction for it (issue 12). Keyless calls when keys are
required are in test_function_keys.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, http
from tests.e2e.conftest import app_settings
from tests.e2e.e2e_helpers import DEST_ACCOUNT, SOURCE_ACCOUNT, TestBlobs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fenced_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """The service with sources fenced to the destination account's `fenced-src` container."""
    env = app_settings(e2e_stack) | {
        "BLOBCOPY_ALLOWED_SOURCES": f"{DEST_ACCOUNT}/fenced-src",
        "BLOBCOPY_REPLICATION_RULES": "[]",  # the example rule's source is outside the fence
    }
    with AppHost(REPO_ROOT, env=env) as host:
        yield host


def refused(host: AppHost, stack: StorageStack, path: str, body: dict[str, Any]) -> str:
    """POST the body; assert a 403 with no storage transaction; the field it names."""
    stack.reset_transactions()
    reply = http(
        "POST",
        f"{host.base_url}/api/{path}",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 403, reply.body
    assert stack.transactions().by_account == {}
    [field] = [f["field"] for f in reply.json()["error"]["fields"]]
    return str(field)


def test_copies_outside_the_allowlists_are_refused_before_any_storage_call(
    fenced_service: AppHost, e2e_stack: StorageStack, blobs: TestBlobs
) -> None:
    """A destination outside BLOBCOPY_ALLOWED_DESTINATIONS, a source outside
    BLOBCOPY_ALLOWED_SOURCES, a destination in no configured account: each a 403 on its field,
    and not one request reaches storage (the sources here really exist)."""
    source = blobs.source(b"x" * 100)
    outside_dest = blobs.destination(account=SOURCE_ACCOUNT).url
    inside_dest = blobs.destination().url
    cases = [
        ({"source": {"url": source}, "destination": {"url": outside_dest}}, "destination.url"),
        ({"source": {"url": source}, "destination": {"url": inside_dest}}, "source.url"),
        (
            {"source": {"url": source}, "destination": {"url": "https://x.example/c/b.bin"}},
            "destination.url",
        ),
    ]
    for body, field in cases:
        assert refused(fenced_service, e2e_stack, "copies", body) == field


def test_batches_outside_the_allowlists_are_refused_before_any_storage_call(
    fenced_service: AppHost, e2e_stack: StorageStack, blobs: TestBlobs
) -> None:
    """The same for batches: both containers are checked before anything is listed."""
    source = blobs.container(SOURCE_ACCOUNT).url
    outside_dest = source.rsplit("/", 1)[0] + "/elsewhere"  # the source's account
    cases = [
        ({"source": {"url": source}, "destination": {"url": outside_dest}}, "destination.url"),
        (
            {"source": {"url": source}, "destination": {"url": blobs.container(DEST_ACCOUNT).url}},
            "source.url",
        ),
    ]
    for body, field in cases:
        assert refused(fenced_service, e2e_stack, "batches", body) == field
