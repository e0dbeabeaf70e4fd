"""The whole local stack for end-to-end tests: storage stack + the real app under devhost.

One storage stack and one devhost process serve the whole e2e session, as `make run` would, but on
free loopback ports. Copies run at 8 MiB/s in 256 KiB chunks, so a few MiB take long enough to
show progress and to be aborted, and small blobs finish at once.

Every e2e test runs under the secrets scan (tests/secretscan.py, wired in
tests/e2e/secretwatch.py): after each test, a credential in any host log line, Python log
record, HTTP answer, CLI output or queue message fails it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from devhost.testing import REPO_ROOT, AppHost, storage_env
from tests.e2e.e2e_helpers import CopyApi, ExternalFiles, TestBlobs
from tests.e2e.secretwatch import SecretWatch

E2E_COPY_RATE = 8 * 1024 * 1024
#: Azure's timers fire late under load and after scale from zero, so e2e runs with late timers
#: unless told otherwise (DEVHOST_TIMER_DELAY_SECONDS=0 for the kind schedule).
E2E_TIMER_DELAY = "0-1.5"


def app_settings(stack: StorageStack) -> dict[str, str]:
    """The app settings `local.settings.json.example` gives, pointed at this stack's ports."""
    env = storage_env(stack)
    env["BLOBCOPY_ACCOUNTS"] = ",".join(ACCOUNTS)
    for account in ACCOUNTS:
        env[f"BLOBCOPY_ACCOUNT_{account.upper()}_CONNECTION_STRING"] = stack.connection_string(
            account
        )
    env["BLOBCOPY_ALLOWED_DESTINATIONS"] = ACCOUNTS[0]
    env["BLOBCOPY_POLL_MIN_SECONDS"] = "0.5"
    env["BLOBCOPY_BATCH_PAGE_SIZE"] = "7"  # every batch lists its source in several pages
    env["DEVHOST_TIMER_DELAY_SECONDS"] = os.environ.get(
        "DEVHOST_TIMER_DELAY_SECONDS", E2E_TIMER_DELAY
    )
    return env


@pytest.fixture(scope="session", autouse=True)
def secret_watch() -> Iterator[SecretWatch]:
    """The session's secrets scan, watching every host, log record, answer and CLI run."""
    with SecretWatch.installed() as watch:
        yield watch


@pytest.fixture(autouse=True)
def _no_secret_leaks(secret_watch: SecretWatch) -> Iterator[None]:
    """Fail the test if anything it made the stack say carried a credential (its fixtures'
    teardown included: this fixture is set up first, so torn down last)."""
    yield
    findings = secret_watch.sweep()
    if findings:
        pytest.fail("secrets leaked:\n" + "\n".join(findings[:20]), pytrace=False)


@pytest.fixture(scope="session")
def e2e_stack(secret_watch: SecretWatch) -> Iterator[StorageStack]:
    """Azurite + copy engine for the e2e session, at a rate that makes progress visible."""
    config = StorageConfig.free_ports(
        copy_rate_bytes_per_s=E2E_COPY_RATE, copy_chunk_bytes=256 * 1024
    )
    with StorageStack(config) as stack:
        secret_watch.watch_stack(stack)
        yield stack


@pytest.fixture(scope="session")
def copy_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """The copy service (function_app.py at the repo root) served by devhost on a free port."""
    with AppHost(REPO_ROOT, env=app_settings(e2e_stack)) as host:
        yield host


@pytest.fixture(autouse=True)
def _reset_e2e_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fault rules, held copies and transaction counts never leak from one e2e test into the
    next."""
    yield
    if "e2e_stack" in request.fixturenames:
        stack: StorageStack = request.getfixturevalue("e2e_stack")
        stack.faults.clear()
        stack.reset_transactions()


# -- fixtures of the copy tests (test_copy_*.py) ---------------------------------------------


@pytest.fixture
def copies(copy_service: AppHost) -> CopyApi:
    """The copy service's HTTP API; remembers the copies the test starts."""
    return CopyApi(copy_service.base_url)


@pytest.fixture
def blobs(e2e_stack: StorageStack, copies: CopyApi) -> Iterator[TestBlobs]:
    """Per-test containers (unique names) in both accounts, removed afterwards.

    When the test ends, every copy it started must end too (held copies are released first),
    and then no source blob the test created may still be leased.
    """
    made = TestBlobs(e2e_stack)
    yield made
    e2e_stack.faults.release_copies()
    running = [copy_id for copy_id in dict.fromkeys(copies.started) if not _ends(copies, copy_id)]
    leased = made.leased_sources()
    made.remove()
    assert not running, f"copies still running after the test: {running}"
    assert not leased, f"source blobs still leased after the test: {leased}"


def _ends(copies: CopyApi, copy_id: str, limit_s: float = 30.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        reply = copies.status(copy_id)
        if reply.status == 200:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="session")
def _external_server() -> Iterator[ExternalFiles]:
    server = ExternalFiles()
    with server:
        yield server


@pytest.fixture
def external_files(_external_server: ExternalFiles) -> Iterator[ExternalFiles]:
    """A loopback HTTP server (ranges, ETag, If-Match) serving files a test registers."""
    yield _external_server
    _external_server.clear()


@pytest.fixture
def own_copy_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """A copy service of the test's own (own durable history), for tests that kill the host."""
    with AppHost(REPO_ROOT, env=app_settings(e2e_stack)) as host:
        yield host
