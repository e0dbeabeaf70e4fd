"""Replication lag of a burst of BlobCreated events: the service vs a naive queue function.

Usage: .venv/bin/python bench/bench_replication.py [--events 1000] [--size-kib 4] [--runs 1]
                                                    [--json] [--docs]

One storage stack on free loopback ports (its copy engine makes every cross-account copy
asynchronous, as Azure does), and, for each side in turn, a devhost of its own:

- ours: the app (function_app.py) with one replication rule, `devstoreaccount2/<src>/ours/` ->
  `devstoreaccount1/<ours>/` on its own replication queue, BLOBCOPY_POLL_MIN_SECONDS=1 and
  timers on time (as bench_batch.py sets them);
- peer: bench/naive_replication/, a queue function in the style of Microsoft's copy sample:
  `start_copy_from_url`, then `get_blob_properties` every second until not pending, inside the
  invocation, then a confirmation on a results queue.

Each side of each run: its host is started (not timed), N source blobs of the size given are
written under `<side>/` of the run's source container (16 threads), each one's BlobCreated
event is built in Event Grid's schema with `eventTime` the moment its write returned
(devhost/eventgrid.py, as the e2e publisher does), the copy engine's transaction counter is
reset, and all N events go on the side's queue at once (base64, one per message, 8 threads).
The side is done when N copies are confirmed: for ours the copy orchestration's final document
says succeeded (its `completed` time; the host's Durable store is watched read-only until N
have ended, then every document is read once through GET /api/copies in pages of 1,000, never
one GET per copy), for the peer its confirmation message (the time it wrote it; its results
queue's length is read every 2 s).

Lag = confirmed - eventTime; it includes the write phase (the burst goes out once every blob
is written), so lag from publish (confirmed - when that event's send returned) is shown too.
Transactions per blob are the copy engine's counts of client requests (blob service only:
queues are Azurite's and not counted), by operation. Ours also reports its Durable work per
copy, read from the host's store after the run: activity calls by name, timers, episodes.
`--runs R` alternates which side goes first and reports medians per side and ours/peer.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient
from requests.adapters import HTTPAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devhost.eventgrid import blob_event, event_time, queue_message
from devhost.storage.stack import ACCOUNTS, StorageConfig, StorageStack
from devhost.testing import REPO_ROOT, AppHost, http, storage_env

DEST, SOURCE = ACCOUNTS
PEER_APP = REPO_ROOT / "bench" / "naive_replication"
REPORT_MD = REPO_ROOT / "docs" / "bench-replication.md"
CHART_PNG = REPO_ROOT / "docs" / "bench-replication.png"
SIDES = ("ours", "peer")
LABELS = {"ours": "service (durable)", "peer": "naive queue function"}
WRITERS = 16
PUBLISHERS = 8
#: The peer's worker threads: its host.json lets 16 + 8 invocations run at once.
PEER_THREADS = 24
LIST_PAUSE_S = 2.0
STORE_PAUSE_S = 0.5
FINAL = frozenset({"succeeded", "failed", "aborted", "timed_out"})
#: The operations the table shows apart; the rest are summed as "other".
SHOWN = ("Copy Blob", "Get Blob Properties")
#: devhost's history event types (devhost/durable/protocol.py EventType).
TASK_SCHEDULED, TIMER_CREATED, ORCHESTRATOR_STARTED = 4, 10, 12


# --- what a run measures --------------------------------------------------------------------


@dataclass
class Event:
    """One source write and its event: when the write returned, when the event was sent."""

    name: str
    written: dt.datetime
    message: str
    event_id: str
    sent: dt.datetime | None = None


@dataclass
class SideRun:
    """One side's copy of one burst."""

    side: str
    run: int
    events: int
    confirmed: int = 0
    lags_s: list[float] = field(default_factory=list)  # from eventTime, in event order
    publish_lags_s: list[float] = field(default_factory=list)  # from the send returning
    pickup_s: list[float] = field(default_factory=list)  # send returning -> handler started
    copy_s: list[float] = field(default_factory=list)  # handler started -> confirmed
    wall_s: float = 0.0  # first send to last confirmation
    write_s: float = 0.0  # the write phase before the burst
    publish_s: float = 0.0  # sending the whole burst
    transactions: dict[str, int] = field(default_factory=dict)
    durable: dict[str, int] = field(default_factory=dict)  # ours: per-run totals
    not_succeeded: dict[str, int] = field(default_factory=dict)

    def per_blob(self, operation: str) -> float:
        return self.transactions.get(operation, 0) / max(self.events, 1)

    @property
    def total_per_blob(self) -> float:
        return sum(self.transactions.values()) / max(self.events, 1)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of 1,000 is the 990th smallest); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def lag_stats(values: list[float]) -> dict[str, float]:
    """Median, p99 and max of a list of lags."""
    median = statistics.median(values) if values else math.nan
    return {"median": median, "p99": percentile(values, 0.99), "max": max(values, default=math.nan)}


