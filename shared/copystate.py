"""The orchestration's input (`CopyPlan`) and the state it carries across continue_as_new.

Both cross the Durable boundary as plain JSON (`to_input` / `from_input`). Everything the
orchestrator needs from the configuration is resolved at the edge and put in the plan, so
replays never read the environment; the plan's defaults are the settings' own
(shared/settings.py `default`). Times are RFC 3339 UTC strings (shared/timestamps.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Self

from shared.outcomes import Outcome
from shared.polling import ProgressPoint
from shared.settings import default


@dataclass(frozen=True)
class Carry:
    """What one execution hands the next through continue_as_new."""

    deadline: str
    copy_id: str | None = None
    started_at: str | None = None
    start_asked_at: str | None = None  # when the start was asked (before its Copy Blob)
    lease_id: str | None = None
    lease_renewed_at: str | None = None
    snapshot: str | None = None
    next_poll_at: str | None = None
    last: ProgressPoint | None = None  # the latest status read
    previous: ProgressPoint | None = None  # the latest read before `last` that showed progress
    idle_reads: int = 0
    status_reads: int = 0
    estimated_finish: str | None = None  # absolute: a relative ETA goes stale between episodes
    skipped: bool = False
    # Another copy was pending on the destination when ours was to start (a replica of another
    # write): `poll` asks to start again instead of reading a status.
    waiting: bool = False
    busy_waits: int = 0
    executions: int = 1
    # The outcome a stop was asked for; the copy keeps being aborted until it is no longer
    # pending, across continue_as_new, before anything is released or restored.
    stopping: Outcome | None = None
    troubles: int = 0  # attempts in a row that ran out of retries: the back-off exponent
    lease_retry_at: str | None = None  # a renewal that ran out of retries is tried again then
    warnings: list[dict[str, str]] | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Carry:
        """Rebuild from orchestration input, with its nested records typed again."""
        known = _known(cls, data)
        for name in ("last", "previous"):
            if known.get(name):
                known[name] = ProgressPoint.from_wire(known[name])
        if known.get("stopping"):
            known["stopping"] = Outcome.from_wire(known["stopping"])
        return cls(**known)


@dataclass(frozen=True, kw_only=True)
class PlanBase:
    """What every orchestration's input holds (a copy's, a batch's): the validated request,
    and the settings resolved at the edge (their defaults are the Settings fields')."""

    id: str
    request: dict[str, Any]
    fingerprint: str
    created: str
    timeout_seconds: int = default("default_timeout_seconds")
    poll_min: float = default("poll_min_seconds")
    poll_max: float = default("poll_max_seconds")
    polls_per_execution: int = default("polls_per_execution")
    retry_attempts: int = default("retry_attempts")
    retry_first_ms: int = int(default("retry_first_seconds") * 1000)
    results_queue: str = default("results_queue")
    carry: Any = None  # what the previous execution handed on (each plan names its type)

    def to_input(self) -> dict[str, Any]:
        """The plan as orchestration input."""
        return asdict(self)

    @classmethod
    def from_input(cls, raw: Any) -> Self:
        """Rebuild from orchestration input (a dict, or JSON text on some hosts); the carried
        state through the subclass's `carry_type`."""
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        carry = data.pop("carry", None)
        carried = cls.carry_type().from_wire(carry) if carry else None
        return cls(**_known(cls, data), carry=carried)

    @classmethod
    def carry_type(cls) -> Any:
        """The type of the state this orchestration carries across continue_as_new."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class CopyPlan(PlanBase):
    """The copy orchestration's input."""

    lease: str = "none"
    lease_seconds: int = default("lease_seconds")
    #: A restore's point in time (shared/restore.py): `{"snapshot": ...}` or `{"version_id": ...}`.
    restore: dict[str, str] | None = None
    carry: Carry | None = field(default=None)

    @property
    def source_url(self) -> str:
        """The source URL as the caller gave it (may carry the caller's SAS)."""
        return str(self.request["source"]["url"])

    @property
    def destination_url(self) -> str:
        """The destination blob URL."""
        return str(self.request["destination"]["url"])

    def with_carry(self, carry: Carry) -> CopyPlan:
        """The plan for the next execution."""
        return replace(self, carry=carry)

    @classmethod
    def carry_type(cls) -> type[Carry]:
        return Carry


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    """The fields `kind` has: an execution continued by an older release may carry others."""
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}
