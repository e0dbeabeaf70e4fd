"""What the CLI prints: JSON for machines and short tables for people (the progress bars of
--wait are blobcopy/progress.py).

Every function here redacts SAS signatures before printing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text

from shared.redaction import scrub

STATE_STYLES = {
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "aborted": "yellow",
    "timed_out": "red",
}


def format_json(document: Any) -> str:
    """The document as indented JSON, SAS signatures redacted: what --json prints."""
    return json.dumps(scrub(document), indent=2, ensure_ascii=False)


def format_bytes(count: Any) -> str:
    """A byte count for people: 1.5 MiB; '-' when unknown."""
    if not isinstance(count, int | float) or isinstance(count, bool):
        return "-"
    if count < 1024:
        return f"{int(count)} B"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def format_progress(progress: Any) -> str:
    """'12.0 MiB / 48.0 MiB (25%, about 30 s left)' from a status document's progress."""
    if not isinstance(progress, dict):
        return "-"
    copied = progress.get("bytes_copied")
    total = progress.get("total_bytes")
    text = f"{format_bytes(copied)} / {format_bytes(total)}" if total else format_bytes(copied)
    details = []
    percent = progress.get("percent")
    if isinstance(percent, int | float):
        details.append(f"{percent:.0f}%")
    eta = progress.get("eta_seconds")
    if isinstance(eta, int | float):
        details.append(f"about {format_seconds(eta)} left")
    return f"{text} ({', '.join(details)})" if details else text


def format_seconds(seconds: float) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min'."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _location_of(endpoint: Any) -> str:
    """The URL of a source or destination entry, which may be an object or a plain string."""
    if isinstance(endpoint, dict):
        return str(endpoint.get("url", "-"))
    return "-" if endpoint is None else str(endpoint)


def _state_text(state: Any, skipped: Any = False) -> Text:
    """The state, coloured; a copy that `if_newer` left alone says so ("succeeded (skipped)")."""
    name = str(state or "unknown")
    text = Text(name, style=STATE_STYLES.get(name, "bold"))
    if skipped is True:
        text.append(" (skipped: destination newer)")
    return text


def status_table(document: dict[str, Any]) -> Table:
    """One copy's status document as a two-column table."""
    document = scrub(document)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("id", str(document.get("id", "-")))
    table.add_row("state", _state_text(document.get("state"), document.get("skipped")))
    table.add_row("source", _location_of(document.get("source")))
    table.add_row("destination", _location_of(document.get("destination")))
    table.add_row("progress", format_progress(document.get("progress")))
    restore = document.get("restore")
    if isinstance(restore, dict):
        table.add_row("restored", _restore_text(restore))
    for name in ("copy_id", "created", "updated", "completed"):
        if document.get(name):
            table.add_row(name.replace("_", " "), str(document[name]))
    error = document.get("error")
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        table.add_row("error", Text(f"{error.get('code', '')}: {error.get('message', '')}", "red"))
    return table


def _restore_text(restore: dict[str, Any]) -> str:
    """What a restore brought back, and where the content it replaced is kept."""
    point = restore.get("snapshot") or restore.get("version_id") or "?"
    kind = "snapshot" if restore.get("snapshot") else "version"
    kept = restore.get("previous_snapshot")
    undo = f"; previous content kept in snapshot {kept}" if kept else "; no snapshot kept"
    return f"from {kind} {point}{undo}"


def copies_of(listing: Any, key: str = "copies") -> list[dict[str, Any]]:
    """The status documents in a list answer: a bare array or an object wrapping one (under
    `key`: "copies", or "batches" for GET /api/batches)."""
    if isinstance(listing, dict):
        for name in (key, "items", "value"):
            if isinstance(listing.get(name), list):
                listing = listing[name]
                break
    if not isinstance(listing, list):
        return []
    return [item for item in listing if isinstance(item, dict)]


def list_table(copies: list[dict[str, Any]]) -> Table:
    """Many copies, one row each."""
    return _listing(
        copies,
        PROGRESS=lambda document: format_progress(document.get("progress")),
        SOURCE=lambda document: _location_of(document.get("source")),
        DESTINATION=lambda document: _location_of(document.get("destination")),
    )


def _listing(documents: list[dict[str, Any]], **columns: Callable[[dict[str, Any]], str]) -> Table:
    """Many status documents, one row each: ID, STATE, then `columns` (each header and how a
    document's cell is written), then UPDATED."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ID", "STATE", *columns, "UPDATED"):
        table.add_column(name, overflow="fold")
    for document in scrub(documents):
        table.add_row(
            str(document.get("id", "-")),
            _state_text(document.get("state"), document.get("skipped")),
            *(cell(document) for cell in columns.values()),
            str(document.get("updated") or "-"),
        )
    return table


def json_number(value: Any) -> float | None:
    """`value` as a float when it is a JSON number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# --- batches ------------------------------------------------------------------------------

