"""Calling a user function the way the Python worker does, whatever triggered it.

Every trigger ends in the same steps: arguments by keyword, one per binding (the trigger's value,
a durable client, an `Out` holder per output binding, `context` when the function asks for it);
coroutines awaited on the host's loop and plain functions run on a thread pool so they cannot
block it; output bindings flushed only after success; `Executing`/`Executed` logged around it.
A failure is logged with its traceback and re-raised unchanged, so each trigger decides what it
means (500, a retried queue message, a failed activity).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devhost.functions import logs
from devhost.functions.bindings import (
    InvocationContext,
    Out,
    queue_output_messages,
    set_thread_invocation_id,
)
from devhost.functions.indexer import (
    DURABLE_CLIENT,
    ORCHESTRATION_TRIGGER,
    RETURN,
    Binding,
    FunctionSpec,
)

log = logging.getLogger(logs.HOST_LOGGER)


class QueueOutput(Protocol):
    """Where queue output bindings' messages go (the queue service of the binding's account)."""

    async def send(self, binding: Binding, messages: list[bytes]) -> None: ...


class BindingUnavailable(RuntimeError):
    """Raised when a function needs a binding this host was started without."""


@dataclass(frozen=True)
class InvocationResult:
    """What a call produced: its return value and the values set on its output bindings."""

    return_value: Any
    outputs: Mapping[str, Any] = field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class Invoker:
    """Calls functions; one per host, shared by every trigger."""

    def __init__(
        self,
        *,
        app_dir: Path,
        executor: Executor,
        queue_output: QueueOutput | None = None,
        durable_client: Callable[[], str] | None = None,
    ) -> None:
        self._app_dir = str(app_dir)
        self._executor = executor
        self._queue_output = queue_output
        self._durable_client = durable_client

    def set_durable_client(self, factory: Callable[[], str]) -> None:
        """Provide the durableClient binding's JSON once the Durable engine is running."""
        self._durable_client = factory

    def _arguments(
        self, spec: FunctionSpec, trigger_value: Any, invocation_id: str
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {spec.trigger.name: trigger_value}
        for binding in spec.inputs:
            if binding.type == DURABLE_CLIENT:
                if self._durable_client is None:
                    raise BindingUnavailable(f"{spec.name}: the Durable engine is not running")
                kwargs[binding.name] = self._durable_client()
        for binding in spec.outputs:
            if binding.name != RETURN:
                kwargs[binding.name] = Out[Any]()
        if spec.wants_context:
            kwargs["context"] = InvocationContext(
                invocation_id=invocation_id,
                function_name=spec.name,
                function_directory=self._app_dir,
            )
        return kwargs

    async def _flush_outputs(self, spec: FunctionSpec, result: InvocationResult) -> None:
        for binding in spec.outputs:
            if binding.type != "queue":
                continue
            value = (
                result.return_value if binding.name == RETURN else result.outputs.get(binding.name)
            )
            messages = queue_output_messages(value, binding=binding.name)
            if messages:
                if self._queue_output is None:
                    raise BindingUnavailable(f"{spec.name}: no queue service for output bindings")
                await self._queue_output.send(binding, messages)

    @staticmethod
    def _collect(spec: FunctionSpec, kwargs: Mapping[str, Any], value: Any) -> InvocationResult:
        outputs = {b.name: kwargs[b.name].get() for b in spec.outputs if b.name != RETURN}
        return InvocationResult(return_value=value, outputs=outputs)

    def _log_failure(
        self, spec: FunctionSpec, invocation_id: str, started: float, exc: BaseException
    ) -> None:
        logs.executed(spec, invocation_id, started, succeeded=False)
        if spec.trigger.type == ORCHESTRATION_TRIGGER:
            # The SDK's failure message carries the whole orchestrator state: one line is enough.
            log.error("Exception: %s", _first_line(exc))
        else:
            log.error("Exception while executing function: Functions.%s", spec.name, exc_info=exc)

    async def invoke(
        self, spec: FunctionSpec, trigger_value: Any, *, reason: str
    ) -> InvocationResult:
        """Call a function from the host's event loop; raises what the function raised."""
        invocation_id = str(uuid.uuid4())
        logs.executing(spec, reason, invocation_id)
        started = time.perf_counter()
        try:
            kwargs = self._arguments(spec, trigger_value, invocation_id)
            if spec.is_async:
                value = await spec.user_function(**kwargs)
            else:
                value = await self._run_in_thread(spec.user_function, kwargs, invocation_id)
            if asyncio.iscoroutine(value):  # a sync wrapper around an async function
                value = await value
            result = self._collect(spec, kwargs, value)
            await self._flush_outputs(spec, result)
        except Exception as exc:
            self._log_failure(spec, invocation_id, started, exc)
            raise
        logs.executed(spec, invocation_id, started, succeeded=True)
        return result

    def invoke_sync(self, spec: FunctionSpec, trigger_value: Any, *, reason: str) -> Any:
        """Call a function in the calling thread (orchestrators: pure, quick, never async)."""
        invocation_id = str(uuid.uuid4())
        logs.executing(spec, reason, invocation_id)
        started = time.perf_counter()
        try:
            kwargs = self._arguments(spec, trigger_value, invocation_id)
            set_thread_invocation_id(invocation_id)
            value = spec.user_function(**kwargs)
        except Exception as exc:
            self._log_failure(spec, invocation_id, started, exc)
            raise
        logs.executed(spec, invocation_id, started, succeeded=True)
        return value

    def _run_in_thread(
        self, function: Callable[..., Any], kwargs: dict[str, Any], invocation_id: str
    ) -> Awaitable[Any]:
        def call() -> Any:
            set_thread_invocation_id(invocation_id)
            return function(**kwargs)

        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(ctx.run, call))
