"""The replication benchmark, tiny: both sides replicate a burst of 10 events and every copy is
counted (never timed: these machines are too noisy to assert on lag)."""

from __future__ import annotations

import json

import pytest

from bench.bench_replication import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_both_sides_confirm_every_copy_of_a_small_burst(capsys: pytest.CaptureFixture[str]) -> None:
    """Each side confirms the 10 copies with one Copy Blob each, and the service's Durable
    work is read from its store."""
    assert main(["--events", "10", "--size-kib", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for side in ("ours", "peer"):
        figures = report["summary"][side]
        assert figures["confirmed"] == figures["events"] == 10, side
        assert figures["not_succeeded"] == {}, side
        assert figures["transactions_per_blob_by_operation"]["Copy Blob"] == 1, side
    assert report["summary"]["ours"]["durable_per_copy"]["activity start_copy"] == 1
    assert len(report["runs"]) == 2
