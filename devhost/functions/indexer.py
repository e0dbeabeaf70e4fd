"""Find the functions of `function_app.py`, the way the Python worker indexes the v2 model.

The worker imports the script, takes its one module-level `FunctionRegister` (a `FunctionApp` or
`df.DFApp`) and asks it for its functions once (`get_functions()` cannot be called twice: the
second call fails on "duplicate" names). Each function's bindings are the JSON the worker sends to
the host; devhost keeps them as small typed records so the rest of the host never parses JSON.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

DEFAULT_SCRIPT = "function_app.py"
HTTP_TRIGGER = "httpTrigger"
QUEUE_TRIGGER = "queueTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
DURABLE_CLIENT = "durableClient"
RETURN = "$return"

SUPPORTED_TRIGGERS = frozenset(
    {HTTP_TRIGGER, QUEUE_TRIGGER, ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER}
)
SUPPORTED_INPUTS = frozenset({DURABLE_CLIENT})
SUPPORTED_OUTPUTS = frozenset({"http", "queue"})


class IndexingError(RuntimeError):
    """Raised when the app cannot be imported or holds no usable function app."""


@dataclass(frozen=True)
class Binding:
    """One binding of a function: its name, type, direction and every raw property."""

    name: str
    type: str
    direction: str
    properties: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A raw property (`route`, `queueName`, `connection`, ...)."""
        return self.properties.get(key, default)


@dataclass(frozen=True)
class FunctionSpec:
    """An indexed function: what triggers it, which arguments it takes, what it outputs."""

    name: str
    user_function: Callable[..., Any]
    trigger: Binding
    inputs: tuple[Binding, ...]
    outputs: tuple[Binding, ...]
    wants_context: bool
    is_async: bool

    @property
    def durable_name(self) -> str:
        """The name orchestrations use to call it: the binding's own name, else the function's."""
        key = "orchestration" if self.trigger.type == ORCHESTRATION_TRIGGER else "activity"
        return str(self.trigger.get(key) or self.name)


@dataclass(frozen=True)
class AppIndex:
    """The supported functions of an app, and why any others were left out."""

    functions: tuple[FunctionSpec, ...]
    skipped: tuple[str, ...] = ()

    def by_trigger(self, trigger_type: str) -> list[FunctionSpec]:
        return [f for f in self.functions if f.trigger.type == trigger_type]


def import_app_module(app_dir: Path) -> ModuleType:
    """Import the app's script with the app directory first on `sys.path`, as the worker does."""
    script = os.environ.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_SCRIPT
    path = app_dir / script
    if not path.is_file():
        raise IndexingError(f"{path} not found: is {app_dir} a Functions app directory?")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise IndexingError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise IndexingError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def find_function_app(module: ModuleType) -> func.FunctionRegister:
    """The module's one `FunctionRegister` instance (prefer the one named `app`)."""
    apps = {id(v): v for v in vars(module).values() if isinstance(v, func.FunctionRegister)}
    if not apps:
        raise IndexingError(f"{module.__file__} defines no FunctionApp (e.g. app = df.DFApp())")
    named = vars(module).get("app")
    if isinstance(named, func.FunctionRegister):
        return named
    if len(apps) > 1:
        raise IndexingError(f"{module.__file__} defines more than one FunctionApp")
    return next(iter(apps.values()))


def _binding(raw: str | Mapping[str, Any]) -> Binding:
    props = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return Binding(
        name=str(props["name"]),
        type=str(props["type"]),
        direction=str(props.get("direction", "IN")).upper(),
        properties=props,
    )


def _spec(function: Any) -> FunctionSpec | str:
    """Build one function's record, or say in a sentence why devhost cannot run it."""
    name = str(function.get_function_name())
    user_function: Callable[..., Any] = function.get_user_function()
    bindings = [_binding(raw) for raw in function.get_raw_bindings()]
    triggers = [b for b in bindings if b.type.endswith("Trigger")]
    if len(triggers) != 1:
        return f"{name}: needs exactly one trigger, has {len(triggers)}"
    trigger = triggers[0]
    if trigger.type not in SUPPORTED_TRIGGERS:
        return f"{name}: devhost does not run {trigger.type} functions"
    inputs = tuple(b for b in bindings if b.direction == "IN" and b is not trigger)
    outputs = tuple(b for b in bindings if b.direction == "OUT")
    for b in inputs:
        if b.type not in SUPPORTED_INPUTS:
            return f"{name}: devhost does not support {b.type} input bindings"
    for b in outputs:
        if b.type not in SUPPORTED_OUTPUTS:
            return f"{name}: devhost does not support {b.type} output bindings"
    binding_names = {b.name for b in bindings}
    params = inspect.signature(user_function).parameters
    return FunctionSpec(
        name=name,
        user_function=user_function,
        trigger=trigger,
        inputs=inputs,
        outputs=outputs,
        wants_context="context" in params and "context" not in binding_names,
        is_async=inspect.iscoroutinefunction(user_function),
    )


def index_app(app: func.FunctionRegister) -> AppIndex:
    """Index every function of the app; `app.get_functions()` is called exactly once."""
    functions: list[FunctionSpec] = []
    skipped: list[str] = []
    for function in app.get_functions():
        spec = _spec(function)
        if isinstance(spec, str):
            skipped.append(spec)
        else:
            functions.append(spec)
    return AppIndex(functions=tuple(functions), skipped=tuple(skipped))


def load_app(app_dir: Path) -> AppIndex:
    """Import `function_app.py` from the app directory and index its functions."""
    return index_app(find_function_app(import_app_module(app_dir.resolve())))
