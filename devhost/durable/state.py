"""The engine's own records: runtime status, inbox messages and per-execution bookkeeping.

The bookkeeping mirrors what the SDK does privately while replaying (task numbers, retry timers), so
the engine can write the events the SDK will look for; it is persisted with every episode.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from devhost.durable.protocol import JsonDict


class RuntimeStatus(enum.StrEnum):
    """OrchestrationRuntimeStatus names, as the client SDK reads them."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"

    @property
    def is_terminal(self) -> bool:
        """Finished instances: their id may be reused, events to them are refused (410)."""
        return self in (RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED)


class MessageKind(enum.StrEnum):
    """What sits in an instance's inbox."""

    HISTORY = "history"  # a history event to deliver in an episode
    TERMINATE = "terminate"
    SUSPEND = "suspend"
    RESUME = "resume"


@dataclass
class Message:
    """One inbox entry; `row_id` is set once persisted (client and cross-instance messages)."""

    kind: MessageKind
    event: JsonDict | None = None
    execution_id: str | None = None  # completions are dropped when their execution has ended
    reason: str = ""
    row_id: int | None = None

    def to_json(self) -> str:
        """Stored form of the message."""
        return json.dumps(
            {
                "kind": self.kind.value,
                "event": self.event,
                "execution_id": self.execution_id,
                "reason": self.reason,
            }
        )

    @classmethod
    def from_json(cls, text: str, row_id: int) -> Message:
        """Read a stored message."""
        data = json.loads(text)
        return cls(
            kind=MessageKind(data["kind"]),
            event=data.get("event"),
            execution_id=data.get("execution_id"),
            reason=data.get("reason", ""),
            row_id=row_id,
        )


@dataclass
class RetryState:
    """One call_*_with_retry in flight: which attempt, and what to call again."""

    kind: str  # "activity" | "suborchestration"
    name: str
    input: str | None
    first_interval_ms: int
    max_attempts: int
    instance_id: str | None = None
    attempt: int = 1
    version: str | None = None


@dataclass
class OpenActivity:
    """An activity scheduled and not yet answered in history: re-run after a restart."""

    name: str
    input: str | None


@dataclass
class ExecutionState:
    """What the engine must remember about the current execution between episodes."""

    execution_id: str
    version: str = ""  # ExecutionStarted.Version: what context.version returns
    next_id: int = 0
    signatures: list[str] = field(default_factory=list)
    activities: dict[int, OpenActivity] = field(default_factory=dict)
    timers: dict[int, str] = field(default_factory=dict)  # not yet fired (cancelled too) -> fireAt
    suborchestrations: dict[int, str] = field(default_factory=dict)  # task id -> child id
    retries: dict[int, RetryState] = field(default_factory=dict)  # retry key -> state
    retry_of_task: dict[int, int] = field(default_factory=dict)  # attempt task id -> retry key
    retry_of_timer: dict[int, int] = field(default_factory=dict)  # retry timer id -> retry key
    # Continued as new: how many carried events follow ExecutionStarted in the inbox (None: a
    # fresh start), and the custom status the previous execution last reported (lifecycle.py).
    carried_events: int | None = None
    carried_custom_status: Any = None

    def take_id(self) -> int:
        """The next task number, exactly as the SDK will assign it."""
        task_id = self.next_id
        self.next_id += 1
        return task_id

    def to_json(self) -> str:
        """Stored form (JSON object keys are strings; from_json turns them back).

        Written out by hand: dataclasses.asdict deep-copies, and this runs on every episode.
        """
        return json.dumps(
            {
                "execution_id": self.execution_id,
                "version": self.version,
                "next_id": self.next_id,
                "signatures": self.signatures,
                "activities": {k: [v.name, v.input] for k, v in self.activities.items()},
                "timers": self.timers,
                "suborchestrations": self.suborchestrations,
                "retries": {k: asdict(v) for k, v in self.retries.items()},
                "retry_of_task": self.retry_of_task,
                "retry_of_timer": self.retry_of_timer,
                "carried_events": self.carried_events,
                "carried_custom_status": self.carried_custom_status,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ExecutionState:
        """Read the stored form."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            execution_id=data["execution_id"],
            version=data.get("version", ""),
            next_id=data["next_id"],
            signatures=data["signatures"],
            activities={int(k): OpenActivity(*v) for k, v in data["activities"].items()},
            timers={int(k): v for k, v in data["timers"].items()},
            suborchestrations={int(k): v for k, v in data["suborchestrations"].items()},
            retries={int(k): RetryState(**v) for k, v in data["retries"].items()},
            retry_of_task={int(k): v for k, v in data["retry_of_task"].items()},
            retry_of_timer={int(k): v for k, v in data["retry_of_timer"].items()},
            carried_events=data.get("carried_events"),
            carried_custom_status=data.get("carried_custom_status"),
        )


@dataclass
class Instance:
    """An orchestration instance as the engine holds it in memory while it is not finished."""

    instance_id: str
    name: str
    status: RuntimeStatus
    input_text: str | None
    created: str
    updated: str
    execution: ExecutionState
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    output: Any = None
    custom_status: Any = None
    history: list[JsonDict] = field(default_factory=list)
    played: list[str] = field(default_factory=list)  # encoded history, IsPlayed true
