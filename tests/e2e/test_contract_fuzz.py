"""The copy service agrees with openapi.json under schemathesis, with function keys required.

schemathesis (tests/e2e/contract_fuzz.py) generates valid and invalid requests for every
operation from the document and checks every answer with all its checks: no 5xx, every answer
as documented (status, media type, headers, schema), valid data accepted, invalid data refused,
no answer without the key. A bounded, derandomized run; `bench/fuzz.py` runs a longer one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, http, wait_for
from tests.e2e.conftest import app_settings
from tests.e2e.contract_fuzz import fuzz, seed_targets
from tests.e2e.e2e_helpers import DEST_ACCOUNT, SOURCE_ACCOUNT, TestBlobs

pytestmark = pytest.mark.e2e

#: Examples per operation and phase: about a minute on a 2-core machine.
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def keyed_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """The copy service with function keys required, as in Azure."""
    with AppHost(REPO_ROOT, env=app_settings(e2e_stack), require_keys=True) as host:
        yield host


def none_running(host: AppHost) -> bool | None:
    """True once no copy and no batch is running (their source leases are then released)."""
    key = {"x-functions-key": host.function_key or ""}
    for kind in ("copies", "batches"):
        reply = http("GET", f"{host.base_url}/api/{kind}?state=running", headers=key)
        if reply.json()[kind]:
            return None
    return True


def test_schemathesis_finds_no_failure(
    keyed_service: AppHost, tmp_path: Path, blobs: TestBlobs, e2e_stack: StorageStack
) -> None:
    """Every check of schemathesis passes on every operation, with the key as x-functions-key;
    valid copies and batches really start (the engine counts their Copy Blobs)."""
    assert keyed_service.function_key is not None
    started = time.monotonic()
    e2e_stack.reset_transactions()
    run = fuzz(
        keyed_service.base_url,
        keyed_service.function_key,
        max_examples=MAX_EXAMPLES,
        workdir=tmp_path,
        targets=seed_targets(blobs.container(SOURCE_ACCOUNT), blobs.container(DEST_ACCOUNT)),
    )
    took = time.monotonic() - started
    if not run.ok:  # schemathesis's own account, with a curl command for each failure
        pytest.fail(run.failures_text(), pytrace=False)
    assert run.generated > 100
    copied = sum(e2e_stack.transactions().accepted_copies.values())
    assert copied > 0, "no valid request started a copy"
    wait_for(
        lambda: none_running(keyed_service),
        what="the fuzzer's copies and batches to end",
        limit_s=180,
    )
    print(f"schemathesis: {run.generated} cases, {copied} copies, no failure, {took:.0f} s")


def test_an_id_holding_a_newline_reaches_the_function(keyed_service: AppHost) -> None:
    """`/api/copies/%0A` is routed to the function, which answers its JSON 404, as under the
    Functions host (devhost's catch-all once stopped at a newline and answered a text 404)."""
    key = {"x-functions-key": keyed_service.function_key or ""}
    for path in ("copies/a%0A", "batches/%C3%92%0A", "copies/a%0Ab/abort"):
        method = "POST" if path.endswith("abort") else "GET"
        reply = http(method, f"{keyed_service.base_url}/api/{path}", body=None, headers=key)
        assert reply.status == 404, path
        assert reply.headers["content-type"] == "application/json", path
        assert reply.json()["error"]["fields"] == [{"field": "id", "message": "unknown"}]
