"""Replication: the `blob-events` queue, where Event Grid delivers blob events, starts copies.

Each `BlobCreated` event that a rule (shared/replication_rules.py) takes starts one copy
orchestration through the copy API's own idempotent start (`shared/api.py start`), with an
instance id made from the rule and the blob version the event names: a redelivered event, or
the same event in another message, finds the copy it started and starts nothing new. An
event no rule takes is counted and dropped with a log line; one that cannot be read is set
aside on `<queue>-rejected` with the reason, and never retried. A copy carries the write's
version (`replica`), so copies of one destination apply in write order whatever order the
events come in (shared/replicaops.py); a rule with `deletes` mirrors `BlobDeleted`. What is
done and what is not: docs/replication.md.

No `from __future__ import annotations` here: the Functions worker reads the trigger's
annotations at runtime.
"""

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared import batchapi
from shared.accounts import BlobLocation
from shared.api import COPIES, start
from shared.blobops import storage
from shared.errors import CopyFailed, RequestRejected
from shared.httpserve import never_empty, origin
from shared.instances import DurableClient, ManagementApiPages
from shared.jobapi import ApiResponse, rejected
from shared.replicaops import delete_replica
from shared.replication_backfill import backfill_request, rule_named
from shared.replication_events import BlobEvent, MalformedEvent, OtherEvent, parse_message
from shared.replication_rules import ReplicationRule
from shared.replication_status import rule_document, rule_prefixes, tally_rule
from shared.requests import decode_json
from shared.settings import Settings, get_settings, replication_queue_name

log = logging.getLogger(__name__)
bp = df.Blueprint()
#: The most of a message kept beside its rejection reasons (a queue message holds 64 KiB).
MAX_KEPT_CHARS = 16 * 1024
#: The most of the reasons kept (the rest counted): with the message, under 48 KiB of text,
#: whose base64 fits the 64 KiB.
MAX_KEPT_REASONS_CHARS = 24 * 1024
#: What this process has seen, by outcome (`started:<rule>`, `unmatched`, ...): logged with
#: each message; the per-rule status route is a later slice.
TALLY: Counter[str] = Counter()


def copy_id(rule: ReplicationRule, event: BlobEvent) -> str:
    """The copy's instance id: the rule, and the blob version the event names.

    A blob version is the sequencer Azure gives each write of one name (else its ETag, else
    the event id): the same write seen twice maps to one id, two writes to two.
    """
    version = event.sequencer or event.etag or event.event_id
    key = json.dumps([event.account, event.container, event.name, version])
    return f"repl-{rule.name}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def matching_rules(settings: Settings, event: BlobEvent) -> list[ReplicationRule]:
    """The rules that take the event's blob."""
    return [
        rule
        for rule in settings.replication_rules
        if rule.source.account == event.account
        and rule.source.container == event.container
        and rule.source.takes(event.name)
    ]


def copy_request(settings: Settings, rule: ReplicationRule, event: BlobEvent) -> dict[str, Any]:
    """The copy request (as `POST /api/copies` takes) that replicates the event's blob."""
    request: dict[str, Any] = {
        "id": copy_id(rule, event),
        "source": {"url": source_url(settings, rule, event)},
        "destination": {"url": destination_url(settings, rule, event)},
        **rule.copy_options(),
    }
    if event.sequencer:  # copies of one destination apply in write order (shared/replicaops.py)
        request["replica"] = {"version": event.sequencer, "source_etag": event.etag or None}
    return request


def source_url(settings: Settings, rule: ReplicationRule, event: BlobEvent) -> str:
    """The event's blob, on its account's configured endpoint."""
    accounts = {a.name: a for a in settings.registry.accounts}
    return BlobLocation(accounts[rule.source.account], event.container, event.name).base_url


def destination_url(settings: Settings, rule: ReplicationRule, event: BlobEvent) -> str:
    """Where the rule puts the event's blob."""
    accounts = {a.name: a for a in settings.registry.accounts}
    account = accounts[rule.destination.account]
    name = rule.destination_name(event.name)
    return BlobLocation(account, rule.destination.container, name).base_url


@dataclass
class Outcome:
    """What one queue message led to."""

    started: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unmatched: int = 0
    ignored: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.started)} copies started or found, {len(self.deleted)} deletes, "
            f"{self.unmatched} unmatched, "
            f"{self.ignored} ignored, {len(self.rejected)} set aside"
        )


async def handle_blob_events(
    client: DurableClient, body: bytes | str, settings: Settings
) -> Outcome:
    """One `blob-events` message: start a copy per event and rule. Bad input is described,
    never raised; a storage or Durable error raises, so the host delivers the message again
    (each start is idempotent)."""
    outcome = Outcome()
    for event in parse_message(body):
        if isinstance(event, MalformedEvent):
            outcome.rejected.append({"reason": event.reason})
            continue
        if isinstance(event, OtherEvent):
            outcome.ignored += 1
            continue
        if event.kind == "deleted":
            await mirror_deletes(settings, event, outcome)
            continue
        rules = matching_rules(settings, event)
        if not rules:
            outcome.unmatched += 1
            log.info(
                "blob event %s: no rule takes %s/%s/%s; dropped",
                event.event_id,
                event.account,
                event.container,
                event.name,
            )
        for rule in rules:
            answer = await start(client, copy_request(settings, rule, event), settings, "")
            if answer.status >= 400:
                reason = f"rule {rule.name!r}: copy refused: {answer.status} " + json.dumps(
                    answer.body, sort_keys=True
                )
                outcome.rejected.append({"reason": reason, "event": event.event_id})
            else:
                outcome.started.append(answer.body["id"])
    TALLY.update(
        {"started": len(outcome.started), "deleted": len(outcome.deleted)}
        | {"unmatched": outcome.unmatched}
        | {"ignored": outcome.ignored, "rejected": len(outcome.rejected)}
    )
    return outcome