# --- the stack and the hosts ----------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The names one run uses: a source container shared by both sides, one destination
    container and one queue (and for the peer a results queue) per side."""

    run: int

    @property
    def source(self) -> str:
        return f"repl-src-{self.run}"

    def destination(self, side: str) -> str:
        return f"repl-{side}-{self.run}"

    def queue(self, side: str) -> str:
        return f"bench-{side}-events-{self.run}"

    @property
    def results(self) -> str:
        return f"bench-peer-confirmed-{self.run}"


def blob_service(stack: StorageStack, account: str) -> BlobServiceClient:
    """An SDK client whose HTTP pool holds a connection per writer thread."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=WRITERS))
    return BlobServiceClient.from_connection_string(
        stack.connection_string(account), session=session
    )


def ours_settings(stack: StorageStack, layout: Layout) -> dict[str, str]:
    """The e2e app settings (tests/e2e/conftest.py) with bench_batch.py's polling and timers,
    and one replication rule on the run's own queue."""
    env = storage_env(stack)
    env["BLOBCOPY_ACCOUNTS"] = ",".join(ACCOUNTS)
    for account in ACCOUNTS:
        key = f"BLOBCOPY_ACCOUNT_{account.upper()}_CONNECTION_STRING"
        env[key] = stack.connection_string(account)
    env["BLOBCOPY_ALLOWED_DESTINATIONS"] = DEST
    env["BLOBCOPY_POLL_MIN_SECONDS"] = "1"
    env["DEVHOST_TIMER_DELAY_SECONDS"] = "0"
    rule = {
        "name": "bench",
        "source": {"account": SOURCE, "container": layout.source, "prefix": "ours/"},
        "destination": {
            "account": DEST,
            "container": layout.destination("ours"),
            "prefix": "ours/",
        },
    }
    env["BLOBCOPY_REPLICATION_QUEUE"] = layout.queue("ours")
    env["BLOBCOPY_REPLICATION_RULES"] = json.dumps([rule])
    return env


def peer_settings(stack: StorageStack, layout: Layout, threads: int) -> dict[str, str]:
    """The naive app's settings (bench/naive_replication/function_app.py names them)."""
    return storage_env(stack) | {
        "NAIVE_QUEUE": layout.queue("peer"),
        "NAIVE_RESULTS_QUEUE": layout.results,
        "NAIVE_SOURCE_CONNECTION": stack.connection_string(SOURCE),
        "NAIVE_DEST_CONNECTION": stack.connection_string(DEST),
        "NAIVE_DEST_CONTAINER": layout.destination("peer"),
        "PYTHON_THREADPOOL_THREAD_COUNT": str(threads),
    }


@contextlib.contextmanager
def side_host(
    stack: StorageStack, side: str, layout: Layout, args: argparse.Namespace, workdir: Path
) -> Iterator[AppHost]:
    """The side's devhost, on its own Durable store, stopped however the block ends."""
    if side == "ours":
        app, env = REPO_ROOT, ours_settings(stack, layout)
    else:
        app, env = PEER_APP, peer_settings(stack, layout, args.peer_threads)
    store = workdir / f"{side}-{layout.run}.sqlite"
    with AppHost(app, env=env, durable_db=store) as host:
        try:
            yield host
        finally:
            if args.logs is not None:  # the host's console, to see where the time went
                args.logs.mkdir(parents=True, exist_ok=True)
                log = args.logs / f"{side}-{layout.run}.log"
                log.write_text(host.output(), encoding="utf-8")


def queue(stack: StorageStack, name: str) -> QueueClient:
    """A client of a queue of the stack's default account, the queue created if missing."""
    client = QueueClient.from_connection_string(stack.connection_string(), name)
    with contextlib.suppress(Exception):
        client.create_queue()
    return client


