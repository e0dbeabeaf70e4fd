"""The transaction counter: what each client's requests to the blob service would cost on Azure.

Batch tests and benchmarks read how many of each operation a client sent, per account; the chaos
run asserts that every destination got exactly one accepted Copy Blob. So the engine counts each
client request it receives (never its own reads of sources or writes of destinations, nor the
control API), by operation (operations.py) and account, and the Copy Blob answers by destination.

The engine's event loop alone touches a `TransactionCounter`, so a request costs one dict
increment and no lock; `StorageStack.transactions()` reads it on that loop, and tests in other
processes read it through the control API with `TransactionsClient`.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Statuses in which Azure accepts a Copy Blob (202 pending; 201 on old API versions).
ACCEPTED_COPY = frozenset({201, 202})


@dataclass(frozen=True)
class Transactions:
    """One reading of the counter (plain dicts; absent keys are zero)."""

    by_operation: dict[str, int]
    by_account: dict[str, dict[str, int]]
    #: Copy Blob requests answered 201/202, by "account/container/blob".
    accepted_copies: dict[str, int]
    #: Copy Blob requests answered anything else: refusals, injected faults, engine errors.
    refused_copies: dict[str, int]
    #: The most asynchronous copies pending at once since the last reset, by "account/container"
    #: of the destination: what a client that bounds its concurrency must keep under its bound.
    peak_pending: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The control API's body."""
        return {
            "by_operation": self.by_operation,
            "by_account": self.by_account,
            "accepted_copies": self.accepted_copies,
            "refused_copies": self.refused_copies,
            "peak_pending": self.peak_pending,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transactions:
        """Read the control API's body back."""
        return cls(
            by_operation=dict(data["by_operation"]),
            by_account={a: dict(ops) for a, ops in data["by_account"].items()},
            accepted_copies=dict(data["accepted_copies"]),
            refused_copies=dict(data["refused_copies"]),
            peak_pending=dict(data.get("peak_pending") or {}),
        )


class TransactionCounter:
    """The engine's counts; touched only on the engine's event loop."""

    def __init__(self) -> None:
        self._by_account: dict[str, Counter[str]] = {}
        self._accepted: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()

    def request(self, account: str, operation: str) -> None:
        """Count one client request (by_operation is summed when read, not on every request)."""
        counts = self._by_account.get(account)
        if counts is None:
            counts = self._by_account[account] = Counter()
        counts[operation] += 1

    def copy_answered(self, destination: str, status: int) -> None:
        """Count a Copy Blob's answer to `destination` ("account/container/blob")."""
        (self._accepted if status in ACCEPTED_COPY else self._refused)[destination] += 1

    def copy_pending(self, container: str, change: int) -> None:
        """An asynchronous copy into `container` began (+1) or ended (-1)."""
        self._pending[container] += change
        self._peak[container] = max(self._peak[container], self._pending[container])

    def reset(self) -> None:
        """Forget every count (copies still pending stay counted as pending)."""
        self._peak = Counter({c: n for c, n in self._pending.items() if n > 0})
        self._by_account.clear()
        self._accepted.clear()
        self._refused.clear()

    def snapshot(self) -> Transactions:
        """The counts now, as plain dicts the caller may keep."""
        total: Counter[str] = Counter()
        for counts in self._by_account.values():
            total.update(counts)
        return Transactions(
            by_operation=dict(total),
            by_account={a: dict(c) for a, c in self._by_account.items()},
            accepted_copies=dict(self._accepted),
            refused_copies=dict(self._refused),
            peak_pending={c: n for c, n in self._peak.items() if n > 0},
        )


class TransactionsClient:
    """The counter of an engine in another process, through its control API.

    Same names as on `StorageStack`, so a helper can take either. `cafile` is the stack's
    `ca_cert_path` when the engine serves HTTPS.
    """

    def __init__(self, control_url: str, *, cafile: Path | None = None) -> None:
        self.url = control_url.rstrip("/") + "/transactions"
        self._context = ssl.create_default_context(cafile=cafile) if cafile else None

    def transactions(self) -> Transactions:
        """The engine's counts now."""
        with urllib.request.urlopen(self.url, context=self._context, timeout=30) as resp:
            return Transactions.from_json(json.load(resp))

    def reset_transactions(self) -> None:
        """Zero the engine's counts."""
        request = urllib.request.Request(self.url, method="DELETE")
        with urllib.request.urlopen(request, context=self._context, timeout=30):
            pass
