"""The orchestration's input (`CopyPlan`) and the state it carries across continue_as_new.

Both are plain JSON-able dicts at the Durable boundary. Everything the orchestrator needs from
the configuration is resolved at the edge and put in the plan, so replays never read the
environment. Times are ISO-8601 UTC strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from shared.polling import Observation


@dataclass(frozen=True)
class Carry:
    """What one execution hands the next through continue_as_new."""

    deadline: str
    copy_id: str | None = None
    started_at: str | None = None
    lease_id: str | None = None
    lease_renewed_at: str | None = None
    snapshot: str | None = None
    next_poll_at: str | None = None
    last: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    idle_reads: int = 0
    status_reads: int = 0
    estimated_finish: str | None = None  # absolute: a relative ETA goes stale between episodes
    skipped: bool = False
    executions: int = 1
    # The outcome a stop was asked for ({"state", "error"}); the copy keeps being aborted until
    # it is no longer pending, across continue_as_new, before anything is released or restored.
    stopping: dict[str, Any] | None = None
    troubles: int = 0  # attempts in a row that ran out of retries: the back-off exponent
    lease_retry_at: str | None = None  # a renewal that ran out of retries is tried again then
    warnings: list[dict[str, str]] | None = None

    def observation(self, which: str) -> Observation | None:
        """`last` or `previous` as a polling Observation."""
        raw = self.last if which == "last" else self.previous
        return Observation(raw["at"], raw["bytes"], raw["total"]) if raw else None


@dataclass(frozen=True)
class CopyPlan:
    """The orchestration input: the validated request plus settings resolved at the edge."""

    id: str
    request: dict[str, Any]
    fingerprint: str
    created: str
    lease: str = "none"
    lease_seconds: int = 60
    timeout_seconds: int = 86400
    poll_min: float = 1.0
    poll_max: float = 604800.0
    polls_per_execution: int = 100
    retry_attempts: int = 4
    retry_first_ms: int = 2000
    results_queue: str = "copy-results"
    carry: Carry | None = field(default=None)

    @property
    def source_url(self) -> str:
        """The source URL as the caller gave it (may carry the caller's SAS)."""
        return str(self.request["source"]["url"])

    @property
    def destination_url(self) -> str:
        """The destination blob URL."""
        return str(self.request["destination"]["url"])

    def to_input(self) -> dict[str, Any]:
        """The plan as orchestration input."""
        return asdict(self)

    def with_carry(self, carry: Carry) -> CopyPlan:
        """The plan for the next execution."""
        return replace(self, carry=carry)

    @classmethod
    def from_input(cls, raw: Any) -> CopyPlan:
        """Rebuild from orchestration input (a dict, or JSON text on some hosts)."""
        import json

        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        carry = data.pop("carry", None)
        return cls(**_known(cls, data), carry=Carry(**_known(Carry, carry)) if carry else None)


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    """The fields `kind` has: an execution continued by an older release may carry others."""
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}
