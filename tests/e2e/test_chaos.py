"""The chaos run, short: copies and batches under storage faults, duplicate deliveries and a
SIGKILL, and nothing lost, duplicated, left leased or left pending (bench/chaos.py runs the long
one; docs/reliability.md has its figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import MIB, ChaosConfig, run_chaos
from devhost.storage.stack import StorageStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT = ChaosConfig(
    copies=30, batches=2, batch_size=20, restarts=1, max_size=4 * MIB, seed=12, limit_s=240
)


def test_a_short_chaos_run_loses_and_duplicates_nothing(
    e2e_stack: StorageStack, tmp_path: Path
) -> None:
    """Every invariant of bench/chaos.py holds, and the chaos really happened: faults hit every
    target, devhost was killed, queue messages came twice, and copies of each kind ended."""
    figures = run_chaos(SHORT, e2e_stack, tmp_path)
    print("\n".join(figures.lines()))
    assert figures.violations == []
    assert all(figures.faults[target] > 0 for target in ("request", "source", "destination"))
    assert figures.restarts == SHORT.restarts
    assert figures.redeliveries > 0
    assert sum(figures.copies.values()) == SHORT.copies
    assert figures.copies["succeeded"] > 0
    assert sum(figures.batch_blobs.values()) == SHORT.batches * SHORT.batch_size
