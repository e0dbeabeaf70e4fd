"""Copying a container of small blobs: the service's batch vs the Azure CLI vs a threaded script.

Usage: .venv/bin/python bench/bench_batch.py [--blobs 1000] [--size-kib 4] [--repeat 3]
                                              [--max-concurrency 500] [--az .venv-azcli/bin/az]

One storage stack whose copy engine runs with its all-async switch (a same-account copy is
pending, as a cross-account copy is on Azure), and the real app under devhost on that stack. The
copies go container to container within devstoreaccount1: the CLI builds a cross-account source
URL from the public cloud's suffix, so it reaches one local account only. Each contender copies
the same N source blobs into a fresh destination container of its own:

- az: `az storage blob copy start-batch` (one Copy Blob after another), then sweeps of
  `get_blob_properties` over the blobs not yet seen complete, 1 s between sweeps;
- sdk: the Azure docs sample's way, with a ThreadPoolExecutor of 32 threads: list the source,
  `start_copy_from_url` each blob, then the same sweeps over the pending ones;
- service: POST /api/batches (`max_concurrency` as given, polling at BLOBCOPY_POLL_MIN_SECONDS=1
  like the peers), then GET /api/batches/{id} every 0.25 s until it answers 200.

Both peers sweep with the same 32 threads (their HTTP pool sized to match), so they differ only in
how they start copies. Wall time runs until every copy is confirmed complete; every destination
is then checked against its source (copy status success, same length). Transactions are the copy
engine's count of client requests to the blob service, reset before each contender; activity
calls and orchestration episodes are counted in the devhost host's console output. Prints a
markdown table of medians and writes it to docs/bench-batch.md, with a chart of blobs confirmed
over time (the median run of each contender) in docs/bench-batch.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from azure.storage.blob import BlobServiceClient, ContainerClient
from matplotlib.figure import Figure
from requests.adapters import HTTPAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from devhost.storage.transactions import Transactions
from devhost.testing import REPO_ROOT as ROOT
from devhost.testing import AppHost, http, storage_env

ACCOUNT = ACCOUNTS[0]
SOURCE = "bench-src"
THREADS = 32
SWEEP_PAUSE_S = 1.0
STATUS_PAUSE_S = 0.25
AZ_DEFAULT = ROOT / ".venv-azcli" / "bin" / "az"
REPORT_MD = ROOT / "docs" / "bench-batch.md"
CHART_PNG = ROOT / "docs" / "bench-batch.png"
#: The operations the table shows apart; the rest are summed as "other".
SHOWN = ("Copy Blob", "List Blobs", "Get Blob Properties")
EPISODE = "Executing 'Functions.batch_orchestrator'"


@dataclass(frozen=True)
class Bench:
    """What every contender shares: the stack's blob service, the source, the options."""

    stack: StorageStack
    host: AppHost
    service: BlobServiceClient
    sizes: dict[str, int]
    max_concurrency: int
    az: Path


@dataclass
class Run:
    """One contender's copy of the whole source."""

    contender: str
    wall_s: float
    confirmed: list[float]  # seconds from the start when each blob was first seen complete
    transactions: Transactions | None = None
    activities: Counter[str] = field(default_factory=Counter)  # completions, by activity
    rounds_s: list[float] = field(default_factory=list)  # each batch_round's duration
    episodes: int = 0

    def per_blob(self, operation: str) -> float:
        assert self.transactions is not None
        return self.transactions.by_operation.get(operation, 0) / len(self.confirmed)

    @property
    def total_per_blob(self) -> float:
        assert self.transactions is not None
        return sum(self.transactions.by_operation.values()) / len(self.confirmed)


# --- the stack ----------------------------------------------------------------------------


