"""The whole local stack for end-to-end tests: storage stack + the real app under devhost.

One storage stack and one devhost process serve the whole e2e session, as `make run` would, but on
free loopback ports. Copies run at 8 MiB/s in 256 KiB chunks, so a few MiB take long enough to
show progress and to be aborted, and small blobs finish at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from devhost.testing import REPO_ROOT, AppHost, storage_env

E2E_COPY_RATE = 8 * 1024 * 1024


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
    return env


@pytest.fixture(scope="session")
def e2e_stack() -> Iterator[StorageStack]:
    """Azurite + copy engine for the e2e session, at a rate that makes progress visible."""
    config = StorageConfig.free_ports(
        copy_rate_bytes_per_s=E2E_COPY_RATE, copy_chunk_bytes=256 * 1024
    )
    with StorageStack(config) as stack:
        yield stack


@pytest.fixture(scope="session")
def copy_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """The copy service (function_app.py at the repo root) served by devhost on a free port."""
    with AppHost(REPO_ROOT, env=app_settings(e2e_stack)) as host:
        yield host


@pytest.fixture(autouse=True)
def _reset_e2e_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fault rules and held copies never leak from one e2e test into the next."""
    yield
    if "e2e_stack" in request.fixturenames:
        stack: StorageStack = request.getfixturevalue("e2e_stack")
        stack.faults.clear()