# --- the burst --------------------------------------------------------------------------------


class Writer:
    """Writes the source blobs of one side and builds their events."""

    sequence = 0x10000  # grows across runs and sides, as Azure's sequencers grow per name
    _lock = threading.Lock()

    def __init__(self, source: ContainerClient, data: bytes) -> None:
        self.source = source
        self.data = data

    def write(self, name: str) -> Event:
        blob = self.source.get_blob_client(name)
        etag = blob.upload_blob(self.data, overwrite=True)["etag"]
        written = dt.datetime.now(dt.UTC)
        with self._lock:
            Writer.sequence += 1
            sequencer = Writer.sequence
        event = blob_event(
            "Microsoft.Storage.BlobCreated",
            account=SOURCE,
            container=self.source.container_name,
            name=name,
            url=blob.url,
            etag=etag,
            length=len(self.data),
            sequencer=sequencer,
            time=event_time(written),
        )
        return Event(name, written, queue_message(event), event["id"])


def write_all(source: ContainerClient, side: str, count: int, size: int) -> list[Event]:
    """N source blobs under `<side>/`, written on 16 threads; their events."""
    writer = Writer(source, os.urandom(size))
    names = [f"{side}/{i:05d}.bin" for i in range(count)]
    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(writer.write, names))


def publish(stack: StorageStack, queue_name: str, events: list[Event]) -> None:
    """Every event on the queue at once: 8 threads, a client each, each send's time kept."""
    shares = [events[i::PUBLISHERS] for i in range(PUBLISHERS)]

    def send(share: list[Event]) -> None:
        client = QueueClient.from_connection_string(stack.connection_string(), queue_name)
        for event in share:
            client.send_message(event.message)
            event.sent = dt.datetime.now(dt.UTC)

    with ThreadPoolExecutor(PUBLISHERS) as pool:
        list(pool.map(send, shares))


# --- waiting for the copies -------------------------------------------------------------------


def list_copies(base_url: str) -> list[dict[str, Any]]:
    """Every status document, through the list API's pages of 1,000."""
    docs: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = "limit=1000" + (f"&continuation={quote(token)}" if token else "")
        reply = http("GET", f"{base_url}/api/copies?{query}")
        if reply.status != 200:
            raise SystemExit(f"GET /api/copies answered {reply.status}: {reply.text[:500]}")
        page = reply.json()
        docs += page["copies"]
        token = page["continuation"]
        if token is None:
            return docs


