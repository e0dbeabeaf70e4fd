"""Status reads and completion-detection delay of three polling policies on the same real copies.

Usage: .venv/bin/python bench/bench_polling.py [--durations 1,30,300] [--repeat 3,3,1]
       [--rate-mib 2]

For each duration, a source blob of `rate x duration` bytes is copied across accounts through the
local copy engine, whose rate limit makes the copy last that long. While it runs, three pollers
watch the same destination side by side, each reading `get_blob_properties` on its own schedule:

- ours: `shared.polling.next_poll` with the service's default bounds (1 s .. 1 day);
- rclone: 100 ms, doubling to at most 1 s (its server-side copy wait loop);
- fixed 5 s: the interval of Microsoft's copy samples.

Detection delay = when a poller first saw the copy finished - when the copy engine finished it
(its record's completion time). This measures the policy alone: in the service a durable timer
adds the devhost/Functions timer latency on top.

`--repeat` is the number of copies per duration, one number for all or one per duration: a row
gives the medians over its copies. `--repeat 3,3,1` is the README's table (about 7 minutes: the
5 min copy runs once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json import loads
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from devhost.storage.stack import DEV_ACCOUNT_KEY, StorageConfig, StorageStack
from shared.polling import ProgressPoint, next_poll

MIB = 1024 * 1024
Policy = Callable[[list[ProgressPoint], int], float]


def ours(history: list[ProgressPoint], idle_reads: int) -> float:
    """The service's policy, with its default bounds."""
    previous = history[-2] if len(history) > 1 else None
    return next_poll(history[-1], previous, idle_reads, 1.0, 86400.0).delay


def rclone(history: list[ProgressPoint], idle_reads: int) -> float:
    """100 ms, doubling after every read, capped at 1 s."""
    return min(0.1 * 2.0 ** (len(history) - 1), 1.0)


def fixed_5s(history: list[ProgressPoint], idle_reads: int) -> float:
    """Microsoft's samples: every 5 s."""
    return 5.0


POLICIES: dict[str, Policy] = {"ours": ours, "rclone": rclone, "fixed 5 s": fixed_5s}


@dataclass
class PollerResult:
    """What one poller saw of one copy."""

    reads: int = 0
    seen_done_at: datetime | None = None
    status: str = ""
    delay: float = float("nan")


def watch(blob_client: object, policy: Policy, started: float, result: PollerResult) -> None:
    """Poll until the copy is no longer pending, counting reads (runs in its own thread)."""
    history = [ProgressPoint(0.0, 0, None)]
    idle = 0
    while True:
        time.sleep(policy(history, idle))
        props = blob_client.get_blob_properties()  # type: ignore[attr-defined]
        result.reads += 1
        copy = props.copy
        if copy.status != "pending":
            result.seen_done_at, result.status = datetime.now(UTC), str(copy.status)
            return
        copied, total = (int(x) for x in copy.progress.split("/"))
        moved = copied > (history[-1].bytes_copied or 0)
        idle = 0 if moved else idle + 1
        history.append(ProgressPoint(time.monotonic() - started, copied, total))


def completion_time(stack: StorageStack, blob: str) -> datetime:
    """The engine's own record of when it finished the copy into `blob`."""
    url = f"http://{stack.config.host}:{stack.config.blob_port}/__copyengine/copies"
    with urllib.request.urlopen(url) as answer:
        records = loads(answer.read())
    record = next(r for r in records if r["blob"] == blob)
    return datetime.fromisoformat(record["completion_time"])


def run_one(stack: StorageStack, size: int, name: str) -> dict[str, PollerResult]:
    """Copy one blob of `size` bytes across accounts and let every policy watch it."""
    source_service = BlobServiceClient.from_connection_string(
        stack.connection_string("devstoreaccount2")
    )
    dest_service = BlobServiceClient.from_connection_string(stack.connection_string())
    for service, container in ((source_service, "bench-src"), (dest_service, "bench-dst")):
        if not service.get_container_client(container).exists():
            service.create_container(container)
    source = source_service.get_blob_client("bench-src", name)
    source.upload_blob(os.urandom(min(size, MIB)) * max(size // MIB, 1), overwrite=True)
    sas = generate_blob_sas(
        "devstoreaccount2",
        "bench-src",
        name,
        account_key=DEV_ACCOUNT_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    dest = dest_service.get_blob_client("bench-dst", name)
    dest.start_copy_from_url(f"{source.url}?{sas}", requires_sync=False)
    started = time.monotonic()
    results = {label: PollerResult() for label in POLICIES}
    threads = [
        threading.Thread(target=watch, args=(dest, policy, started, results[label]))
        for label, policy in POLICIES.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = completion_time(stack, name)
    for result in results.values():
        assert result.seen_done_at is not None
        result.delay = (result.seen_done_at - done).total_seconds()
    return results


def repeats(text: str, durations: list[float]) -> list[int]:
    """Copies per duration: `3` for every duration, or `3,3,1`, one per duration."""
    counts = [int(part) for part in text.split(",")]
    if len(counts) == 1:
        counts *= len(durations)
    if len(counts) != len(durations) or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"--repeat {text}: one count >= 1, or one per duration ({len(durations)})"
        )
    return counts


def label(seconds: float) -> str:
    """A duration as the table says it: `30 s`, `5 min`."""
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def row(seconds: float, runs: list[dict[str, PollerResult]]) -> str:
    """One table row: the medians of each policy's reads and delay over the duration's copies."""
    cells = [label(seconds), str(len(runs))]
    for policy in POLICIES:
        reads = statistics.median(r[policy].reads for r in runs)
        delay = statistics.median(r[policy].delay for r in runs)
        cells.append(f"{reads:g} / {delay:.2f} s")
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", default="1,30,300", help="copy durations, seconds")
    parser.add_argument("--repeat", default="1", help="copies per duration: N, or N,N,N")
    parser.add_argument("--rate-mib", type=float, default=2.0, help="copy engine rate, MiB/s")
    args = parser.parse_args()
    durations = [float(d) for d in args.durations.split(",")]
    try:
        counts = repeats(args.repeat, durations)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    rate = args.rate_mib * MIB
    # Small chunks so progress moves smoothly, as it does on Azure.
    chunk = max(int(rate / 16), 64 * 1024)
    config = StorageConfig.free_ports(copy_rate_bytes_per_s=rate, copy_chunk_bytes=chunk)
    print(
        "| copy | copies | ours: reads / delay | rclone (100 ms doubling to 1 s) "
        "| fixed 5 s (Microsoft samples) |"
    )
    print("|---|---|---|---|---|")
    with StorageStack(config) as stack:
        for seconds, count in zip(durations, counts, strict=True):
            size = max(int(rate * seconds), 1)
            runs = [run_one(stack, size, f"d{seconds:g}-{i}") for i in range(count)]
            print(row(seconds, runs), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
