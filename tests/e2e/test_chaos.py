"""The chaos run, short: copies and batches under storage faults, duplicate deliveries and a
SIGKILL, and nothing lost, duplicated, left leased or left pending (bench/chaos.py runs the long
one; docs/reliability.md has its figures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos import KIB, MIB, ChaosConfig, run_chaos
from devhost.storage.stack import StorageConfig, StorageStack
from tests.e2e.conftest import E2E_COPY_RATE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT = ChaosConfig(
    copies=30, batches=2, batch_size=20, restarts=1, max_size=4 * MIB, seed=12, limit_s=240
)


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[StorageStack]:
    """A storage stack of its own: the session's copy service listens on the same
    `copy-requests` queue of the e2e stack, and would take the chaos run's messages."""
    config = StorageConfig.free_ports(
        copy_rate_bytes_per_s=E2E_COPY_RATE, copy_chunk_bytes=KIB * 256
    )
    with StorageStack(config) as stack:
        yield stack


def test_a_short_chaos_run_loses_and_duplicates_nothing(
    chaos_stack: StorageStack, tmp_path: Path
) -> None:
    """Every invariant of bench/chaos.py holds, and the chaos really happened: faults hit every
    target, devhost was killed, queue messages came twice, and copies of each kind ended."""
    figures = run_chaos(SHORT, chaos_stack, tmp_path)
    print("\n".join(figures.lines()))
    assert figures.violations == []
    assert all(figures.faults[target] > 0 for target in ("request", "source", "destination"))
    assert figures.restarts == SHORT.restarts
    assert figures.redeliveries > 0
    assert sum(figures.copies.values()) == SHORT.copies
    assert figures.copies["succeeded"] > 0
    assert sum(figures.batch_blobs.values()) == SHORT.batches * SHORT.batch_size
