"""How a module declares its activities: `bp = ActivityBlueprint()`, then `@bp.activity(CONTRACT)`.

An `ActivityBlueprint` is the Durable SDK's `df.Blueprint` (function_app.py registers each one,
as the SDK's samples-v2/blueprint does) with one more decorator. `@bp.activity(START_COPY)` on
`def start_copy(job: StartCopyJob) -> CopyStatus` registers, under the function's own name, a
Functions activity that reads the JSON input into the contract's job type, runs the function,
and answers with the envelope of shared/contracts.py:

- a value: `{"ok": true, ...}`;
- a permanent storage error: `{"ok": false, "error"}`, so the orchestrator ends the copy with
  the storage error code at once instead of burning retries;
- a transient error, or anything unexpected: raised. `call_activity_with_retry` retries it,
  and the orchestrator reports the last one.

No `from __future__ import annotations` here: the Functions worker reads the annotations of
`run` (the function it indexes) at runtime.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.durable_functions as df

from shared.contracts import Activity, Failed, Ok, WireRecord, encode_result
from shared.errors import PermanentStorageError

log = logging.getLogger(__name__)
J = TypeVar("J", bound=WireRecord)
R = TypeVar("R")
Work = Callable[[J], R]


class ActivityBlueprint(df.Blueprint):  # type: ignore[misc]  # the SDK is untyped
    """A Durable Blueprint whose activities keep their contracts and the envelope."""

    def activity(self, contract: Activity[J, Any]) -> Callable[[Work[J, Any]], Any]:
        """Declare `contract`'s activity: the decorated function does the work."""

        def declare(work: Work[J, Any]) -> Any:
            if work.__name__ != contract.name:
                raise TypeError(f"activity {work.__name__} declared for {contract.name}")

            def run(payload: dict[str, Any]) -> dict[str, Any]:
                return envelope(contract, work, payload)

            run.__name__, run.__qualname__ = work.__name__, work.__qualname__
            run.__doc__, run.__module__ = work.__doc__, work.__module__
            return self.activity_trigger(input_name="payload")(run)

        return declare


def envelope(contract: Activity[J, Any], work: Work[J, Any], payload: Any) -> dict[str, Any]:
    """Run one activity on its typed job; permanent storage errors become a failure."""
    job = contract.job.from_wire(payload or {})
    try:
        value = work(job)
    except PermanentStorageError as exc:
        log.warning("%s failed permanently: %s", contract.name, exc)
        return encode_result(Failed(exc.to_dict()))
    return encode_result(Ok(value))
