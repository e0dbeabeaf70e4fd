"""A batch orchestration's input (`BatchPlan`) and what it carries across continue_as_new.

Like the copy's plan (shared/copystate.py), the plan holds every setting the orchestrator needs,
resolved at the edge, and crosses the Durable boundary as plain JSON. The carry is bounded
whatever the batch's size: the pending copies (at most `max_concurrency`), the source
listing's continuation token, and counts. Each blob's outcome is in the report, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from shared.contracts import BatchBlob, BatchTally
from shared.copystate import PlanBase
from shared.outcomes import Outcome
from shared.settings import default


@dataclass(frozen=True)
class BatchCarry:
    """What one execution of a batch hands the next."""

    deadline: str
    pending: list[BatchBlob] = field(default_factory=list)
    marker: str | None = None  # where the source listing resumes
    exhausted: bool = False  # every source blob has been listed
    tally: BatchTally = field(default_factory=BatchTally)
    pending_bytes_copied: int = 0
    pending_bytes_total: int = 0
    report_length: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error code -> blobs
    stopping: Outcome | None = None
    idle_rounds: int = 0  # rounds in a row in which nothing started or ended
    troubles: int = 0  # rounds in a row that ran out of retries
    # When the round that keeps running out of retries was first decided: its next try is the
    # same round (same listing marker), so it adopts the copies the failed attempts started.
    unfinished_round_asked_at: str | None = None
    rounds: int = 0
    executions: int = 1
    estimated_finish: str | None = None
    warnings: list[dict[str, str]] | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> BatchCarry:
        known = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}
        known["pending"] = [BatchBlob.from_wire(b) for b in known.get("pending") or []]
        known["tally"] = BatchTally.from_wire(known.get("tally") or {})
        if known.get("stopping"):
            known["stopping"] = Outcome.from_wire(known["stopping"])
        return cls(**known)


@dataclass(frozen=True, kw_only=True)
class BatchPlan(PlanBase):
    """The batch orchestration's input."""

    report_url: str
    page_size: int = default("batch_page_size")
    lease_seconds: int = default("lease_seconds")  # a renewed source lease's life
    carry: BatchCarry | None = None

    def with_carry(self, carry: BatchCarry) -> BatchPlan:
        return replace(self, carry=carry)

    @classmethod
    def carry_type(cls) -> type[BatchCarry]:
        return BatchCarry