ENDED_COUNTS = ("succeeded", "failed", "aborted", "skipped")
COUNT_NAMES = ("listed", "pending", "running", *ENDED_COUNTS)


def counts_of(document: dict[str, Any]) -> dict[str, int]:
    """A batch document's counts, 0 for any it lacks (a batch not yet past its first round)."""
    counts = document.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    return {name: int(json_number(counts.get(name)) or 0) for name in COUNT_NAMES}


def format_blobs(document: dict[str, Any]) -> str:
    """'3 / 10+ blobs ended' from a batch document: `+` while the source is still listed."""
    counts = counts_of(document)
    ended = sum(counts[name] for name in ENDED_COUNTS)
    more = "" if document.get("listing_complete") else "+"
    return f"{ended} / {counts['listed']}{more} blobs ended"


def format_counts(document: dict[str, Any]) -> str:
    """'succeeded 2, failed 1, running 4, pending 3': the counts that are not zero."""
    counts = counts_of(document)
    shown = [f"{name} {counts[name]}" for name in COUNT_NAMES[1:] if counts[name]]
    return ", ".join(shown) or "-"


def _container_of(endpoint: Any) -> str:
    """A batch's source or destination: the container URL, with the prefix after it."""
    if not isinstance(endpoint, dict):
        return _location_of(endpoint)
    url, prefix = str(endpoint.get("url") or "-"), endpoint.get("prefix") or ""
    return f"{url} (prefix {prefix!r})" if prefix else url


def batch_table(document: dict[str, Any]) -> Table:
    """One batch's status document as a two-column table."""
    document = scrub(document)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("id", str(document.get("id", "-")))
    state = _state_text(document.get("state"))
    if document.get("dry_run"):
        state.append(" (dry run: nothing copied)", style="bold")
    table.add_row("state", state)
    table.add_row("source", _container_of(document.get("source")))
    table.add_row("destination", _container_of(document.get("destination")))
    table.add_row("blobs", format_blobs(document))
    table.add_row("counts", format_counts(document))
    table.add_row("bytes", format_progress(document.get("progress")))
    errors = document.get("errors")
    if isinstance(errors, dict) and errors:
        table.add_row("blob errors", ", ".join(f"{code} {n}" for code, n in errors.items()))
    report = document.get("report")
    if isinstance(report, dict) and report.get("url"):
        table.add_row("report", str(report["url"]))
    for name in ("created", "updated", "completed"):
        if document.get(name):
            table.add_row(name, str(document[name]))
    error = document.get("error")
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        table.add_row("error", Text(f"{error.get('code', '')}: {error.get('message', '')}", "red"))
    for warning in document.get("warnings") or []:
        if isinstance(warning, dict):
            text = f"{warning.get('code', '')}: {warning.get('message', '')}"
            table.add_row("warning", Text(text, "yellow"))
    return table


def batch_list_table(batches: list[dict[str, Any]]) -> Table:
    """Many batches, one row each."""
    return _listing(
        batches,
        BLOBS=format_blobs,
        BYTES=lambda document: format_progress(document.get("progress")),
        SOURCE=lambda document: _container_of(document.get("source")),
        DESTINATION=lambda document: _container_of(document.get("destination")),
    )


def _lag(rule: dict[str, Any]) -> str:
    oldest = rule.get("oldest_running")
    if not isinstance(oldest, dict) or not isinstance(oldest.get("lag_seconds"), int | float):
        return "-"
    return format_seconds(float(oldest["lag_seconds"]))


def _side(end: Any) -> str:
    """`account/container/prefix` of a rule's source or destination."""
    if not isinstance(end, dict):
        return "-"
    return "/".join(str(end.get(k) or "") for k in ("account", "container", "prefix")).rstrip("/")


def replication_table(document: dict[str, Any]) -> Table:
    """GET /api/replication: one row per rule, its copies by state and its lag."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    states = ("seen", "running", "succeeded", "skipped", "failed")
    for name in ("RULE", "SOURCE", "DESTINATION", *(s.upper() for s in states), "LAG"):
        table.add_column(name, overflow="fold")
    for rule in scrub(document.get("rules") or []):
        copies = rule.get("copies") or {}
        table.add_row(
            str(rule.get("name", "-")),
            _side(rule.get("source")),
            _side(rule.get("destination")),
            *(str(copies.get(s, 0)) for s in states),
            _lag(rule),
        )
    return table