def ended_in_store(store: Path) -> int:
    """How many replication copies have ended, read from the host's Durable store (sqlite in
    WAL mode: a reader costs the host nothing, where a status read would cost it a request)."""
    if not store.exists():
        return 0
    query = (
        "SELECT count(*) FROM instances WHERE instance_id LIKE 'repl-bench-%' "
        "AND status IN ('Completed', 'Failed', 'Terminated')"
    )
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return int(db.execute(query).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or busy: ask again
        return 0


def wait_ours(host: AppHost, count: int, deadline: float) -> dict[str, dict[str, Any]]:
    """The replication copies' final documents, by destination blob name, once `count` have
    ended in the store (or the deadline passed): one pass over the list API at the end."""
    while ended_in_store(host.durable_db) < count and time.monotonic() < deadline:
        time.sleep(STORE_PAUSE_S)
    docs = [d for d in list_copies(host.base_url) if d["id"].startswith("repl-bench-")]
    return {d["destination"].rsplit("/", 1)[-1]: d for d in docs if d["state"] in FINAL}


def read_confirmations(results: QueueClient) -> dict[str, dict[str, Any]]:
    """Every confirmation the peer wrote, by event id (read once, hidden for an hour)."""
    found: dict[str, dict[str, Any]] = {}
    while True:
        batch = list(results.receive_messages(max_messages=32, visibility_timeout=3600))
        if not batch:
            return found
        for message in batch:
            doc = json.loads(base64.b64decode(message.content))
            found[doc["event"]] = doc


def wait_peer(results: QueueClient, count: int, deadline: float) -> dict[str, dict[str, Any]]:
    """The peer's confirmations, once `count` are on the results queue (or the deadline)."""
    while True:
        waiting = results.get_queue_properties().approximate_message_count or 0
        if waiting >= count or time.monotonic() > deadline:
            return read_confirmations(results)
        time.sleep(LIST_PAUSE_S)


#: By event id: when its handler started (ours: the copy's `created`, when the queue trigger
#: built it) and when its copy was confirmed succeeded.
Confirmed = dict[str, tuple[dt.datetime, dt.datetime]]


def ours_outcomes(
    events: list[Event], docs: dict[str, dict[str, Any]]
) -> tuple[Confirmed, Counter[str]]:
    """When each event's copy started and was confirmed succeeded, and the other outcomes."""
    confirmed: Confirmed = {}
    others: Counter[str] = Counter()
    for event in events:
        doc = docs.get(event.name.rsplit("/", 1)[-1])
        if doc is None:
            others["not ended"] += 1
        elif doc["state"] != "succeeded" or doc.get("skipped"):
            others[doc["state"] + (" (skipped)" if doc.get("skipped") else "")] += 1
        else:
            times = (parse_time(doc["created"]), parse_time(doc["completed"]))
            confirmed[event.event_id] = times
    return confirmed, others


def peer_outcomes(
    events: list[Event], docs: dict[str, dict[str, Any]]
) -> tuple[Confirmed, Counter[str]]:
    """The same for the peer's confirmations."""
    confirmed: Confirmed = {}
    others: Counter[str] = Counter()
    for event in events:
        doc = docs.get(event.event_id)
        if doc is None:
            others["not confirmed"] += 1
        elif doc["status"] != "success":
            others[str(doc["status"])] += 1
        else:
            times = (parse_time(doc["started"]), parse_time(doc["confirmed"]))
            confirmed[event.event_id] = times
    return confirmed, others


def parse_time(text: str) -> dt.datetime:
    """An ISO time, with or without a `Z`, as an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- ours: its Durable work -------------------------------------------------------------------


def durable_work(store: Path) -> dict[str, int]:
    """Activity calls by name, timers and episodes of the replication copies, from the
    host's store (devhost/durable/store.py), read after the host has stopped."""
    work: Counter[str] = Counter()
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT event_json FROM history WHERE instance_id LIKE 'repl-bench-%'")
        for (text,) in rows:
            event = json.loads(text)
            kind = event.get("EventType")
            if kind == TASK_SCHEDULED:
                work[f"activity {event.get('Name')}"] += 1
            elif kind == TIMER_CREATED:
                work["timers"] += 1
            elif kind == ORCHESTRATOR_STARTED:
                work["episodes"] += 1
    return dict(work)


# --- one side of one run ----------------------------------------------------------------------


def run_side(
    stack: StorageStack, side: str, layout: Layout, args: argparse.Namespace, workdir: Path
) -> SideRun:
    """Start the side's host, write and publish the burst, wait for every copy, count."""
    source = blob_service(stack, SOURCE).get_container_client(layout.source)
    blob_service(stack, DEST).create_container(layout.destination(side))
    results = queue(stack, layout.results)
    events_queue = queue(stack, layout.queue(side))
    result = SideRun(side, layout.run, args.events)
    with side_host(stack, side, layout, args, workdir) as host:
        began = time.monotonic()
        events = write_all(source, side, args.events, int(args.size_kib * 1024))
        result.write_s = time.monotonic() - began
        stack.reset_transactions()
        first_send = dt.datetime.now(dt.UTC)
        publish(stack, events_queue.queue_name, events)
        result.publish_s = (dt.datetime.now(dt.UTC) - first_send).total_seconds()
        deadline = time.monotonic() + args.timeout
        if side == "ours":
            confirmed, others = ours_outcomes(events, wait_ours(host, args.events, deadline))
        else:
            confirmed, others = peer_outcomes(events, wait_peer(results, args.events, deadline))
        result.transactions = dict(stack.transactions().by_operation)
    if side == "ours":
        result.durable = durable_work(workdir / f"ours-{layout.run}.sqlite")
    fill_lags(result, events, confirmed, first_send)
    result.not_succeeded = dict(others)
    return result


def fill_lags(
    result: SideRun, events: list[Event], confirmed: Confirmed, first: dt.datetime
) -> None:
    """Lags from eventTime and from each send, the two phases after the send, and the wall
    time to the last confirmation."""
    for event in events:
        if event.event_id not in confirmed:
            continue
        started, done = confirmed[event.event_id]
        assert event.sent is not None
        result.lags_s.append((done - event.written).total_seconds())
        result.publish_lags_s.append((done - event.sent).total_seconds())
        result.pickup_s.append((started - event.sent).total_seconds())
        result.copy_s.append((done - started).total_seconds())
    result.confirmed = len(result.lags_s)
    if confirmed:
        result.wall_s = (max(done for _, done in confirmed.values()) - first).total_seconds()


def announce(run: SideRun) -> None:
    """One progress line on stderr."""
    lag = lag_stats(run.lags_s)
    print(
        f"  run {run.run} {run.side}: {run.confirmed}/{run.events} confirmed, lag median "
        f"{lag['median']:.2f} s p99 {lag['p99']:.2f} s, wall {run.wall_s:.1f} s, "
        f"{run.total_per_blob:.2f} transactions/blob",
        file=sys.stderr,
        flush=True,
    )


# --- reporting --------------------------------------------------------------------------------


def median_of(runs: list[SideRun], value: Callable[[SideRun], float]) -> float:
    return statistics.median(value(r) for r in runs)


def lags_of(runs: list[SideRun], key: str, series: str = "lags_s") -> float:
    """The median over runs of one statistic of one of a run's lists of seconds."""
    return statistics.median(lag_stats(getattr(r, series))[key] for r in runs)


def summary(runs: list[SideRun]) -> dict[str, Any]:
    """The medians over one side's runs."""
    operations = sorted({op for r in runs for op in r.transactions})
    durable_keys = sorted({key for r in runs for key in r.durable})
    return {
        "label": LABELS[runs[0].side],
        "runs": len(runs),
        "events": median_of(runs, lambda r: r.events),
        "confirmed": median_of(runs, lambda r: r.confirmed),
        "lag_s": {k: lags_of(runs, k) for k in LAG_KEYS},
        "lag_from_publish_s": {k: lags_of(runs, k, "publish_lags_s") for k in LAG_KEYS},
        "pickup_s": {k: lags_of(runs, k, "pickup_s") for k in LAG_KEYS},
        "copy_s": {k: lags_of(runs, k, "copy_s") for k in LAG_KEYS},
        "wall_s": median_of(runs, lambda r: r.wall_s),
        "write_s": median_of(runs, lambda r: r.write_s),
        "publish_s": median_of(runs, lambda r: r.publish_s),
        "transactions_per_blob": median_of(runs, lambda r: r.total_per_blob),
        "transactions_per_blob_by_operation": {
            op: statistics.median(r.per_blob(op) for r in runs) for op in operations
        },
        "not_succeeded": dict(sum((Counter(r.not_succeeded) for r in runs), Counter())),
        "durable_per_copy": {
            key: statistics.median(r.durable.get(key, 0) / max(r.confirmed, 1) for r in runs)
            for key in durable_keys
        },
    }


LAG_KEYS = ("median", "p99", "max")


def ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float]:
    """ours / peer of the headline medians."""

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {
        "lag_median": ratio(ours["lag_s"]["median"], peer["lag_s"]["median"]),
        "lag_p99": ratio(ours["lag_s"]["p99"], peer["lag_s"]["p99"]),
        "wall": ratio(ours["wall_s"], peer["wall_s"]),
        "transactions_per_blob": ratio(
            ours["transactions_per_blob"], peer["transactions_per_blob"]
        ),
    }


