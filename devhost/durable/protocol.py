"""The Durable Functions out-of-proc JSON protocol, and nothing else.

This is the only module that knows the SDK's wire shapes (see devhost/durable/README.md): it builds
history events and the orchestration context, and reads the SDK's reply into small typed records.
Everything else in the engine works on those records, so a protocol change touches one file.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

OUT_OF_PROC_MARKER = "$OutOfProcData$:"
# The extension sends V2 (1) as upperSchemaVersion and V3 (2) as upperSchemaVersionNew, with the
# long-timer settings (OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString):
# the reply carries one cumulative list of actions, and the SDK splits timers longer than
# maximumShortTimerDuration into successive CreateTimer actions (LongTimerTask).
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2
# HttpOptions.DefaultAsyncRequestSleepTimeMilliseconds, sent under the extension's spelling.
DEFAULT_HTTP_ASYNC_SLEEP_MS = 30000

JsonDict = dict[str, Any]
# How the engine calls user code, JSON text both ways; the function host builds them
# (devhost/functions/durable.py), the engine runs them, so the one definition lives here.
OrchestratorRunner = Callable[[str], str]  # context JSON -> the SDK's state JSON
ActivityRunner = Callable[[str | None], Awaitable[str]]  # input JSON -> result JSON


class EventType(enum.IntEnum):
    """History event types, numbered as the SDK's HistoryEventType."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


class ActionType(enum.IntEnum):
    """Action types of the SDK's reply (models/actions/ActionType.py)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


# Actions to which the SDK gives a task number when they are first yielded (protocol §3).
NUMBERED_ACTIONS = frozenset(
    {
        ActionType.CALL_ACTIVITY,
        ActionType.CALL_ACTIVITY_WITH_RETRY,
        ActionType.CALL_SUB_ORCHESTRATOR,
        ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ActionType.CREATE_TIMER,
        ActionType.CALL_ENTITY,
        ActionType.CALL_HTTP,
        ActionType.SIGNAL_ENTITY,
    }
)


@dataclass(frozen=True)
class Retry:
    """The SDK's RetryOptions: a fixed interval and a number of attempts, nothing more."""

    first_interval_ms: int
    max_attempts: int


@dataclass(frozen=True)
class Action:
    """One leaf action of a reply, with only the fields the engine acts upon."""

    kind: ActionType
    name: str | None = None
    input: str | None = None
    instance_id: str | None = None
    fire_at: datetime | None = None
    is_canceled: bool = False
    retry: Retry | None = None
    version: str | None = None

    @property
    def signature(self) -> str:
        """What must stay the same on replay for the orchestration to be deterministic."""
        return f"{self.kind.name}:{self.name or ''}"


@dataclass(frozen=True)
class Reply:
    """The SDK's orchestrator state after one episode."""

    is_done: bool
    actions: list[Action] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    custom_status: Any = None

    @property
    def continue_as_new(self) -> Action | None:
        """The ContinueAsNew action when the episode ended that way."""
        last = self.actions[-1] if self.actions else None
        if self.is_done and last is not None and last.kind is ActionType.CONTINUE_AS_NEW:
            return last
        return None


class ProtocolError(Exception):
    """The SDK answered something this engine cannot read."""


