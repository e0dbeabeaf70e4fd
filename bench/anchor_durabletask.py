"""The peer of bench_devhost.py: Microsoft's durabletask in-memory backend, on the same workload.

Usage: .venv-durabletask/bin/python bench/anchor_durabletask.py [N]

It runs in its own venv (`durabletask==1.12.0`, which `make bench` installs in
.venv-durabletask) and imports nothing of this repo, so the two engines never share packages.
`bench_devhost.py --anchor` runs it after devhost, with the same N.

The workload is devhost's: N chains of 3 activities started at once (orchestrations/s until the
last one completes, each result checked), then the median start->complete latency of a
1-activity orchestration, started one after another (30 runs, after a warm-up). The backend
keeps everything in memory; the worker and the client speak gRPC to it on a free loopback port.
durabletask logs every instance at INFO on stderr by default: its loggers here show warnings
only, so the output is the one result line.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import time
from collections.abc import Generator
from typing import Any

# gRPC's core logs at INFO on stderr (a GOAWAY at every stop) unless told otherwise, and reads
# this once, when it loads.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.testing import create_test_backend
from durabletask.worker import TaskHubGrpcWorker

LATENCY_RUNS = 30
TIMEOUT_S = 120


def double(_ctx: Any, value: int) -> int:
    """The one activity: cheap, so the engines' own overhead is what is measured."""
    return value * 2


def chain(ctx: Any, value: int) -> Generator[Any, Any, int]:
    """Three activities in a row: 8 x the input."""
    a = yield ctx.call_activity(double, input=value)
    b = yield ctx.call_activity(double, input=a)
    c: int = yield ctx.call_activity(double, input=b)
    return c


def one(ctx: Any, value: int) -> Generator[Any, Any, int]:
    """One activity: the latency probe."""
    doubled: int = yield ctx.call_activity(double, input=value)
    return doubled


def own_stop(record: logging.LogRecord) -> bool:
    """False for the warning the worker gives when its own stop cancels its work item stream."""
    text = record.getMessage()
    return not (text.startswith("Error in work item stream") and "CANCELLED" in text)


def quiet_logger(name: str) -> logging.Logger:
    """A logger for durabletask that lets warnings through and keeps its INFO lines off."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    logger.addFilter(own_stop)
    return logger


def free_port() -> int:
    """A loopback port nobody listens on now (the backend takes a number, not 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_and_check(client: TaskHubGrpcClient, orchestrator: Any, value: int, expected: int) -> None:
    """Start one instance and wait until it completes with the expected output."""
    instance_id = client.schedule_new_orchestration(orchestrator, input=value)
    state = client.wait_for_orchestration_completion(instance_id, timeout=TIMEOUT_S)
    assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED, state
    assert state.serialized_output == str(expected), state


def measure(client: TaskHubGrpcClient, n: int) -> tuple[float, float]:
    """(seconds for N chains started at once, median 1-activity latency in seconds)."""
    run_and_check(client, chain, 1, 8)  # warm-up
    started = time.perf_counter()
    ids = [client.schedule_new_orchestration(chain, input=i) for i in range(n)]
    for i, instance_id in enumerate(ids):
        state = client.wait_for_orchestration_completion(instance_id, timeout=TIMEOUT_S)
        assert state is not None and state.serialized_output == str(8 * i), state
    elapsed = time.perf_counter() - started
    latencies = []
    for i in range(LATENCY_RUNS):
        t1 = time.perf_counter()
        run_and_check(client, one, i, 2 * i)
        latencies.append(time.perf_counter() - t1)
    return elapsed, statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=500, help="chains started at once")
    n = parser.parse_args().n
    quiet_logger("durabletask.testing.in_memory_backend")
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    worker = TaskHubGrpcWorker(host_address=address, logger=quiet_logger("durabletask-worker"))
    worker.add_orchestrator(chain)
    worker.add_orchestrator(one)
    worker.add_activity(double)
    worker.start()
    client = TaskHubGrpcClient(host_address=address, logger=quiet_logger("durabletask-client"))
    try:
        elapsed, latency = measure(client, n)
    finally:
        worker.stop()
        backend.stop()
    print(
        f"durabletask in-memory: {n} chains of 3 activities in {elapsed:.2f} s = "
        f"{n / elapsed:.1f} orchestrations/s; median start->complete latency of a 1-activity "
        f"orchestration {latency * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
