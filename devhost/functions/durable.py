"""Adapters between indexed functions and the Durable engine (devhost/durable).

The engine speaks the out-of-proc protocol in JSON text; these adapters call the user's functions
the way the Python worker would: an orchestrator's `handle` gets the context JSON under its
binding name and answers with the SDK's state JSON; an activity's input is decoded by the
library's `ActivityTriggerConverter` and its return value encoded with `df_dumps`. Orchestrations
find functions by durable name: the binding's `orchestration`/`activity` property, else the
function name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from devhost.functions.bindings import decode_activity_input, encode_activity_output
from devhost.functions.indexer import (
    ACTIVITY_TRIGGER,
    ORCHESTRATION_TRIGGER,
    FunctionSpec,
    IndexingError,
)
from devhost.functions.invoker import Invoker

if TYPE_CHECKING:  # the host imports the engine only for apps that use it (host.py)
    from devhost.durable.protocol import ActivityRunner, OrchestratorRunner

DURABLE_REASON = "(null)"


def _by_durable_name(functions: Iterable[FunctionSpec], trigger: str) -> dict[str, FunctionSpec]:
    found: dict[str, FunctionSpec] = {}
    for spec in functions:
        if spec.trigger.type != trigger:
            continue
        if spec.durable_name in found:
            raise IndexingError(
                f"{trigger} name {spec.durable_name!r} is used by both "
                f"{found[spec.durable_name].name} and {spec.name}"
            )
        found[spec.durable_name] = spec
    return found


def orchestrator_runner(spec: FunctionSpec, invoker: Invoker) -> OrchestratorRunner:
    """Run one orchestrator episode: context JSON in, SDK state JSON out (raises on failure)."""

    def run(context_json: str) -> str:
        return str(invoker.invoke_sync(spec, context_json, reason=DURABLE_REASON))

    return run


def activity_runner(spec: FunctionSpec, invoker: Invoker) -> ActivityRunner:
    """Run one activity: input JSON text in, df-serialized result out (raises on failure)."""

    async def run(input_json: str | None) -> str:
        result = await invoker.invoke(
            spec, decode_activity_input(input_json), reason=DURABLE_REASON
        )
        return encode_activity_output(result.return_value)

    return run


def orchestrator_runners(
    functions: Iterable[FunctionSpec], invoker: Invoker
) -> Mapping[str, OrchestratorRunner]:
    return {
        name: orchestrator_runner(spec, invoker)
        for name, spec in _by_durable_name(functions, ORCHESTRATION_TRIGGER).items()
    }


def activity_runners(
    functions: Iterable[FunctionSpec], invoker: Invoker
) -> Mapping[str, ActivityRunner]:
    return {
        name: activity_runner(spec, invoker)
        for name, spec in _by_durable_name(functions, ACTIVITY_TRIGGER).items()
    }
