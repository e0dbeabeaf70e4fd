"""The public status document of a copy, and the redaction that keeps SAS signatures out of it.

    {"id", "state", "source", "destination", "copy_id",
     "progress": {"bytes_copied", "total_bytes", "percent", "eta_seconds"},
     "created", "updated", "completed", "error": {"code", "message"} | null}

The orchestrator publishes it as custom status while the copy runs and returns it as output when
the copy ends; the API reads it back from either. Every string in it passes through `scrub`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.errors import redact_text

RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT = (
    "running",
    "succeeded",
    "failed",
    "aborted",
    "timed_out",
)
STATES = (RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT)
FINAL_STATES = frozenset(STATES[1:])


def redact_url(url: str | None) -> str | None:
    """The URL with its `sig` query value replaced, so the rest of the SAS stays readable."""
    if not url:
        return url
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "REDACTED" if k.lower() == "sig" else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:=")))


def scrub(value: Any) -> Any:
    """Recursively redact `sig=` in every string of a JSON-like value."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def progress(
    bytes_copied: int | None, total_bytes: int | None, eta_seconds: float | None = None
) -> dict[str, Any]:
    """The progress block: percent only when the total is known."""
    percent = None
    if bytes_copied is not None and total_bytes:
        percent = round(100.0 * bytes_copied / total_bytes, 1)
    elif total_bytes == 0 and bytes_copied == 0:
        percent = 100.0
    eta = None if eta_seconds is None else round(max(eta_seconds, 0.0), 1)
    return {
        "bytes_copied": bytes_copied,
        "total_bytes": total_bytes,
        "percent": percent,
        "eta_seconds": eta,
    }


def document(
    *,
    instance_id: str,
    state: str,
    source: str | None,
    destination: str | None,
    copy_id: str | None = None,
    bytes_copied: int | None = None,
    total_bytes: int | None = None,
    eta_seconds: float | None = None,
    created: str | None = None,
    updated: str | None = None,
    completed: str | None = None,
    error: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a status document; URLs are redacted and every string scrubbed."""
    doc = {
        "id": instance_id,
        "state": state,
        "source": redact_url(source),
        "destination": redact_url(destination),
        "copy_id": copy_id,
        "progress": progress(bytes_copied, total_bytes, eta_seconds),
        "created": created,
        "updated": updated,
        "completed": completed,
        "error": (
            {"code": str(error.get("code")), "message": str(error.get("message", ""))}
            if error
            else None
        ),
    }
    scrubbed: dict[str, Any] = scrub(doc)
    return scrubbed


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)


def from_instance(
    *,
    instance_id: str,
    runtime_status: str,
    request: Mapping[str, Any] | None,
    custom_status: Any,
    output: Any,
    created: Any = None,
    updated: Any = None,
) -> dict[str, Any]:
    """The status document of a Durable instance, whatever shape it is in.

    Completed instances answer with their output; running ones with their custom status; an
    orchestrator that crashed or was terminated gets a document that says so.
    """
    src = dst = None
    if request:
        src = (request.get("source") or {}).get("url")
        dst = (request.get("destination") or {}).get("url")
    created_at, updated_at = _iso(created), _iso(updated)

    def make(state: str, error: Mapping[str, Any] | None, completed: str | None) -> dict[str, Any]:
        return document(
            instance_id=instance_id,
            state=state,
            source=src,
            destination=dst,
            created=created_at,
            updated=updated_at,
            completed=completed,
            error=error,
        )

    if runtime_status == "Completed" and isinstance(output, Mapping) and "state" in output:
        return dict(scrub(output))
    if runtime_status == "Failed":
        err = {"code": "OrchestratorFailed", "message": str(output or "")[:500]}
        return make(FAILED, err, updated_at)
    if runtime_status in ("Terminated", "Canceled"):
        err = {"code": "Terminated", "message": str(output or "terminated")[:500]}
        return make(ABORTED, err, updated_at)
    if isinstance(custom_status, Mapping) and "state" in custom_status:
        return dict(scrub({**custom_status, "updated": updated_at or custom_status.get("updated")}))
    return make(RUNNING, None, None)
