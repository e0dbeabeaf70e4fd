"""Fault injection: make chosen requests fail or slow down, and hold copies pending.

Tests need the rare paths (throttling, a source that breaks mid-copy, a copy that stays pending
while something else happens) on demand and deterministically. Rules are plain data so the same
API serves Python tests in the same process and the HTTP control routes. Thread-safe: tests call
it from their own thread while the engine's event loop reads it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

#: Where a rule applies: a client's request to the engine, or the engine's own reads of a copy
#: source / writes of a copy destination while a copy runs in the background.
Target = Literal["request", "source", "destination"]
TARGETS: tuple[Target, ...] = ("request", "source", "destination")


@dataclass(frozen=True, kw_only=True)
class FaultAction:
    """What to do to one matching request: wait `delay_s`, then answer `status` if set."""

    delay_s: float = 0.0
    status: int | None = None
    code: str = "InternalError"
    message: str = "Injected fault."


@dataclass(kw_only=True)
class FaultRule:
    """Match on target, method, path regex and a query substring; act at most `times` times,
    on each matching request with chance `probability` (a chaos run's 5 % of everything)."""

    rule_id: int
    target: Target = "request"
    method: str | None = None
    path: re.Pattern[str] | None = None
    query: str | None = None
    header: str | None = None
    times: int | None = None
    probability: float = 1.0
    action: FaultAction = field(default_factory=FaultAction)

    def matches(
        self, target: Target, method: str, path: str, query: str, headers: frozenset[str]
    ) -> bool:
        if target != self.target:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and self.path.search(path) is None:
            return False
        if self.query is not None and self.query not in query:
            return False
        return self.header is None or self.header.lower() in headers


class FaultInjector:
    """The engine's fault table and copy gate."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)
        self._injected: Counter[Target] = Counter()
        self._held = False
        self._hold_path: re.Pattern[str] | None = None
        self._credits = 0

    # -- rules -------------------------------------------------------------------------------

    def fail(
        self,
        *,
        status: int,
        code: str,
        message: str = "Injected fault.",
        target: Target = "request",
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        header: str | None = None,
        times: int | None = 1,
        delay_s: float = 0.0,
        probability: float = 1.0,
    ) -> int:
        """Answer matching requests with `status` and error `code` (`times=None`: forever).

        `path` is a regex searched in the URL path (e.g. `r"/src/big\\.bin$"`), `query` a
        substring of the raw query (e.g. `"comp=copy"`), `header` a header that must be present
        (e.g. `"x-ms-copy-source"` to hit only Copy Blob), `probability` the chance that one
        matching request is hit (a miss uses none of `times`). Returns the rule id.
        """
        action = FaultAction(status=status, code=code, message=message, delay_s=delay_s)
        return self._add(target, method, path, query, header, times, action, probability)

    def delay(
        self,
        seconds: float,
        *,
        target: Target = "request",
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        header: str | None = None,
        times: int | None = None,
    ) -> int:
        """Add `seconds` of latency to matching requests before they proceed normally."""
        action = FaultAction(delay_s=seconds)
        return self._add(target, method, path, query, header, times, action)

    def _add(
        self,
        target: Target,
        method: str | None,
        path: str | None,
        query: str | None,
        header: str | None,
        times: int | None,
        action: FaultAction,
        probability: float = 1.0,
    ) -> int:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        if not 0.0 < probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")
        with self._lock:
            rule = FaultRule(
                rule_id=next(self._ids),
                target=target,
                method=method,
                path=re.compile(path) if path is not None else None,
                query=query,
                header=header,
                times=times,
                probability=probability,
                action=action,
            )
            self._rules.append(rule)
            return rule.rule_id

    def remove(self, rule_id: int) -> None:
        """Drop one rule (unknown ids are ignored)."""
        with self._lock:
            self._rules = [r for r in self._rules if r.rule_id != rule_id]

    def active(self, rule_id: int) -> bool:
        """True while a rule is in the table (a rule with `times` leaves it when used up)."""
        with self._lock:
            return any(r.rule_id == rule_id for r in self._rules)

    def clear(self) -> None:
        """Drop every rule and release held copies: the state a fresh test expects."""
        with self._lock:
            self._rules.clear()
            self._injected.clear()
            self._held = False
            self._hold_path = None
            self._credits = 0

    def take(
        self,
        target: Target,
        method: str,
        path: str,
        query: str,
        headers: frozenset[str] = frozenset(),
    ) -> FaultAction | None:
        """The first matching rule's action, counting one use of it; None if nothing matches."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(target, method, path, query, headers):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                if rule.action.status is not None:
                    self._injected[target] += 1
                return rule.action
        return None

    def reseed(self, seed: int) -> None:
        """Restart the chance of `probability` rules from `seed`, so a chaos run repeats."""
        with self._lock:
            self._random.seed(seed)

    def injected(self) -> dict[str, int]:
        """How many requests each target's rules answered with an error since the last clear."""
        with self._lock:
            return {target: self._injected[target] for target in TARGETS}

    # -- copy gate ---------------------------------------------------------------------------

    def hold_copies(self, path: str | None = None) -> None:
        """Keep asynchronous copies (whose destination path matches `path`) pending.

        A held copy stops before its next chunk; it still answers `202 pending` when started,
        and can be aborted. Release with `release_copies()`, or let a few chunks through with
        `allow_chunks(n)` to see progress grow.
        """
        with self._lock:
            self._held = True
            self._hold_path = re.compile(path) if path is not None else None
            self._credits = 0

    def release_copies(self) -> None:
        """Let every held copy run to its end."""
        with self._lock:
            self._held = False
            self._hold_path = None
            self._credits = 0

    def allow_chunks(self, count: int = 1) -> None:
        """While copies are held, let `count` more chunks through (shared by all held copies)."""
        with self._lock:
            self._credits += count

    def _may_pass(self, path: str) -> bool:
        with self._lock:
            if not self._held:
                return True
            if self._hold_path is not None and self._hold_path.search(path) is None:
                return True
            if self._credits > 0:
                self._credits -= 1
                return True
            return False

    async def copy_gate(self, path: str, poll_s: float = 0.005) -> None:
        """Wait until the copy writing to `path` may copy its next chunk."""
        while not self._may_pass(path):
            await asyncio.sleep(poll_s)
