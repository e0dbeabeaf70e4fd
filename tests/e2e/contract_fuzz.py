"""Run schemathesis against the live copy service, from openapi.json, with every check on.

The `schemathesis run` command line, not its pytest plugin: only the command line runs all four
phases (examples, coverage, fuzzing, stateful) and every check, `ignored_auth` included (it
replays requests without the key and expects a refusal). It runs in a child process with the
hooks of tests/e2e/fuzz_hooks.py, writes a JSON report, and `FuzzRun` reads the outcome back.
The function key travels as the `x-functions-key` header the document declares; schemathesis
prints it as `[Filtered]`, and `FuzzRun.output` blanks it again wherever it could appear.

    run = fuzz(host.base_url, host.function_key, max_examples=30, workdir=tmp_path)
    assert run.ok, run.failures_text()
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from devhost.testing import REPO_ROOT

SPEC = REPO_ROOT / "openapi.json"
HOOKS = "tests.e2e.fuzz_hooks"
KEY_HEADER = "x-functions-key"
#: Hypothesis's derandomized mode: the same cases on every run (schemathesis then uses no
#: seed). A seed instead gives a reproducible run of other cases (bench/fuzz.py --seed).
DETERMINISTIC = None


@dataclass(frozen=True)
class Targets:
    """Real blobs for valid data to copy: without them every valid POST names an account the
    service does not know (a 403), and no copy or batch would ever start under the fuzzer."""

    copy_source: str  # a blob URL the service may read
    destinations: str  # a container URL the service may write
    batch_source: str  # a container URL in another account, with a few blobs

    def environment(self) -> dict[str, str]:
        """How the hooks (another process) learn them."""
        return {
            TARGET_SETTINGS[0]: self.copy_source,
            TARGET_SETTINGS[1]: self.destinations,
            TARGET_SETTINGS[2]: self.batch_source,
        }


TARGET_SETTINGS = ("FUZZ_COPY_SOURCE", "FUZZ_DESTINATIONS", "FUZZ_BATCH_SOURCE")


def seed_targets(sources: ContainerClient, destinations: ContainerClient) -> Targets:
    """Targets in two existing containers: a source blob and a few blobs for batches in
    `sources` (another account than `destinations`, which the service may write)."""
    for n in range(3):
        sources.upload_blob(f"batch/{n}.bin", b"fuzz" * (n + 1), overwrite=True)
    blob = sources.upload_blob("fuzz-source.bin", b"copied under the fuzzer", overwrite=True)
    return Targets(copy_source=blob.url, destinations=destinations.url, batch_source=sources.url)


@dataclass(frozen=True)
class FuzzRun:
    """One schemathesis run: its exit code, its JSON report and its console output."""

    exit_code: int
    report: dict[str, Any]
    output: str

    @property
    def failures(self) -> list[dict[str, Any]]:
        """One entry per kind of failure (code, title, count, operations)."""
        return list(self.report.get("failures") or [])

    @property
    def errors(self) -> list[Any]:
        """Errors of the run itself (a schema or a network it could not use)."""
        return list(self.report.get("errors") or [])

    @property
    def ok(self) -> bool:
        """No failure, no error, every operation tested, the key accepted everywhere."""
        tested = self.report.get("operations", {})
        return (
            self.exit_code == 0
            and not self.failures
            and not self.errors
            and tested.get("tested") == tested.get("total")
            and not (self.report.get("warnings") or {}).get("missing_auth")
        )

    @property
    def generated(self) -> int:
        """How many test cases schemathesis generated."""
        return int(self.report.get("test_cases", {}).get("generated", 0))

    def failures_text(self) -> str:
        """The FAILURES, WARNINGS and SUMMARY part of the console output: what to fix, with a
        curl command reproducing each failure."""
        start = self.output.find("=== FAILURES ===")
        return self.output[start if start >= 0 else 0 :].strip() or self.output


def command(base_url: str, max_examples: int, seed: int | None, report: Path) -> list[str]:
    """`schemathesis run` with every check, a bounded and reproducible generation."""
    if seed is None:
        generation = ["--generation-deterministic"]  # which also keeps no example database
    else:
        generation = ["--seed", str(seed), "--generation-database", "none"]
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(SPEC),
        "--url",
        f"{base_url.rstrip('/')}/api",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        *generation,
        "--workers",
        "1",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]


def fuzz(
    base_url: str,
    function_key: str,
    *,
    max_examples: int,
    workdir: Path,
    targets: Targets | None = None,
    seed: int | None = DETERMINISTIC,
    timeout_s: float = 1800.0,
) -> FuzzRun:
    """Fuzz the service at `base_url` with the key sent as the document's header; valid
    copies and batches go to `targets` when given."""
    report = workdir / "schemathesis.json"
    argv = [*command(base_url, max_examples, seed, report), "-H", f"{KEY_HEADER}: {function_key}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, **(targets.environment() if targets else {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    output = (done.stdout + done.stderr).replace(function_key, "[Filtered]")
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return FuzzRun(done.returncode, data, output)
