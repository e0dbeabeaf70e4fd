"""The chaos run: many copies and batches under storage faults, duplicate deliveries and SIGKILLs.

Usage: .venv/bin/python bench/chaos.py [--copies 200] [--batches 2] [--batch-size 300]
                                       [--restarts 3] [--fault-rate 0.05] [--seed 1] [--runs 1]

One storage stack and the real app under devhost. Single copies of mixed sizes (0 bytes to
64 MiB; block, page and append blobs; from the same account, another account and an external
HTTP server; most with the default renewed source lease, some with an infinite one, some aborted
on purpose) go in over HTTP and over the `copy-requests` queue, with batches beside them. Then,
while they run:

- the copy engine answers 5 % of requests with a transient 500 or 503: the client's requests,
  the engine's reads of copy sources and its writes of copy destinations (faults.py);
- devhost delivers every queue message twice (DEVHOST_QUEUE_REDELIVER=1);
- devhost is killed with SIGKILL and started again on the same history, at random moments.

When everything has ended, the faults stop and every request is checked (`verify`):

- it reached a terminal state that matches its destination: succeeded => the destination holds
  the source's bytes; aborted => the destination is empty or gone; failed => a reason;
- no source lease is held, no copy is left pending in the engine;
- the engine counted at most one accepted Copy Blob (201/202) per destination, and exactly one
  for a copy that succeeded (a faulted attempt the retry repeats never reached Azurite);
- each request with `notify` put exactly one result message on its queue;
- the API never answered a 5xx.

Prints the figures of each run and every violation; exits 1 if there is any. docs/reliability.md
holds the figures of the last runs. `tests/e2e/test_chaos.py` runs a short version in make test.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import itertools
import json
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, BlobType, ContainerClient
from azure.storage.queue import QueueClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devhost.origin import OriginServer
from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from devhost.testing import REPO_ROOT, AppHost, Reply, http
from tests.e2e.conftest import app_settings

KIB, MIB = 1024, 1024 * 1024
DEST, OTHER = ACCOUNTS[0], ACCOUNTS[1]
#: Sizes of single copies and how often each is drawn; the largest is the run's --max-size.
SIZES = ((0, 2), (1 * KIB, 6), (100 * KIB, 6), (1 * MIB, 3), (4 * MIB, 2), (None, 1))
BLOB_TYPES = ("BlockBlob", "PageBlob", "AppendBlob")
FAULTS = ((500, "InternalError"), (503, "ServerBusy"))
HOST_STARTED = "Host started:"  # devhost's console line when it serves


@dataclass(frozen=True)
class ChaosConfig:
    """What one run does; the defaults are issue 12's full run."""

    copies: int = 200
    batches: int = 2
    batch_size: int = 300
    restarts: int = 3
    fault_rate: float = 0.05
    max_size: int = 64 * MIB
    seed: int = 1
    limit_s: float = 1200.0  # everything must have ended by then


@dataclass(frozen=True)
class PlannedCopy:
    """One single copy of the run: where from, what kind of blob, how it goes in."""

    id: str
    origin: str  # "same" (the destination's account), "other" (a second account), "external"
    blob_type: str
    size: int
    lease: str  # the request's lease_source
    via: str  # "http" or "queue"
    abort: bool
    notify: bool


@dataclass
class Figures:
    """What a run did, and what it found wrong."""

    copies: Counter[str] = field(default_factory=Counter)  # by final state
    batch_blobs: Counter[str] = field(default_factory=Counter)  # by batch blob state
    failures: Counter[str] = field(default_factory=Counter)  # failed copies by error code
    failure_examples: dict[str, str] = field(default_factory=dict)  # code -> one copy's message
    bytes_copied: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    republished: list[str] = field(default_factory=list)  # results sent again after a SIGKILL
    redeliveries: int = 0
    api_calls: int = 0
    wall_s: float = 0.0
    log: str = ""
    violations: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"copies: {sum(self.copies.values())} {dict(sorted(self.copies.items()))}",
            f"batch blobs: {sum(self.batch_blobs.values())} {dict(self.batch_blobs)}",
            f"failed copies by reason: {dict(self.failures)}",
            *(f"  - {code}: {text}" for code, text in self.failure_examples.items()),
            f"bytes copied and checked: {self.bytes_copied:,}",
            f"faults injected: {self.faults} (total {sum(self.faults.values())})",
            f"SIGKILL restarts: {self.restarts}; duplicate queue deliveries: {self.redeliveries}",
            f"results sent again by a publish the SIGKILL cut short: {self.republished}",
            f"API calls: {self.api_calls}; wall: {self.wall_s:.0f} s",
            f"host log: {self.log or 'not kept'}",
            f"violations: {len(self.violations)}",
            *(f"  - {v}" for v in self.violations),
        ]


