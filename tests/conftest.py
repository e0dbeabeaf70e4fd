"""Storage fixtures shared by every test suite: one Azurite + copy engine per session.

Other suites keep their own fixtures in their folders' conftest files.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.storage.stack import StorageConfig, StorageStack


@pytest.fixture(scope="session")
def storage_stack() -> Iterator[StorageStack]:
    """Azurite + copy engine on free loopback ports, plain HTTP, default copy rate.

    Copies move in 256 KiB chunks so that small test blobs still show growing progress.
    """
    with StorageStack(StorageConfig.free_ports(copy_chunk_bytes=256 * 1024)) as stack:
        yield stack


@pytest.fixture(scope="session")
def storage_stack_https() -> Iterator[StorageStack]:
    """Azurite + copy engine over HTTPS with `--oauth basic` (user delegation SAS works)."""
    with StorageStack(StorageConfig.free_ports(https=True, copy_chunk_bytes=256 * 1024)) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _reset_storage_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fault rules, held copies and transaction counts never leak from one test into the next."""
    yield
    for name in ("storage_stack", "storage_stack_https"):
        if name in request.fixturenames:
            stack: StorageStack = request.getfixturevalue(name)
            stack.faults.clear()
            stack.reset_transactions()
