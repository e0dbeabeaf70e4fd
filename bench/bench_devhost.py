"""devhost's Durable engine against durabletask's in-memory backend, on the anchor's workload.

Usage: .venv/bin/python bench/bench_devhost.py [N] [--anchor]

Prints orchestrations per second for N chains of 3 activities started at once, and the median
start->complete latency of a 1-activity orchestration started one after another (30 runs).
devhost persists every episode in SQLite (WAL) and is driven over HTTP by the SDK's own
DurableOrchestrationClient. With --anchor it then runs bench/anchor_durabletask.py, the same
workload on durabletask's in-memory backend, with .venv-durabletask/bin/python (`make bench`
installs `durabletask==1.12.0` there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
from aiohttp import web
from azure.durable_functions.models.utils.http_utils import _close_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devhost.durable import DurableEngine
from devhost.durable.api import DurableApi

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = Path(__file__).with_name("anchor_durabletask.py")
ANCHOR_PYTHON = ROOT / ".venv-durabletask" / "bin" / "python"


def chain(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield ctx.call_activity("double", ctx.get_input())
    b = yield ctx.call_activity("double", a)
    c = yield ctx.call_activity("double", b)
    return c


def one(ctx: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity("double", ctx.get_input()))


async def double(input_text: str | None) -> str:
    return json.dumps(json.loads(input_text or "0") * 2)


async def serve(engine: DurableEngine) -> tuple[web.AppRunner, str]:
    """The engine's routes on a free loopback port."""
    app = web.Application()
    DurableApi(engine).add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def run_chain(client: df.DurableOrchestrationClient, engine: DurableEngine, x: int) -> Any:
    instance_id = await client.start_new("chain", client_input=x)
    await engine.wait_for_instance(instance_id, 120)
    return (await client.get_status(instance_id)).output


async def measure(n: int, db_path: Path) -> tuple[float, float, float]:
    """(seconds for N chains, orchestrations/s, median latency ms)."""
    engine = DurableEngine(
        db_path=db_path,
        orchestrators={"chain": df.Orchestrator.create(chain), "one": df.Orchestrator.create(one)},
        activities={"double": double},
    )
    await engine.start()
    runner, base_url = await serve(engine)
    client = df.DurableOrchestrationClient(engine.client_binding_json(base_url))
    try:
        assert await run_chain(client, engine, 1) == 8  # warm-up
        started = time.perf_counter()
        ids = [await client.start_new("chain", client_input=i) for i in range(n)]
        for i, instance_id in enumerate(ids):
            await engine.wait_for_instance(instance_id, 120)
            status = await client.get_status(instance_id)
            assert status.output == 8 * i, status.to_json()
        elapsed = time.perf_counter() - started
        latencies = []
        for i in range(30):
            t1 = time.perf_counter()
            instance_id = await client.start_new("one", client_input=i)
            await engine.wait_for_instance(instance_id, 30)
            latencies.append(time.perf_counter() - t1)
        return elapsed, n / elapsed, statistics.median(latencies) * 1000
    finally:
        await _close_session()
        await runner.cleanup()
        await engine.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=500, help="chains started at once")
    parser.add_argument(
        "--anchor",
        action="store_true",
        help="then run the same workload on durabletask's in-memory backend (.venv-durabletask)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.anchor and not ANCHOR_PYTHON.exists():  # say so before minutes of devhost
        sys.exit(f"{ANCHOR_PYTHON} missing: make .venv-durabletask/.installed")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, rate, latency = asyncio.run(measure(args.n, Path(tmp) / "bench.db"))
    print(
        f"devhost (SQLite): {args.n} chains of 3 activities in {elapsed:.2f} s = {rate:.1f} "
        f"orchestrations/s; median start->complete latency of a 1-activity orchestration "
        f"{latency:.1f} ms",
        flush=True,
    )
    if args.anchor:
        subprocess.run([str(ANCHOR_PYTHON), str(ANCHOR), str(args.n)], check=True)


if __name__ == "__main__":
    main()