def service_env(stack: StorageStack, results_queue: str) -> dict[str, str]:
    """The e2e suite's app settings on this stack, with every queue message delivered twice."""
    return app_settings(stack) | {
        "BLOBCOPY_BATCH_PAGE_SIZE": "50",
        "BLOBCOPY_RESULTS_QUEUE": results_queue,
        "DEVHOST_QUEUE_REDELIVER": "1",
        # A message in the hands of a killed host reappears after this, not Azure's 10 minutes.
        "DEVHOST_QUEUE_PROCESSING_SECONDS": "15",
        "DEVHOST_TIMER_DELAY_SECONDS": "0-1",
    }


def plan_copies(config: ChaosConfig, rng: random.Random, run: str) -> list[PlannedCopy]:
    """The run's single copies, drawn from the seed: the same seed plans the same run."""
    sizes, weights = zip(*SIZES, strict=True)
    planned = []
    for n in range(config.copies):
        size = rng.choices(sizes, weights)[0]
        blob_type = rng.choice(BLOB_TYPES)
        origin = rng.choices(("same", "other", "external"), (3, 5, 2))[0]
        if origin == "external":
            blob_type = "BlockBlob"  # an external source becomes a block blob
        abort = rng.random() < 0.1
        if size is None or abort:  # a copy aborted on purpose is big enough to be caught
            size = config.max_size
        size = min(size, config.max_size)
        if blob_type == "PageBlob":
            size = -(-size // 512) * 512
        planned.append(
            PlannedCopy(
                id=f"{run}-c{n:04d}",
                origin=origin,
                blob_type=blob_type,
                size=size,
                lease=rng.choices(("renewed", "infinite", "none"), (6, 2, 2))[0],
                via=rng.choice(("http", "queue")),
                abort=abort,
                notify=rng.random() < 0.3,
            )
        )
    return planned


def content(copy_id: str, size: int) -> bytes:
    """Bytes no other copy has (a page blob's zero pages included: a sparse run of them)."""
    seed = hashlib.sha256(copy_id.encode()).digest()
    block = (seed * (64 * KIB // len(seed) + 1))[: 64 * KIB]
    data = (block * (size // len(block) + 1))[:size]
    return data[: size // 2] + bytes(min(size - size // 2, 1024)) + data[size // 2 + 1024 :]


class Api:
    """The service's HTTP API, riding out the moments devhost is down; counts 5xx answers."""

    def __init__(self, host: AppHost, figures: Figures) -> None:
        self.host = host
        self.figures = figures
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body: Any = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        deadline = time.monotonic() + 120
        while True:
            try:
                reply = http(
                    method,
                    f"{self.host.base_url}/api/{path}",
                    body=data,
                    headers={"Content-Type": "application/json"},
                )
            except OSError:  # refused or reset while the host restarts
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
                continue
            with self._lock:
                self.figures.api_calls += 1
                if reply.status >= 500:
                    self.figures.violations.append(
                        f"{method} /api/{path} answered {reply.status}: {reply.body[:200]!r}"
                    )
            return reply


@dataclass
class Run:
    """One chaos run's parts and what it planned."""

    config: ChaosConfig
    stack: StorageStack
    host: AppHost
    api: Api
    external: OriginServer
    name: str
    results: QueueClient
    requests: QueueClient
    figures: Figures
    copies: list[PlannedCopy] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # copy id -> source URL
    digests: dict[str, str] = field(default_factory=dict)  # copy id -> source sha256
    batches: list[str] = field(default_factory=list)

    def container(self, account: str, name: str) -> ContainerClient:
        service = BlobServiceClient.from_connection_string(self.stack.connection_string(account))
        return service.get_container_client(name)

    @property
    def dest(self) -> ContainerClient:
        return self.container(DEST, f"{self.name}-dst")

    def batch_containers(self) -> tuple[ContainerClient, ContainerClient]:
        return self.container(OTHER, f"{self.name}-bsrc"), self.container(DEST, f"{self.name}-bdst")


# -- setting up --------------------------------------------------------------------------------


def seed_sources(run: Run) -> None:
    """Upload every source before the faults start (the setup is not under test)."""
    containers = {
        "same": run.container(DEST, f"{run.name}-src"),
        "other": run.container(OTHER, f"{run.name}-src"),
    }
    for client in (*containers.values(), run.dest, *run.batch_containers()):
        client.create_container()
    for planned in run.copies:
        data = content(planned.id, planned.size)
        run.digests[planned.id] = hashlib.sha256(data).hexdigest()
        if planned.origin == "external":
            run.sources[planned.id] = run.external.serve(data, f"{planned.id}.bin")
            continue
        blob = containers[planned.origin].get_blob_client(f"{planned.id}.bin")
        if planned.blob_type == "AppendBlob":  # upload_blob makes no empty append blob
            blob.create_append_blob()
            if data:
                blob.upload_blob(data, blob_type=BlobType.APPENDBLOB)  # appends to it
        else:
            blob.upload_blob(data, blob_type=BlobType(planned.blob_type))
        run.sources[planned.id] = blob.url
    source, _ = run.batch_containers()
    for k in range(run.config.batches):
        for n in range(run.config.batch_size):
            source.upload_blob(f"b{k}/{n:05d}.txt", content(f"{run.name}-b{k}-{n}", 64 + n % 4096))


def copy_body(run: Run, planned: PlannedCopy) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": planned.id,
        "source": {"url": run.sources[planned.id]},
        "destination": {"url": f"{run.dest.url}/{planned.id}.bin"},
        "lease_source": planned.lease,
        "poll": {"min_seconds": 0.5, "max_seconds": 2},
    }
    if planned.notify:
        body["notify"] = {}
    return body


def batch_body(run: Run, k: int) -> dict[str, Any]:
    source, dest = run.batch_containers()
    return {
        "kind": "batch",
        "id": f"{run.name}-batch{k}",
        "source": {"url": source.url, "prefix": f"b{k}/"},
        "destination": {"url": dest.url, "prefix": f"b{k}/"},
        "max_concurrency": 32,
        "notify": {},
    }


def submit(run: Run, body: dict[str, Any], via: str, path: str) -> None:
    """Start one request over HTTP (202 expected) or put it on the copy-requests queue."""
    if via == "queue":
        text = base64.b64encode(json.dumps(body).encode()).decode()
        run.requests.send_message(text)
        return
    reply = run.api.call("POST", path, body)
    if reply.status != 202:
        run.figures.violations.append(f"{body['id']}: POST answered {reply.status}")


# -- the run -------------------------------------------------------------------------------------


def kill_at_random(run: Run, rng: random.Random, stop: threading.Event, span_s: float) -> None:
    """SIGKILL devhost `restarts` times at random moments over `span_s`, starting it again."""
    moments = sorted(rng.uniform(1.0, span_s) for _ in range(run.config.restarts))
    began = time.monotonic()
    for moment in moments:
        if stop.wait(max(0.0, began + moment - time.monotonic())):
            return
        run.host.restart(kill=True)
        run.figures.restarts += 1


def abort_on_purpose(run: Run, planned: PlannedCopy) -> None:
    """Abort a copy just after it went in (it may still end first: then it succeeded)."""
    reply = run.api.call("POST", f"copies/{planned.id}/abort", {"reason": "chaos"})
    if reply.status not in (202, 404, 409):  # 404: a queue message not yet read
        run.figures.violations.append(f"{planned.id}: abort answered {reply.status}")


def wait_terminal(run: Run) -> dict[str, dict[str, Any]]:
    """Every copy's and batch's final document; what is still running at the limit is lost."""
    waiting = {p.id: f"copies/{p.id}" for p in run.copies}
    waiting |= {b: f"batches/{b}" for b in run.batches}
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + run.config.limit_s
    while waiting and time.monotonic() < deadline:
        for key, path in list(waiting.items()):
            reply = run.api.call("GET", path)
            if reply.status == 200:
                final[key] = reply.json()
                del waiting[key]
        time.sleep(1.0)
    for key in waiting:
        run.figures.violations.append(f"{key}: not over after {run.config.limit_s:.0f} s (lost)")
    return final


@contextmanager
def chaos_faults(stack: StorageStack, config: ChaosConfig) -> Iterator[dict[str, int]]:
    """Transient 500/503 at `fault_rate` of client requests, source reads, destination writes;
    yields the count of faults injected by target, filled in when the block ends."""
    stack.faults.clear()
    stack.faults.reseed(config.seed)
    for target in ("request", "source", "destination"):
        for status, code in FAULTS:
            stack.faults.fail(
                status=status,
                code=code,
                target=target,
                times=None,
                probability=config.fault_rate / len(FAULTS),
            )
    injected: dict[str, int] = {}
    try:
        yield injected
    finally:
        injected |= stack.faults.injected()
        stack.faults.clear()


def run_chaos(config: ChaosConfig, stack: StorageStack, log_dir: Path | None = None) -> Figures:
    """One whole chaos run on `stack`; its figures, violations included. The host's console
    output of every run is kept in `log_dir` (when given), to read what went wrong."""
    rng = random.Random(config.seed)
    name = f"chaos{uuid.uuid4().hex[:8]}"
    figures = Figures()
    queue_conn = stack.connection_string()
    results = QueueClient.from_connection_string(queue_conn, f"{name}-results")
    requests_queue = QueueClient.from_connection_string(queue_conn, "copy-requests")
    for queue in (results, requests_queue):
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
    env = service_env(stack, results.queue_name)
    with OriginServer() as external, AppHost(REPO_ROOT, env=env) as host:
        run = Run(
            config=config,
            stack=stack,
            host=host,
            api=Api(host, figures),
            external=external,
            name=name,
            results=results,
            requests=requests_queue,
            figures=figures,
            copies=plan_copies(config, rng, name),
        )
        seed_sources(run)
        stack.reset_transactions()
        began = time.monotonic()
        stop = threading.Event()
        with chaos_faults(stack, config) as injected:
            killer = threading.Thread(
                target=kill_at_random, args=(run, rng, stop, 5.0 + config.copies * 0.1)
            )
            killer.start()
            try:
                for k in range(config.batches):
                    body = batch_body(run, k)
                    submit(run, body, "queue" if k % 2 else "http", "batches")
                    run.batches.append(body["id"])
                for planned in run.copies:
                    submit(run, copy_body(run, planned), planned.via, "copies")
                    if planned.abort:
                        abort_on_purpose(run, planned)
                final = wait_terminal(run)
            finally:
                stop.set()
                killer.join()
        figures.faults = injected
        figures.wall_s = time.monotonic() - began
        figures.redeliveries = host.output().count("will be delivered again")
        verify(run, final)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / f"{name}.log").write_text(host.output(), encoding="utf-8")
            figures.log = str(log_dir / f"{name}.log")
    return figures


# -- checking ------------------------------------------------------------------------------------


def verify(run: Run, final: dict[str, dict[str, Any]]) -> None:
    """Every invariant of the module docstring, each breach a line in `violations`."""
    accepted = run.stack.transactions().accepted_copies
    wrong = run.figures.violations
    for planned in run.copies:
        doc = final.get(planned.id)
        if doc is not None:
            check_copy(
                run,
                planned,
                doc,
                accepted.get(f"{DEST}/{run.dest.container_name}/{planned.id}.bin", 0),
            )
    for batch_id in run.batches:
        if batch_id in final:
            check_batch(run, batch_id, final[batch_id], accepted)
    check_leases(run)
    pending = [r for r in engine_copies(run) if r["status"] == "pending"]
    if pending:
        wrong.append(f"{len(pending)} copies left pending in the engine")
    check_notifications(run, final)


def check_copy(run: Run, planned: PlannedCopy, doc: dict[str, Any], accepted: int) -> None:
    wrong, state = run.figures.violations, doc.get("state")
    run.figures.copies[str(state)] += 1
    blob = run.dest.get_blob_client(f"{planned.id}.bin")
    if state == "succeeded":
        data = blob.download_blob().readall()
        if hashlib.sha256(data).hexdigest() != run.digests[planned.id]:
            wrong.append(f"{planned.id}: succeeded, but the destination differs from the source")
        run.figures.bytes_copied += len(data)
        if accepted != 1:
            wrong.append(f"{planned.id}: succeeded with {accepted} accepted Copy Blobs, not 1")
    elif state == "aborted":
        if blob.exists() and blob.get_blob_properties().size != 0:
            wrong.append(f"{planned.id}: aborted, but the destination holds bytes")
    elif state == "failed":
        error = doc.get("error") or {}
        run.figures.failures[str(error.get("code"))] += 1
        run.figures.failure_examples.setdefault(
            str(error.get("code")), f"{planned} {error.get('message')}"
        )
        if not (doc.get("error") or {}).get("message"):
            wrong.append(f"{planned.id}: failed without a reason")
    else:
        wrong.append(f"{planned.id}: ended in state {state!r}")
    if accepted > 1:
        wrong.append(f"{planned.id}: {accepted} accepted Copy Blobs into one destination")


def check_batch(run: Run, batch_id: str, doc: dict[str, Any], accepted: dict[str, int]) -> None:
    """Each blob of the batch has one line in the report, and its line is the truth: succeeded
    => the destination holds the source's bytes (from one accepted Copy Blob); failed => an
    error code and no bytes. The batch's own state follows from its blobs."""
    wrong = run.figures.violations
    k = int(batch_id.rsplit("batch", 1)[1])
    lines = report_lines(run, batch_id)
    names = [line["name"] for line in lines]
    expected = [f"b{k}/{n:05d}.txt" for n in range(run.config.batch_size)]
    if sorted(names) != expected:
        wrong.append(f"{batch_id}: the report names {len(names)} lines, not each blob once")
    states = Counter(line["state"] for line in lines)
    run.figures.batch_blobs.update(states)
    if doc.get("state") != ("succeeded" if set(states) == {"succeeded"} else "failed"):
        wrong.append(f"{batch_id}: ended {doc.get('state')} with blobs {dict(states)}")
    for line in lines:
        check_batch_blob(run, batch_id, line, accepted)


def check_batch_blob(
    run: Run, batch_id: str, line: dict[str, Any], accepted: dict[str, int]
) -> None:
    wrong, name = run.figures.violations, line["name"]
    _, dest = run.batch_containers()
    k, n = int(name[1 : name.index("/")]), int(name.rsplit("/", 1)[1].split(".")[0])
    copies = accepted.get(f"{DEST}/{dest.container_name}/{name}", 0)
    blob = dest.get_blob_client(name)
    if line["state"] == "succeeded":
        data = blob.download_blob().readall()
        if data != content(f"{run.name}-b{k}-{n}", 64 + n % 4096):
            wrong.append(f"{batch_id}: {name} succeeded, but differs from its source")
        run.figures.bytes_copied += len(data)
        if copies != 1:
            wrong.append(f"{batch_id}: {name} succeeded with {copies} accepted Copy Blobs")
    elif line["state"] == "failed":
        run.figures.failures[f"batch:{line.get('error')}"] += 1
        if not line.get("error"):
            wrong.append(f"{batch_id}: {name} failed without a reason")
        if blob.exists() and blob.get_blob_properties().size:
            wrong.append(f"{batch_id}: {name} failed, but its destination holds bytes")
    else:
        wrong.append(f"{batch_id}: {name} ended {line['state']!r}")
    if copies > 1:
        wrong.append(f"{batch_id}: {name} got {copies} accepted Copy Blobs")


def report_lines(run: Run, batch_id: str) -> list[dict[str, Any]]:
    """The batch's report (blobcopy-reports/<id>.jsonl in the destination account)."""
    reports = run.container(DEST, "blobcopy-reports")
    text = reports.download_blob(f"{batch_id}.jsonl").readall().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_leases(run: Run) -> None:
    """No source of the run, single or batch, is left leased."""
    names = [(DEST, f"{run.name}-src"), (OTHER, f"{run.name}-src"), (OTHER, f"{run.name}-bsrc")]
    for account, container in names:
        for blob in run.container(account, container).list_blobs():
            if blob.lease.state == "leased":
                run.figures.violations.append(f"{account}/{container}/{blob.name}: lease held")


def engine_copies(run: Run) -> list[dict[str, Any]]:
    reply = http("GET", f"{run.stack.control_url}/copies")
    return [r for r in reply.json() if str(r.get("container", "")).startswith(run.name)]


def publishes_cut_short(output: str, request_id: str) -> int:
    """How many times the runtime ran this request's publish_result again because a SIGKILL
    came while it ran: starts with a host start between them (an activity that ran but whose
    completion never reached history runs again, on Azure too)."""
    pattern = rf"publish_result \(Activity\) {re.escape(request_id)}: Activity started"
    starts = [m.start() for m in re.finditer(pattern, output)]
    return sum(HOST_STARTED in output[x:y] for x, y in itertools.pairwise(starts))


def check_notifications(run: Run, final: dict[str, dict[str, Any]]) -> None:
    """Exactly one result message for each request that asked for one, but where the host was
    killed in the middle of sending it: a queue has no idempotent send, so a result is
    delivered at least once (its `id` is the key to deduplicate on), and those are counted."""
    seen: Counter[str] = Counter()
    while True:
        messages = list(run.results.receive_messages(max_messages=32, visibility_timeout=60))
        if not messages:
            break
        for message in messages:
            document = json.loads(base64.b64decode(str(message.content)))
            seen[str(document.get("id"))] += 1
    asked = [p.id for p in run.copies if p.notify] + run.batches
    output = run.host.output()
    for request_id in asked:
        if request_id not in final or seen[request_id] == 1:
            continue
        if 1 < seen[request_id] <= 1 + publishes_cut_short(output, request_id):
            run.figures.republished.append(request_id)
            continue
        run.figures.violations.append(f"{request_id}: {seen[request_id]} result messages, not 1")
    for request_id in set(seen) - set(asked):
        run.figures.violations.append(f"{request_id}: a result message nobody asked for")


# -- the command ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[ChaosConfig, int, Path]:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=defaults.copies)
    parser.add_argument("--batches", type=int, default=defaults.batches)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--restarts", type=int, default=defaults.restarts)
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate)
    parser.add_argument("--max-size-mib", type=int, default=defaults.max_size // MIB)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--runs", type=int, default=1, help="runs in a row, seeds seed..seed+n-1")
    parser.add_argument("--log-dir", type=Path, default=REPO_ROOT / ".devhost" / "chaos")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        copies=args.copies,
        batches=args.batches,
        batch_size=args.batch_size,
        restarts=args.restarts,
        fault_rate=args.fault_rate,
        max_size=args.max_size_mib * MIB,
        seed=args.seed,
    )
    return config, args.runs, args.log_dir


def main(argv: list[str] | None = None) -> int:
    config, runs, log_dir = parse_args(argv)
    failed = 0
    stack_config = StorageConfig.free_ports(
        copy_rate_bytes_per_s=64 * MIB, copy_chunk_bytes=1 * MIB
    )
    with StorageStack(stack_config) as stack:
        for n in range(runs):
            seeded = ChaosConfig(**{**config.__dict__, "seed": config.seed + n})
            figures = run_chaos(seeded, stack, log_dir)
            print(f"## chaos run {n + 1} of {runs} (seed {seeded.seed})")
            print("\n".join(figures.lines()), flush=True)
            failed += bool(figures.violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
