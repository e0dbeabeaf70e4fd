"""A long contract-fuzzing run: schemathesis against the live local stack, keys required.

The same run as tests/e2e/test_contract_fuzz.py (every check, every phase, the hooks of
tests/e2e/fuzz_hooks.py), with more examples per operation, derandomized, or from a seed for
other cases:

    .venv/bin/python bench/fuzz.py --max-examples 500 --seed 7

It starts Azurite, the copy engine and the app under devhost (`--require-keys`) on free ports,
prints schemathesis's summary and the wall time, and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azure.storage.blob import BlobServiceClient, ContainerClient

from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from devhost.testing import REPO_ROOT, AppHost
from tests.e2e.conftest import app_settings
from tests.e2e.contract_fuzz import fuzz, seed_targets

DEST, OTHER = ACCOUNTS


def fuzz_container(stack: StorageStack, account: str) -> ContainerClient:
    """A new container for the fuzzer's real copies (valid data copies real blobs)."""
    service = BlobServiceClient.from_connection_string(stack.connection_string(account))
    return service.create_container("fuzz")


def main(argv: list[str] | None = None) -> int:
    """Run one long fuzzing session; 0 when schemathesis found nothing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=500, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=None, help="default: derandomized")
    args = parser.parse_args(argv)
    config = StorageConfig.free_ports(copy_rate_bytes_per_s=8 * 1024 * 1024)
    with (
        StorageStack(config) as stack,
        AppHost(REPO_ROOT, env=app_settings(stack), require_keys=True) as host,
        tempfile.TemporaryDirectory(prefix="fuzz-") as workdir,
    ):
        assert host.function_key is not None
        targets = seed_targets(*(fuzz_container(stack, account) for account in (OTHER, DEST)))
        started = time.monotonic()
        run = fuzz(
            host.base_url,
            host.function_key,
            max_examples=args.max_examples,
            seed=args.seed,
            workdir=Path(workdir),
            targets=targets,
            timeout_s=6 * 3600,
        )
        took = time.monotonic() - started
    print(run.failures_text())
    verdict = "no failure" if run.ok else f"{len(run.failures)} kinds of failure"
    seed = "derandomized" if args.seed is None else f"seed {args.seed}"
    print(f"\n{run.generated} cases, {verdict}, {took:.0f} s ({seed})")
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
