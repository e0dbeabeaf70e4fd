"""`make demo` end to end: `python -m demo` starts its own stack, runs three copies and a
replication of three new blobs from their events, and says so."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from devhost.testing import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO_TIMEOUT_S = 180
#: After SIGTERM the demo stops what it started; give it that long before killing it.
CLEANUP_GRACE_S = 30
#: Summary rows: the copy's label, then its state in the next column.
OUTCOMES = {
    "cross-account": "succeeded",
    "external URL": "succeeded",
    "third copy": "aborted",
    **{f"replica report-{i}.csv": "succeeded" for i in range(3)},
}


def run_demo() -> tuple[int, str]:
    """Run `python -m demo`: (exit code, output). On timeout SIGTERM first, so it cleans up."""
    process = subprocess.Popen(
        [sys.executable, "-m", "demo"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the demo then stops Azurite and devhost itself
        try:
            output, _ = process.communicate(timeout=CLEANUP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"the demo ran past {DEMO_TIMEOUT_S} s; it printed:\n{output}")
    return process.returncode, output


def test_demo_ends_with_the_planned_outcomes() -> None:
    """The demo exits 0 after the cross-account and external copies succeed, the third aborts,
    and the three replicated blobs arrive."""
    code, output = run_demo()
    assert code == 0, output
    for label, state in OUTCOMES.items():
        assert re.search(rf"^\s*{re.escape(label)}\s+{state}\s", output, re.MULTILINE), output
    assert "Demo OK: " + ", ".join(f"{k} {v}" for k, v in OUTCOMES.items()) + "." in output
