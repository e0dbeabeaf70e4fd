"""GET /api/replication: each rule, with the copies its events started and how they ended.

The counts come from the Durable instance store, not from a tally kept in memory (which a
restart or a second host instance would lose or split): every copy a rule starts has the id
`repl-<rule>-<32 hex>` (shared/replication.py `copy_id`), so the management API's
`instanceIdPrefix` filter lists one rule's copies, page by page. A rule name may start another's
(`a` and `a-b`: `repl-a-` prefixes both), so a rule is listed under the prefixes that cover its
own ids and no other rule's (`rule_prefixes`); else a busy `a-b` spends `a`'s page budget. A rule
with more copies than `MAX_PAGES` pages is counted over those pages and marked
`complete: false`.

What it cannot count: events no rule took and events set aside are not per rule (they are
logged, and set-aside ones kept on `<queue>-rejected`); deletes start no instance (logged).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.instances import PAGE_SIZE, InstancePages
from shared.replication_rules import ReplicationRule
from shared.timestamps import iso, utc

#: Pages read per rule at most (100 instances each): the route stays quick on a big store.
MAX_PAGES = 50
#: What follows a rule's prefix in its copies' ids: 32 lower-case hex digits.
HEX_DIGITS = "0123456789abcdef"
ID_HEX_DIGITS = 32
#: Copy states as the status document names them (shared/status.py), in the order shown.
STATES = ("running", "succeeded", "skipped", "failed", "aborted", "timed_out")


def rule_prefix(rule: ReplicationRule) -> str:
    """The instance id prefix of the rule's copies."""
    return f"repl-{rule.name}-"


def rule_prefixes(rule: ReplicationRule, rules: Sequence[ReplicationRule]) -> list[str]:
    """Id prefixes that together cover every `repl-<rule>-<32 hex>` and prefix no other rule's
    ids: a prefix that starts another rule's is split by the hex digit that follows it. Rule
    `a` beside rule `a-b` is listed under 31 prefixes (`repl-a-0`...`repl-a-f` but `repl-a-b`,
    which becomes `repl-a-b0`...`repl-a-bf`); beside none, under one."""
    own = rule_prefix(rule)
    others = [rule_prefix(o) for o in rules if o.name != rule.name]
    shadowing = [q for q in others if q.startswith(own)]

    def split(prefix: str) -> list[str]:
        whole_id = len(prefix) >= len(own) + ID_HEX_DIGITS  # nothing of ours is longer
        if whole_id or not any(q.startswith(prefix) for q in shadowing):
            return [prefix]
        return [part for digit in HEX_DIGITS for part in split(prefix + digit)]

    parts = split(own)
    # Past the page budget the split costs more than it saves: list the broad prefix, and
    # `is_rules_copy` drops the other rules' copies (which then share the budget).
    return parts if len(parts) <= MAX_PAGES else [own]


def is_rules_copy(rule: ReplicationRule, instance_id: str | None) -> bool:
    """Whether the id is one of this rule's, not of a rule whose name starts like it
    (`repl-a-` also prefixes rule `a-b`'s ids)."""
    rest = (instance_id or "").removeprefix(rule_prefix(rule))
    return rest != instance_id and re.fullmatch(r"[0-9a-f]{32}", rest) is not None


@dataclass
class RuleTally:
    """One rule's copies so far."""

    states: Counter[str]
    oldest_running: tuple[dt.datetime, str] | None = None
    complete: bool = True

    def add(self, state: str, skipped: bool, created: dt.datetime | None, instance: str) -> None:
        """Count one copy; remember the oldest one still running (the replication lag)."""
        self.states["skipped" if skipped and state == "succeeded" else state] += 1
        if state != "running" or created is None:
            return
        if self.oldest_running is None or created < self.oldest_running[0]:
            self.oldest_running = (created, instance)


def state_of(document: dict[str, Any]) -> tuple[str, bool]:
    """The copy's state and whether it was skipped, from its status document."""
    state = str(document.get("state") or "running")
    return (state if state in STATES else "failed"), bool(document.get("skipped"))


async def tally_rule(
    rule: ReplicationRule,
    prefixes: Sequence[str],
    pages_for: Callable[[str], InstancePages],
    describe: Any,
) -> RuleTally:
    """Count the rule's copies over at most MAX_PAGES pages of its instances (at least one
    page per prefix), listed under `prefixes` (`rule_prefixes`: at most MAX_PAGES of them)."""
    tally = RuleTally(Counter())
    budget = MAX_PAGES
    for prefix in prefixes:
        pages, token = pages_for(prefix), None
        while True:
            if budget == 0:
                tally.complete = False
                return tally
            budget -= 1
            page = await pages.page(PAGE_SIZE, token)
            count_page(tally, rule, page.statuses, describe)
            token = page.continuation
            if token is None:
                break
    return tally


def count_page(tally: RuleTally, rule: ReplicationRule, statuses: Any, describe: Any) -> None:
    """Count the page's copies of this rule (a broad prefix also lists other rules')."""
    for found in statuses:
        if is_rules_copy(rule, found.instance_id):
            state, skipped = state_of(describe(found))
            created = utc(found.created_time) if found.created_time else None
            tally.add(state, skipped, created, str(found.instance_id))


def rule_document(rule: ReplicationRule, tally: RuleTally, now: dt.datetime) -> dict[str, Any]:
    """One rule in the answer: where it listens and writes, and its copies."""
    oldest = None
    if tally.oldest_running is not None:
        since, instance = tally.oldest_running
        lag = max((now - since).total_seconds(), 0.0)
        oldest = {"id": instance, "since": iso(since), "lag_seconds": round(lag, 3)}
    return {
        "name": rule.name,
        "source": rule.source.model_dump(mode="json"),
        "destination": rule.destination.model_dump(mode="json"),
        "deletes": rule.deletes,
        "copies": {"seen": sum(tally.states.values())} | {s: tally.states[s] for s in STATES},
        "oldest_running": oldest,
        "complete": tally.complete,
    }
