"""How a copy ends, and how an activity that failed through all its retries reads to a caller.

Pure helpers of the orchestrator (no Durable SDK, no storage SDK), so each is unit-tested alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from shared.errors import StorageError
from shared.redaction import redact_text
from shared.status import State

#: Our error's line: `[Exception: ][module.]<one of our StorageError types>: [Code] text`.
_OUR_ERROR = re.compile(
    r"^(?:Exception:\s*)?(?:[\w.]+\.)?(?P<type>\w+):\s*\[(?P<code>[A-Za-z][A-Za-z0-9]*)\]\s*"
)
_ACTIVITY_PREFIX = re.compile(r"^Activity function '[^']*' failed:\s*")
_EXCEPTION_LINE = re.compile(r"^\s*Exception:\s*(?:[\w.]+(?:Error|Exception)\w*:\s*)?(.*)$")
_TYPE_PREFIX = re.compile(r"^(?:[\w.]+(?:Error|Exception)\w*):\s*")
#: Attempts that ran out of retries are tried again after min(poll_min * 2**n, this) seconds.
BACKOFF_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class Outcome:
    """How the copy ended: one of the final states, and the error when there is one."""

    state: State
    error: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Outcome:
        """A stop in hand, as orchestration input carries it."""
        return cls(State(data["state"]), data.get("error"))


def aborted_error(reason: str | None) -> dict[str, Any]:
    """The error of a copy or batch stopped on request, with the caller's reason if given."""
    return {"code": "Aborted", "message": str(reason or "aborted on request")[:500]}


def failure_from_exception(exc: BaseException) -> dict[str, Any]:
    """The error of an activity that raised through all its retries (no secrets, one line).

    The SDK raises `Exception("<Reason> \\n <Details>")`. devhost gives `<Type>: [Code] text`;
    on Azure the Reason is `Activity function '<name>' failed: ` + the worker's RpcException
    message (`Result: Failure\\nException: <Type>: [Code] text\\nStack: ...`) and the Details a
    serialized exception (TaskActivityShim.cs): so pick the line where one of our StorageError
    types carries its `[Code]`, then the worker's `Exception:` line, never a stack frame or a
    JSON blob. Anything else is `ActivityFailed`, the one code for an unplanned error.
    """
    text = redact_text(str(exc)).strip()
    lines = [_ACTIVITY_PREFIX.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        found = _OUR_ERROR.match(line)
        if found and found.group("type") in _storage_error_types():
            message = line[found.end() :].strip() or line
            return {"code": found.group("code"), "message": message[:500]}
    for line in lines:
        worker = _EXCEPTION_LINE.match(line)
        if worker:
            return {"code": "ActivityFailed", "message": worker.group(1)[:500] or line[:500]}
    first = _TYPE_PREFIX.sub("", lines[0]) if lines else type(exc).__name__
    return {"code": "ActivityFailed", "message": (first or type(exc).__name__)[:500]}


@cache
def _storage_error_types() -> frozenset[str]:
    """The names of our StorageError classes: only their `[Code]` is a storage code. A `[word]`
    in any other text (a stack frame, another library's message) is not a code at all."""
    found, todo = set(), [StorageError]
    while todo:
        kind = todo.pop()
        found.add(kind.__name__)
        todo += kind.__subclasses__()
    return frozenset(found)


def backoff_seconds(attempts: int, low: float, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """The wait before trying again after `attempts` failures in a row (doubling, capped)."""
    return min(max(low, 0.001) * 2.0 ** min(max(attempts, 1), 30), max(cap, low))


def clamp(value: float | None, low: float, high: float) -> float:
    """`value` within [low, high]; None means `low`."""
    return min(max(low if value is None else value, low), high)