def service_settings(stack: StorageStack) -> dict[str, str]:
    """tests/e2e/conftest.py's app settings, polling at 1 s, with the default page size and
    timers that fire on time (the peers' sleeps do too)."""
    env = storage_env(stack)
    env["BLOBCOPY_ACCOUNTS"] = ",".join(ACCOUNTS)
    for account in ACCOUNTS:
        key = f"BLOBCOPY_ACCOUNT_{account.upper()}_CONNECTION_STRING"
        env[key] = stack.connection_string(account)
    env["BLOBCOPY_ALLOWED_DESTINATIONS"] = ACCOUNT
    env["BLOBCOPY_POLL_MIN_SECONDS"] = "1"
    env["DEVHOST_TIMER_DELAY_SECONDS"] = "0"
    return env


def blob_service(stack: StorageStack) -> BlobServiceClient:
    """An SDK client whose HTTP pool holds a connection per thread."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=THREADS)
    session.mount("http://", adapter)
    return BlobServiceClient.from_connection_string(stack.connection_string(), session=session)


def fill_source(service: BlobServiceClient, blobs: int, size: int) -> dict[str, int]:
    """The source container: `blobs` random blobs of `size` bytes; their sizes by name."""
    container = service.create_container(SOURCE)
    names = [f"data/{i:06d}.bin" for i in range(blobs)]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda name: container.upload_blob(name, os.urandom(size)), names))
    return dict.fromkeys(names, size)


# --- the peers ----------------------------------------------------------------------------


def read_status(container: ContainerClient, name: str) -> tuple[str, float]:
    """One Get Blob Properties: the destination's copy status and when it was read."""
    status = container.get_blob_client(name).get_blob_properties().copy.status
    return str(status), time.perf_counter()


def sweep(
    container: ContainerClient, pending: Iterable[str], began: float, pool: ThreadPoolExecutor
) -> dict[str, float]:
    """Read every pending copy, 1 s between sweeps, until none is: when each was seen done."""
    seen: dict[str, float] = {}
    left = sorted(pending)
    while left:
        answers = list(pool.map(lambda name: read_status(container, name), left))
        for name, (status, at) in zip(left, answers, strict=True):
            if status not in ("pending", "success"):
                raise SystemExit(f"the copy into {name} ended {status}")
            if status == "success":
                seen[name] = at - began
        left = [name for name in left if name not in seen]
        if left:
            time.sleep(SWEEP_PAUSE_S)
    return seen


