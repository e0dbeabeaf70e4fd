"""The status documents of the Durable HTTP API (StatusResponsePayload) and query parsing."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from devhost.durable import protocol as p
from devhost.durable.protocol import EventType, JsonDict
from devhost.durable.state import RuntimeStatus
from devhost.durable.store import Query, StatusRow

# Azure leaves the replay bookkeeping out of historyEvents.
HIDDEN_EVENTS = {EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED}
EVENT_NAMES = {
    EventType.EXECUTION_STARTED: "ExecutionStarted",
    EventType.EXECUTION_COMPLETED: "ExecutionCompleted",
    EventType.EXECUTION_TERMINATED: "ExecutionTerminated",
    EventType.TASK_SCHEDULED: "TaskScheduled",
    EventType.TASK_COMPLETED: "TaskCompleted",
    EventType.TASK_FAILED: "TaskFailed",
    EventType.SUB_ORCHESTRATION_CREATED: "SubOrchestrationInstanceCreated",
    EventType.SUB_ORCHESTRATION_COMPLETED: "SubOrchestrationInstanceCompleted",
    EventType.SUB_ORCHESTRATION_FAILED: "SubOrchestrationInstanceFailed",
    EventType.TIMER_CREATED: "TimerCreated",
    EventType.TIMER_FIRED: "TimerFired",
    EventType.EVENT_RAISED: "EventRaised",
    EventType.EXECUTION_SUSPENDED: "ExecutionSuspended",
    EventType.EXECUTION_RESUMED: "ExecutionResumed",
}
OUTPUT_KEYS = ("Result", "Input", "Details")
# OrchestrationStatusQueryCondition.PageSize: what GET instances/ answers when no `top` is sent.
DEFAULT_PAGE_SIZE = 100
CONTINUATION_HEADER = "x-ms-continuation-token"


class BadContinuationToken(ValueError):
    """The x-ms-continuation-token of a request is not one this engine gave out."""


def short_time(stamp: str) -> str:
    """The extension's status time format: seconds and a `Z`."""
    return stamp[:19] + "Z"


def payload(row: StatusRow, *, show_input: bool, history: list[JsonDict] | None = None) -> JsonDict:
    """One instance's status document."""
    document: JsonDict = {
        "name": row.name,
        "instanceId": row.instance_id,
        "runtimeStatus": row.status.value,
        "input": row.input_text if show_input else None,
        "customStatus": row.custom_status,
        "output": row.output,
        "createdTime": short_time(row.created),
        "lastUpdatedTime": short_time(row.updated),
    }
    if history is not None:
        document["historyEvents"] = history
    return document


def history_events(events: list[JsonDict], *, show_output: bool) -> list[JsonDict]:
    """History as the status API lists it: named event types, bookkeeping left out."""
    shown = []
    for item in events:
        kind = EventType(item["EventType"])
        if kind in HIDDEN_EVENTS:
            continue
        entry: JsonDict = {"EventType": EVENT_NAMES.get(kind, kind.name), **_fields(item)}
        if not show_output:
            for key in OUTPUT_KEYS:
                entry.pop(key, None)
        shown.append(entry)
    return shown


def _fields(item: JsonDict) -> JsonDict:
    fields = {k: v for k, v in item.items() if k not in ("EventType", "IsPlayed")}
    if "Name" in fields:
        fields["FunctionName"] = fields.pop("Name")
    return fields


def parse_query(params: Mapping[str, str], *, page: int | None = None, offset: int = 0) -> Query:
    """Filters from the query string (createdTimeFrom/To, runtimeStatus, instanceIdPrefix)."""
    statuses = tuple(
        RuntimeStatus(s)
        for s in params.get("runtimeStatus", "").split(",")
        if s in RuntimeStatus._value2member_map_
    )
    return Query(
        created_from=_time(params.get("createdTimeFrom")),
        created_to=_time(params.get("createdTimeTo")),
        statuses=statuses,
        id_prefix=params.get("instanceIdPrefix") or None,
        limit=page,
        offset=offset,
    )


def page_size(text: str | None) -> int:
    """`top`, as HttpApiHandler reads it: an integer, else the default page size."""
    try:
        size = int(text) if text else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size > 0 else DEFAULT_PAGE_SIZE


def encode_token(offset: int) -> str:
    """An opaque token for the page starting at `offset` (Azure's are opaque too)."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a token stands for; no (or an empty) token is the first page."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BadContinuationToken(f"invalid continuation token {token!r}") from exc
    if not isinstance(offset, int) or offset < 0:
        raise BadContinuationToken(f"invalid continuation token {token!r}")
    return offset


def _time(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return p.format_timestamp(p.parse_timestamp(text))
    except ValueError:
        return None


def flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean query parameter as .NET's bool.TryParse reads it."""
    value = params.get(name)
    if value is None or value.lower() not in ("true", "false"):
        return default
    return value.lower() == "true"


def decode_input(value: Any) -> str | None:
    """Orchestration input as the SDK's context wants it: JSON text (protocol §8)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