def utc_now() -> datetime:
    """The engine's single clock, so tests could replace it in one place."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """UTC text with a `Z`, as the extension writes history timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Read `fireAt` and stored timestamps (naive values are UTC, as the SDK formats them)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_timespan(span: timedelta) -> str:
    """A .NET TimeSpan in its "c" form, as Newtonsoft writes one: `3.00:00:00`, `00:00:00.5000000`.

    The SDK's parse_timespan_attrib wants exactly two-digit fields and seven fraction digits.
    """
    if span < timedelta(0):
        raise ValueError("negative timespans are not sent")
    minutes, seconds = divmod(span.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if span.days:
        text = f"{span.days}.{text}"
    if span.microseconds:
        text += f".{span.microseconds * 10:07d}"
    return text


def event(kind: EventType, timestamp: str, event_id: int = -1, **attributes: Any) -> JsonDict:
    """A history event without IsPlayed, which is decided when the history is sent."""
    return {"EventType": int(kind), "EventId": event_id, "Timestamp": timestamp, **attributes}


def encode_event(history_event: JsonDict, *, played: bool) -> str:
    """One history event as JSON text, so played events are serialised once and reused."""
    return json.dumps({**history_event, "IsPlayed": played}, separators=(",", ":"))


def build_context(
    *,
    instance_id: str,
    parent_instance_id: str | None,
    input_text: str | None,
    encoded_history: list[str],
    maximum_short_timer: timedelta,
    long_timer_interval: timedelta,
) -> str:
    """The context JSON for one episode (protocol §2); history items are encode_event() texts."""
    head = json.dumps(
        {
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": parent_instance_id,
            "input": input_text,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
            "longRunningTimerIntervalDuration": format_timespan(long_timer_interval),
            "maximumShortTimerDuration": format_timespan(maximum_short_timer),
            "defaultHttpAsyncRequestSleepTimeMillseconds": DEFAULT_HTTP_ASYNC_SLEEP_MS,
        }
    )
    return head[:-1] + ', "history": [' + ",".join(encoded_history) + "]}"


def parse_reply(state_text: str) -> Reply:
    """Read the SDK's state JSON (the return value of the orchestrator's handle)."""
    try:
        state = json.loads(state_text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"orchestrator reply is not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise ProtocolError("orchestrator reply is not a JSON object")
    try:
        actions = flatten_actions(state.get("actions") or [])
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        message = f"orchestrator reply has an action this engine cannot read: {exc!r}"
        raise ProtocolError(message) from exc
    return Reply(
        is_done=bool(state.get("isDone", False)),
        actions=actions,
        output=state.get("output"),
        error=state.get("error"),
        custom_status=state.get("customStatus"),
    )


def parse_failure(exc: BaseException) -> Reply:
    """Read an orchestrator failure: the state JSON follows the out-of-proc marker in str(exc)."""
    text = str(exc)
    _, marker, state_text = text.partition(OUT_OF_PROC_MARKER)
    if not marker:
        return Reply(is_done=False, error=text or type(exc).__name__)
    reply = parse_reply(state_text)
    error = reply.error or text.partition("\n\n" + OUT_OF_PROC_MARKER)[0]
    return Reply(
        is_done=False,
        actions=reply.actions,
        error=error,
        custom_status=reply.custom_status,
    )


def flatten_actions(groups: list[Any]) -> list[Action]:
    """Leaf actions in the order the SDK numbered them: yields in order, compounds depth-first."""
    leaves: list[Action] = []
    for group in groups:
        for item in group if isinstance(group, list) else [group]:
            _collect_leaves(item, leaves)
    return leaves


def _collect_leaves(item: JsonDict, leaves: list[Action]) -> None:
    kind = ActionType(int(item["actionType"]))
    if kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
        for child in item.get("compoundActions") or []:
            _collect_leaves(child, leaves)
        return
    leaves.append(_leaf(kind, item))


def _leaf(kind: ActionType, item: JsonDict) -> Action:
    retry = item.get("retryOptions")
    fire_at = item.get("fireAt")
    return Action(
        kind=kind,
        name=item.get("functionName") or item.get("externalEventName") or item.get("operation"),
        input=item.get("input"),
        instance_id=item.get("instanceId"),
        version=item.get("version"),
        fire_at=parse_timestamp(fire_at) if fire_at else None,
        is_canceled=bool(item.get("isCanceled", False)),
        retry=Retry(
            int(retry.get("firstRetryIntervalInMilliseconds", 0)),
            int(retry.get("maxNumberOfAttempts", 1)),
        )
        if retry
        else None,
    )


# The client side of the protocol (§8, §9): the webhook URLs the client binding and the HTTP API
# hand out, and the refusals they answer with. The engine and its HTTP API both read them here.
RPC_PATH = "/runtime/webhooks/durabletask/"


class DurableError(Exception):
    """A client request the engine refuses; `status` is the HTTP status Azure answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def hub_query(task_hub: str) -> str:
    """The query string every management URL of a task hub carries."""
    return f"taskHub={task_hub}&connection=Storage"


def management_urls(instance_url: str, instance_id: str, query: str) -> dict[str, str]:
    """The extension's management URLs for one instance."""
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance_url}?{query}",
        "sendEventPostUri": f"{instance_url}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance_url}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance_url}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance_url}?{query}",
        "restartPostUri": f"{instance_url}/restart?{query}",
        "suspendPostUri": f"{instance_url}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance_url}/resume?reason={{text}}&{query}",
    }


def client_binding_json(base_url: str, task_hub: str) -> str:
    """The JSON a durableClient binding receives for a host serving at `base_url`."""
    base = base_url.rstrip("/")
    webhook = base + RPC_PATH.rstrip("/")
    instance = f"{webhook}/instances/INSTANCEID"
    query = hub_query(task_hub)
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{webhook}/orchestrators/{{functionName}}"
                f"[/{{instanceId}}]?{query}",
                "createAndWaitOnNewInstancePostUri": f"{webhook}/orchestrators/"
                f"{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                f"&pollingInterval={{intervalInSeconds}}&{query}",
            },
            "managementUrls": management_urls(instance, "INSTANCEID", query),
            "rpcBaseUrl": base + RPC_PATH,
            "baseUrl": webhook,
            "requiredQueryStringParameters": query,
        }
    )