def table(sums: dict[str, dict[str, Any]], ratio: dict[str, float]) -> list[str]:
    """The markdown table of medians, one row per side and a row of ours/peer."""
    head = ["side", "events", "confirmed", "lag median s", "lag p99 s", "lag max s"]
    head += ["from publish: median s", "p99 s", "wall s", "transactions / blob"]
    head += [f"{op} / blob" for op in SHOWN] + ["other / blob"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in sums.values():
        ops = s["transactions_per_blob_by_operation"]
        # medians of sums need not sum: clamp the float dust that would print as -0.00
        other = max(s["transactions_per_blob"] - sum(ops.get(op, 0) for op in SHOWN), 0.0)
        cells = [s["label"], f"{s['events']:g}", f"{s['confirmed']:g}"]
        cells += [f"{s['lag_s'][k]:.2f}" for k in LAG_KEYS]
        cells += [f"{s['lag_from_publish_s'][k]:.2f}" for k in ("median", "p99")]
        cells += [f"{s['wall_s']:.1f}", f"{s['transactions_per_blob']:.2f}"]
        cells += [f"{ops.get(op, 0):.2f}" for op in SHOWN] + [f"{other:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["ours / peer", "", "", f"{ratio['lag_median']:.2f}x", f"{ratio['lag_p99']:.2f}x", ""]
    cells += ["", "", f"{ratio['wall']:.2f}x", f"{ratio['transactions_per_blob']:.2f}x"]
    cells += [""] * (len(SHOWN) + 1)
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def operations(sums: dict[str, dict[str, Any]]) -> list[str]:
    """Every operation either side sent, per blob."""
    ops = sorted({op for s in sums.values() for op in s["transactions_per_blob_by_operation"]})
    lines = ["| operation / blob | " + " | ".join(s["label"] for s in sums.values()) + " |"]
    lines.append("|---|" + "---|" * len(sums))
    for op in ops:
        per = [s["transactions_per_blob_by_operation"].get(op, 0) for s in sums.values()]
        lines.append(f"| {op} | " + " | ".join(f"{v:.3f}" for v in per) + " |")
    return lines


def phases(sums: dict[str, dict[str, Any]]) -> list[str]:
    """Pick-up (send returned -> the handler started on the event) and copy (handler started
    -> copy confirmed), per side."""
    head = "| side | pick-up median s | pick-up p99 s | copy median s | copy p99 s |"
    lines = [head, "|---|---|---|---|---|"]
    for s in sums.values():
        cells = [f"{s[part][k]:.2f}" for part in ("pickup_s", "copy_s") for k in ("median", "p99")]
        lines.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    return lines


def outcome_line(sums: dict[str, dict[str, Any]]) -> str:
    """What did not end succeeded, over all runs (a copy skipped counts here too)."""
    parts = [
        f"{s['label']}: " + (", ".join(f"{k} {v}" for k, v in s["not_succeeded"].items()))
        for s in sums.values()
        if s["not_succeeded"]
    ]
    return "Not confirmed succeeded: " + ("; ".join(parts) if parts else "none") + "."


def durable_line(ours: dict[str, Any]) -> str:
    work = ours["durable_per_copy"]
    if not work:
        return "Ours' Durable work: not read."
    parts = ", ".join(f"{key} {value:.2f}" for key, value in sorted(work.items()))
    return f"Ours' Durable work per copy (median over runs): {parts}."


def report(sums: dict[str, dict[str, Any]], ratio: dict[str, float]) -> list[str]:
    """The markdown the script prints (and writes to docs/ with --docs)."""
    return [
        *table(sums, ratio),
        "",
        "Where the lag from publish goes (medians over runs of each run's median / p99):",
        "",
        *phases(sums),
        "",
        "Storage transactions per blob by operation (medians):",
        "",
        *operations(sums),
        "",
        outcome_line(sums),
        "",
        durable_line(sums["ours"]),
        "",
        f"Write phase before each burst (median): ours {sums['ours']['write_s']:.1f} s, peer "
        f"{sums['peer']['write_s']:.1f} s; publishing the burst: ours "
        f"{sums['ours']['publish_s']:.1f} s, peer {sums['peer']['publish_s']:.1f} s.",
    ]


def median_run(runs: list[SideRun]) -> SideRun:
    """The run of median lag (the upper one of an even count)."""
    return sorted(runs, key=lambda r: lag_stats(r.lags_s)["median"])[len(runs) // 2]


def chart(results: dict[str, list[SideRun]], path: Path, title: str) -> None:
    """The lag distribution of each side's median run, as the share confirmed by each lag."""
    from matplotlib.figure import Figure  # here: only --docs needs it

    figure = Figure(figsize=(8, 4.5), dpi=110)
    axes = figure.subplots()
    for side, runs in results.items():
        run = median_run(runs)
        lags = sorted(run.lags_s)
        shares = [(i + 1) / run.events for i in range(len(lags))]
        stats = lag_stats(lags)
        label = f"{LABELS[side]} (median {stats['median']:.1f} s, p99 {stats['p99']:.1f} s)"
        axes.step(lags, shares, where="post", label=label)
    axes.set_xlabel("lag from eventTime to copy confirmed, s")
    axes.set_ylabel("share of events confirmed")
    axes.set_ylim(0, 1.02)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def command(args: argparse.Namespace) -> str:
    text = f".venv/bin/python bench/bench_replication.py --events {args.events}"
    text += f" --size-kib {args.size_kib:g} --runs {args.runs}"
    if args.peer_threads != PEER_THREADS:
        text += f" --peer-threads {args.peer_threads}"
    return text + " --docs"


def setting(args: argparse.Namespace) -> list[str]:
    """What both sides ran on, in words."""
    return [
        f"A burst of {args.events} BlobCreated events (Event Grid schema, base64, one per "
        f"message) for {args.events} new {args.size_kib:g} KiB blobs, {SOURCE} -> {DEST}: "
        "cross-account, so every copy is asynchronous in the local copy engine (64 MiB/s). "
        "Service: the app as shipped (host.json: queue batchSize 16 + newBatchThreshold 8, 16 "
        "activities and 16 orchestrator episodes at once) with one replication rule, "
        "BLOBCOPY_POLL_MIN_SECONDS=1 and devhost timers on time. Naive peer "
        "(bench/naive_replication/): the same queue settings and "
        f"{args.peer_threads} worker threads. Each side is one devhost process; every process "
        "of the run shares this machine's 2 cores with other work, so the figures move by "
        "tens of percent from run to run.",
    ]


def write_docs(
    results: dict[str, list[SideRun]], lines: list[str], args: argparse.Namespace
) -> None:
    """docs/bench-replication.md and its chart, from this run."""
    title = f"burst of {args.events} BlobCreated events, {args.size_kib:g} KiB blobs"
    chart(results, CHART_PNG, title)
    head = [
        "# Replication benchmark",
        "",
        f"Command: `{command(args)}` (bench/bench_replication.py says what each side does),",
        f"run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; medians of {args.runs} run(s) "
        "per side, the sides alternating which goes first.",
        "",
        *setting(args),
        "",
    ]
    text = "\n".join([*head, *lines, "", f"![lag distribution]({CHART_PNG.name})"]) + "\n"
    REPORT_MD.write_text(text, encoding="utf-8")


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="bench/bench_replication.py's docstring says exactly what is measured.",
    )
    parser.add_argument("--events", type=int, default=1000, help="events in the burst")
    parser.add_argument("--size-kib", type=float, default=4, help="size of each blob, KiB")
    parser.add_argument("--runs", type=int, default=1, help="runs of each side, alternating")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a side may take")
    parser.add_argument(
        "--peer-threads", type=int, default=PEER_THREADS, help="the peer's worker threads"
    )
    parser.add_argument("--logs", type=Path, help="keep each host's console output in this dir")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--docs", action="store_true", help="write docs/bench-replication.md and .png"
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.runs < 1 or args.size_kib <= 0:
        parser.error("--events and --runs must be at least 1, --size-kib positive")
    return args


def order(run: int) -> tuple[str, ...]:
    """Each side leads in turn, so the machine's noise spreads over both."""
    return SIDES if run % 2 == 0 else SIDES[::-1]


def measure(args: argparse.Namespace) -> dict[str, list[SideRun]]:
    """Every run of both sides on one storage stack, stopped however it ends."""
    results: dict[str, list[SideRun]] = {side: [] for side in SIDES}
    with (
        tempfile.TemporaryDirectory(prefix="bench-repl-") as workdir,
        StorageStack(StorageConfig.free_ports()) as stack,
    ):
        for run in range(args.runs):
            layout = Layout(run)
            blob_service(stack, SOURCE).create_container(layout.source)
            for side in order(run):
                outcome = run_side(stack, side, layout, args, Path(workdir))
                announce(outcome)
                results[side].append(outcome)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = measure(args)
    sums = {side: summary(runs) for side, runs in results.items()}
    ratio = ratios(sums["ours"], sums["peer"])
    lines = report(sums, ratio)
    if args.docs:
        write_docs(results, lines, args)
    if args.json:
        runs = [asdict(r) for side_runs in results.values() for r in side_runs]
        print(json.dumps({"command": command(args), "summary": sums, "ratio": ratio, "runs": runs}))
    else:
        print("\n".join(lines))
    complete = all(s["confirmed"] == s["events"] for s in sums.values())
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