async def mirror_deletes(settings: Settings, event: BlobEvent, outcome: Outcome) -> None:
    """A `BlobDeleted`: delete the destination of each rule that mirrors deletes (a storage
    error raises, so the message comes again); ignored by the others."""
    rules = [rule for rule in matching_rules(settings, event) if rule.deletes]
    if not rules or not event.sequencer:  # without a sequencer no delete can be ordered
        outcome.ignored += 1
        return
    for rule in rules:
        url = destination_url(settings, rule, event)
        source = source_url(settings, rule, event)
        try:
            done = await asyncio.to_thread(delete_replica, storage(), source, url, event.sequencer)
        except CopyFailed as exc:  # a name whose URL could reach another blob: never retried
            reason = f"rule {rule.name!r}: delete refused: {exc}"
            outcome.rejected.append({"reason": reason, "event": event.event_id})
            continue
        log.info("blob event %s: rule %r: delete of %s: %s", event.event_id, rule.name, url, done)
        outcome.deleted.append(f"{rule.name}: {done}")


def set_aside(body: bytes | str, outcome: Outcome) -> str:
    """The `<queue>-rejected` message: the reasons, and the start of the message itself.

    Both are bounded as written (JSON escapes included), so the message, base64 encoded by the
    output binding, stays within a queue message's 64 KiB whatever the input: one that did not
    would fail the function, and the host would retry the message into `<queue>-poison`.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    kept = text[:MAX_KEPT_CHARS]
    while len(json.dumps(kept)) > MAX_KEPT_CHARS:
        kept = kept[: len(kept) // 2]
    reasons, size = [], 0
    for index, reason in enumerate(outcome.rejected):
        size += len(json.dumps(reason)) + 2
        if size > MAX_KEPT_REASONS_CHARS:
            reasons.append({"reason": f"{len(outcome.rejected) - index} more reasons left out"})
            break
        reasons.append(reason)
    return json.dumps({"reasons": reasons, "message": kept})


# --- the trigger (function_app.py registers `bp`) -----------------------------------------

QUEUE = replication_queue_name(os.environ)
REJECTED = f"{QUEUE}-rejected"
STORAGE = "AzureWebJobsStorage"


# The Functions decorators are untyped (pyproject.toml lets the older trigger modules use them).
@bp.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=STORAGE)  # type: ignore[untyped-decorator]
@bp.queue_output(arg_name="rejected", queue_name=REJECTED, connection=STORAGE)  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def blob_events_queue(
    msg: func.QueueMessage, rejected: func.Out[str], client: df.DurableOrchestrationClient
) -> None:
    """`blob-events`: Event Grid's blob events start copies; unreadable ones are set aside."""
    body = msg.get_body()
    outcome = await handle_blob_events(client, body, get_settings())
    if outcome.rejected:
        rejected.set(set_aside(body, outcome))
        log.warning(
            "blob events message %s: %s; set aside on %s: %s",
            msg.id,
            outcome.summary(),
            REJECTED,
            "; ".join(r["reason"] for r in outcome.rejected),
        )
        return
    log.info("blob events message %s: %s (so far: %s)", msg.id, outcome.summary(), dict(TALLY))


async def replication_status(client: Any, settings: Settings) -> ApiResponse:
    """Each rule with its copies' counts and the oldest still running (the lag), read from
    the instance store (shared/replication_status.py)."""
    now = dt.datetime.now(dt.UTC)
    rules = []
    every, pages_for = settings.replication_rules, partial(ManagementApiPages, client)
    for rule in every:
        prefixes = rule_prefixes(rule, every)
        tally = await tally_rule(rule, prefixes, pages_for, COPIES.describe)
        rules.append(rule_document(rule, tally, now))
    return ApiResponse(200, {"queue": QUEUE, "rules": rules})


@bp.route(route="replication", methods=["GET"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def replication_status_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/replication: the rules, their copies, and the replication lag."""
    return await never_empty(replication_status(client, get_settings()))


async def start_backfill(
    client: DurableClient,
    rule_name: str,
    body: bytes,
    settings: Settings,
    base_url: str,
    code: str | None = None,
) -> ApiResponse:
    """POST /api/replication/{rule}/backfill: a batch over the rule's range, with its options
    (shared/replication_backfill.py); the answer is the batch's."""
    try:
        rule = rule_named(settings, rule_name)
        request = backfill_request(rule, settings, decode_json(body) if body.strip() else {})
    except RequestRejected as exc:
        return rejected(exc)
    return await batchapi.start_batch(client, request, settings, base_url, code)


@bp.route(route="replication/{rule}/backfill", methods=["POST"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def backfill_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/replication/{rule}/backfill: copy what the rule's range already holds."""
    work = start_backfill(
        client,
        req.route_params["rule"],
        req.get_body() or b"",
        get_settings(),
        origin(req),
        req.params.get("code"),
    )
    return await never_empty(work)