def az(bench: Bench, *args: str) -> Any:
    """Run the Azure CLI against the stack (own config dir, no telemetry); its JSON output."""
    with tempfile.TemporaryDirectory(prefix="azcfg-") as config:
        env = dict(
            os.environ,
            AZURE_CONFIG_DIR=config,
            AZURE_CORE_COLLECT_TELEMETRY="false",
            AZURE_STORAGE_CONNECTION_STRING=bench.stack.connection_string(),
        )
        command = [str(bench.az), *args, "--only-show-errors", "-o", "json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"az failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def run_cli(bench: Bench, dest: ContainerClient) -> Run:
    """`az storage blob copy start-batch`, then sweeps until every copy is done."""
    began = time.perf_counter()
    started = az(
        bench, "storage", "blob", "copy", "start-batch",
        "--source-container", SOURCE, "--destination-container", dest.container_name,
    )  # fmt: skip
    if len(started) != len(bench.sizes):
        raise SystemExit(f"az started {len(started)} copies of {len(bench.sizes)}")
    with ThreadPoolExecutor(THREADS) as pool:
        seen = sweep(dest, bench.sizes, began, pool)
    return Run("az CLI start-batch", time.perf_counter() - began, sorted(seen.values()))


def start_copy(source: ContainerClient, dest: ContainerClient, name: str) -> tuple[str, float]:
    """One Copy Blob of the docs sample: its status as answered, and when."""
    copy = dest.get_blob_client(name).start_copy_from_url(source.get_blob_client(name).url)
    return str(copy["copy_status"]), time.perf_counter()


def run_sdk(bench: Bench, dest: ContainerClient) -> Run:
    """List the source, start every copy on 32 threads, then sweep the pending ones."""
    began = time.perf_counter()
    source = bench.service.get_container_client(SOURCE)
    with ThreadPoolExecutor(THREADS) as pool:
        names = [blob.name for blob in source.list_blobs()]
        answers = list(pool.map(lambda name: start_copy(source, dest, name), names))
        outcomes = list(zip(names, answers, strict=True))
        seen = {n: at - began for n, (status, at) in outcomes if status == "success"}
        pending = [n for n, (status, _) in outcomes if status == "pending"]
        if len(seen) + len(pending) != len(names):
            raise SystemExit("the SDK script saw a copy refused or failed at once")
        if pending:
            time.sleep(SWEEP_PAUSE_S)
            seen |= sweep(dest, pending, began, pool)
    return Run("SDK, 32 threads", time.perf_counter() - began, sorted(seen.values()))


# --- the service --------------------------------------------------------------------------


def start_batch(bench: Bench, dest: ContainerClient) -> str:
    """POST /api/batches for the whole source container; the batch's id."""
    request = {
        "source": {"url": bench.service.get_container_client(SOURCE).url},
        "destination": {"url": dest.url},
        "max_concurrency": bench.max_concurrency,
    }
    body = json.dumps(request).encode()
    headers = {"Content-Type": "application/json"}
    reply = http("POST", f"{bench.host.base_url}/api/batches", body=body, headers=headers)
    if reply.status != 202:
        raise SystemExit(f"POST /api/batches answered {reply.status}: {reply.text}")
    batch_id: str = reply.json()["id"]
    return batch_id


def follow_batch(bench: Bench, batch_id: str, began: float) -> tuple[dict[str, Any], list[float]]:
    """GET the batch every 0.25 s until it answers 200: its document, and when each blob was
    first counted succeeded."""
    confirmed: list[float] = []
    while True:
        reply = http("GET", f"{bench.host.base_url}/api/batches/{batch_id}")
        at = time.perf_counter() - began
        doc: dict[str, Any] = reply.json()
        succeeded = int(doc.get("counts", {}).get("succeeded", 0))
        confirmed += [at] * (succeeded - len(confirmed))
        if reply.status == 200:
            return doc, confirmed
        time.sleep(STATUS_PAUSE_S)


def count_log(output: str, batch_id: str) -> tuple[Counter[str], list[float], int]:
    """Activity completions of this batch by name, each round's duration (s), and orchestrator
    episodes, in the host's console output (devhost/durable/activities.py, functions/logs.py)."""
    done = re.compile(
        rf"\] (\w+) \(Activity\) {re.escape(batch_id)}: Activity completed \(([\d.]+) ms\)"
    )
    found = [(match.group(1), float(match.group(2))) for match in done.finditer(output)]
    rounds = [ms / 1000 for name, ms in found if name == "batch_round"]
    return Counter(name for name, _ in found), rounds, output.count(EPISODE)


def run_service(bench: Bench, dest: ContainerClient) -> Run:
    """One batch through the service's HTTP API, on the real app under devhost."""
    mark = len(bench.host.output())
    began = time.perf_counter()
    batch_id = start_batch(bench, dest)
    doc, confirmed = follow_batch(bench, batch_id, began)
    wall = time.perf_counter() - began
    if doc["state"] != "succeeded" or len(confirmed) != len(bench.sizes):
        raise SystemExit(f"the batch ended {doc['state']}: {json.dumps(doc)[:2000]}")
    activities, rounds, episodes = count_log(bench.host.output()[mark:], batch_id)
    return Run(
        "service", wall, confirmed, activities=activities, rounds_s=rounds, episodes=episodes
    )


# --- measuring ----------------------------------------------------------------------------

Contender = Callable[[Bench, ContainerClient], Run]
CONTENDERS: dict[str, Contender] = {"az": run_cli, "sdk": run_sdk, "service": run_service}


def verify(dest: ContainerClient, sizes: dict[str, int]) -> None:
    """Every destination is a successful copy of its source's length (one listing, after the
    counts are read)."""
    found = {b.name: b for b in dest.list_blobs(include=["copy"])}
    for name, size in sizes.items():
        blob = found.get(name)
        if blob is None or blob.copy.status != "success" or blob.size != size:
            state = None if blob is None else (blob.copy.status, blob.size)
            raise SystemExit(f"{dest.container_name}/{name} is not a copy of its source: {state}")


def order(repeat: int) -> list[str]:
    keys = list(CONTENDERS)
    shift = repeat % len(keys)
    return keys[shift:] + keys[:shift]


def measure(bench: Bench, key: str, repeat: int) -> Run:
    """One contender into a fresh container: timed, counted, then verified."""
    dest = bench.service.create_container(f"bench-{key}-{repeat}")
    bench.stack.reset_transactions()
    run = CONTENDERS[key](bench, dest)
    run.transactions = bench.stack.transactions()
    verify(dest, bench.sizes)
    print(
        f"  {run.contender}: {run.wall_s:.2f} s, {run.total_per_blob:.3f} transactions/blob",
        file=sys.stderr,
        flush=True,
    )
    return run


# --- reporting ----------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(values)


def other_per_blob(run: Run) -> float:
    return run.total_per_blob - sum(run.per_blob(op) for op in SHOWN)


def table(results: dict[str, list[Run]]) -> list[str]:
    """The markdown table: medians per contender, ratios against the service."""
    service = results["service"]
    wall0 = median(r.wall_s for r in service)
    tx0 = median(r.total_per_blob for r in service)
    head = ["contender", "wall s", "time vs service", "transactions / blob", "vs service"]
    head += [f"{op} / blob" for op in SHOWN] + ["other / blob", "activities / blob"]
    head += ["episodes / blob"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for runs in results.values():
        wall, tx = median(r.wall_s for r in runs), median(r.total_per_blob for r in runs)
        cells = [runs[0].contender, f"{wall:.2f}", f"{wall / wall0:.2f}x"]
        cells += [f"{tx:.3f}", f"{tx / tx0:.2f}x"]
        cells += [f"{median(r.per_blob(op) for r in runs):.3f}" for op in SHOWN]
        cells.append(f"{median(other_per_blob(r) for r in runs):.3f}")
        cells += durable_cells(runs)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def durable_cells(runs: list[Run]) -> list[str]:
    """Activity calls and orchestrator episodes per blob (the service only)."""
    if not runs[0].activities:
        return ["-", "-"]
    calls = median(sum(r.activities.values()) / len(r.confirmed) for r in runs)
    episodes = median(r.episodes / len(r.confirmed) for r in runs)
    return [f"{calls:.4f}", f"{episodes:.4f}"]


def counts(run: Run) -> Transactions:
    assert run.transactions is not None
    return run.transactions


def operations(results: dict[str, list[Run]]) -> list[str]:
    """Every operation each contender sent, median count per run."""
    ops = sorted({op for runs in results.values() for r in runs for op in counts(r).by_operation})
    lines = ["| operation | " + " | ".join(runs[0].contender for runs in results.values()) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for op in ops:
        cells = [
            f"{median(counts(r).by_operation.get(op, 0) for r in runs):g}"
            for runs in results.values()
        ]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return lines


def median_run(runs: list[Run]) -> Run:
    """The run of median wall time (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]


def service_lines(runs: list[Run]) -> list[str]:
    """Where the service's calls and time go: activities, episodes, rounds, peak pending."""
    names = sorted({name for r in runs for name in r.activities})
    calls = ", ".join(f"{n} {median(r.activities[n] for r in runs):g}" for n in names)
    episodes = median(r.episodes for r in runs)
    peak = median(max(counts(r).peak_pending.values(), default=0) for r in runs)
    run = median_run(runs)
    rounds = ", ".join(f"{s:.2f}" for s in run.rounds_s)
    between = run.wall_s - sum(run.rounds_s)
    return [
        f"Service, median per batch: activity calls {calls}; orchestrator episodes "
        f"{episodes:g}; peak pending copies {peak:g}. Its median run ({run.wall_s:.2f} s): "
        f"rounds of {rounds} s; {between:.2f} s between and around them (timers, episodes, "
        "the POST and the 0.25 s status polling)."
    ]


def goals(results: dict[str, list[Run]]) -> list[str]:
    """The service's goals, met or missed, from the medians."""
    service = results["service"]
    wall = median(r.wall_s for r in service)
    peers = {runs[0].contender: median(r.wall_s for r in runs) for runs in results.values()}
    del peers[service[0].contender]
    tx = median(r.total_per_blob for r in service)
    calls = median(sum(r.activities.values()) / len(r.confirmed) for r in service)
    faster = ", ".join(f"{name}: {t / wall:.2f}x the service's time" for name, t in peers.items())
    return [
        f"- faster than both peers: {_met(all(t > wall for t in peers.values()))} ({faster})",
        f"- at most 1.2 storage transactions per blob: {_met(tx <= 1.2)} ({tx:.3f})",
        f"- at most 0.1 activity calls per blob: {_met(calls <= 0.1)} ({calls:.4f})",
    ]


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def chart(results: dict[str, list[Run]], path: Path, title: str) -> None:
    """Blobs confirmed over time, the median run (by wall time) of each contender."""
    figure = Figure(figsize=(8, 4.5), dpi=110)
    axes = figure.subplots()
    for runs in results.values():
        run = median_run(runs)
        xs = [0.0, *run.confirmed]
        axes.step(xs, range(len(xs)), where="post", label=f"{run.contender} ({run.wall_s:.1f} s)")
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("blobs confirmed complete")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def command(args: argparse.Namespace) -> str:
    text = f".venv/bin/python bench/bench_batch.py --blobs {args.blobs} --size-kib {args.size_kib}"
    text += f" --repeat {args.repeat} --max-concurrency {args.max_concurrency}"
    return text if args.az == AZ_DEFAULT else f"{text} --az {args.az}"


def report(results: dict[str, list[Run]], args: argparse.Namespace) -> str:
    """The markdown the script prints and writes to docs/bench-batch.md."""
    setting = (
        f"{args.blobs} blobs of {args.size_kib:g} KiB, container to container in one account, "
        f"every copy asynchronous (copy engine `--all-async`); service `max_concurrency` "
        f"{args.max_concurrency}, BLOBCOPY_POLL_MIN_SECONDS=1; medians of {args.repeat} runs."
    )
    parts = [
        "# Batch copy benchmark",
        "",
        f"Command: `{command(args)}` (bench/bench_batch.py says what each contender does).",
        "",
        setting,
        "",
        *table(results),
        "",
        "Storage transactions by operation (median count per run):",
        "",
        *operations(results),
        "",
        *service_lines(results["service"]),
        "",
        "Goals of the service (medians):",
        "",
        *goals(results),
        "",
        f"![blobs confirmed over time]({CHART_PNG.name})",
    ]
    return "\n".join(parts) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=1000, help="source blobs")
    parser.add_argument("--size-kib", type=float, default=4, help="size of each blob, KiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender")
    parser.add_argument("--max-concurrency", type=int, default=500, help="the batch's bound")
    parser.add_argument("--az", type=Path, default=AZ_DEFAULT, help="the Azure CLI")
    args = parser.parse_args()
    if not args.az.exists():
        raise SystemExit(f"no Azure CLI at {args.az} (make .venv-azcli/.installed-2.91.0)")
    config = StorageConfig.free_ports(all_async=True)
    results: dict[str, list[Run]] = {key: [] for key in CONTENDERS}
    with StorageStack(config) as stack, AppHost(ROOT, env=service_settings(stack)) as host:
        service = blob_service(stack)
        sizes = fill_source(service, args.blobs, int(args.size_kib * 1024))
        bench = Bench(stack, host, service, sizes, args.max_concurrency, args.az)
        for repeat in range(args.repeat):
            print(f"run {repeat + 1} of {args.repeat}", file=sys.stderr, flush=True)
            for key in order(repeat):  # each contender leads in turn: noise spreads
                results[key].append(measure(bench, key, repeat))
    title = f"{args.blobs} blobs of {args.size_kib:g} KiB, all copies asynchronous"
    chart(results, CHART_PNG, title)
    text = report(results, args)
    REPORT_MD.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
