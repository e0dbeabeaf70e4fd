"""The console log, in the Functions host's words, with secrets taken out.

Developers read devhost's console the way they read `func start`'s: the same `Executing` /
`Executed` lines and function listing make the two interchangeable. Every line passes through
`redact` on its way out, so a SAS signature or function key in a URL, an exception message or a
user's own log call never reaches the console.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from devhost.functions.indexer import (
    ACTIVITY_TRIGGER,
    HTTP_TRIGGER,
    ORCHESTRATION_TRIGGER,
    QUEUE_TRIGGER,
    FunctionSpec,
)
from devhost.settings import SettingsError, resolve_app_setting_refs
from shared.redaction import redact_text as redact

HOST_LOGGER = "devhost.host"

log = logging.getLogger(HOST_LOGGER)


class RedactingFormatter(logging.Formatter):
    """`[2024-01-01T00:00:00.000Z] message`, like `func start`, redacted after formatting."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # isoformat, not strftime: it still works while the interpreter shuts down.
        moment = datetime.fromtimestamp(record.created, UTC).replace(tzinfo=None)
        return moment.isoformat(timespec="milliseconds") + "Z"

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_console(level: int = logging.INFO) -> None:
    """Send every log record (the host's and the functions' own) to stdout, redacted."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedactingFormatter("[%(asctime)s] %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The storage SDKs log every request (URLs with signatures) at INFO: keep them quiet.
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def executing(spec: FunctionSpec, reason: str, invocation_id: str) -> None:
    log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, invocation_id)


def executed(spec: FunctionSpec, invocation_id: str, started: float, *, succeeded: bool) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000)
    log.info(
        "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
        spec.name,
        "Succeeded" if succeeded else "Failed",
        invocation_id,
        duration_ms,
    )


def _resolved(text: str) -> str:
    try:
        return resolve_app_setting_refs(text)
    except SettingsError:
        return text


def function_listing(functions: Iterable[FunctionSpec], base_url: str, route_prefix: str) -> str:
    """The `Functions:` block `func start` prints: HTTP routes with methods, other triggers."""
    lines = ["", "Functions:", ""]
    prefix = f"/{route_prefix}" if route_prefix else ""
    for spec in sorted(functions, key=lambda s: s.name.lower()):
        trigger = spec.trigger
        if trigger.type == HTTP_TRIGGER:
            methods = ",".join(m.upper() for m in trigger.get("methods") or [])
            route = str(trigger.get("route") or spec.name).strip("/")
            shown = f"[{methods}] " if methods else ""
            lines.append(f"\t{spec.name}: {shown}{base_url}{prefix}/{route}")
        elif trigger.type == QUEUE_TRIGGER:
            lines.append(
                f"\t{spec.name}: queueTrigger ({_resolved(str(trigger.get('queueName')))})"
            )
        elif trigger.type in (ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER):
            alias = "" if spec.durable_name == spec.name else f" as '{spec.durable_name}'"
            lines.append(f"\t{spec.name}: {trigger.type}{alias}")
        else:
            lines.append(f"\t{spec.name}: {trigger.type}")
        lines.append("")
    return "\n".join(lines)
