"""Replays an orchestrator through the real azure-functions-durable SDK, episode by episode.

A minimal stand-in for the Durable extension (devhost/durable/README.md, "Protocol notes"): it keeps
the history, numbers each new activity or timer the orchestrator asks for, and lets a test append
the completions. Only first-attempt successes are modelled (no retry bookkeeping).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Generator
from typing import Any

import azure.durable_functions as df

NUMBERED = {0, 1, 5}  # CallActivity, CallActivityWithRetry, CreateTimer


def stamp(when: dt.datetime) -> str:
    """The history timestamp form."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _leaves(actions: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for action in actions:
        if action.get("compoundActions"):
            found.extend(_leaves(action["compoundActions"]))
        else:
            found.append(action)
    return found


class Replay:
    """One orchestration instance replayed through the SDK's own executor."""

    def __init__(
        self, fn: Callable[[Any], Generator[Any, Any, Any]], input_: Any, now: dt.datetime
    ) -> None:
        self.handle = df.Orchestrator.create(fn)
        self.input, self.now = json.dumps(input_), now
        self.history: list[dict[str, Any]] = [
            self.event(12),
            self.event(0, Name="copy_orchestrator", Version="", Input=self.input),
        ]
        self.next_id, self.handled = 0, 0
        self.state: dict[str, Any] = {}

    def event(self, kind: int, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        """A history event stamped now."""
        base = {"EventType": kind, "EventId": event_id, "IsPlayed": False}
        return {**base, "Timestamp": stamp(self.now), **fields}

    def episode(self, *events: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        """Deliver `events`, run the orchestrator, and number the work it newly asked for."""
        for old in self.history:
            old["IsPlayed"] = True
        self.history += [self.event(12), *events]
        body = {
            "history": self.history,
            "input": self.input,
            "instanceId": "copy-1",
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
        }
        self.state = json.loads(self.handle(json.dumps(body)))
        leaves = _leaves(self.state["actions"][0] if self.state["actions"] else [])
        numbered = [a for a in leaves if a["actionType"] in NUMBERED]
        new = []
        for action in numbered[self.handled :]:
            if action["actionType"] == 5:
                self.history.append(self.event(10, self.next_id, FireAt=action["fireAt"]))
            else:
                self.history.append(self.event(4, self.next_id, Name=action["functionName"]))
            new.append((self.next_id, action))
            self.next_id += 1
        self.handled = len(numbered)
        self.history.append(self.event(13))
        return new

    def completed(self, task_id: int, result: Any) -> dict[str, Any]:
        """TaskCompleted for activity `task_id`."""
        return self.event(5, TaskScheduledId=task_id, Result=json.dumps(result))

    def fired(self, timer_id: int) -> dict[str, Any]:
        """TimerFired for timer `timer_id`."""
        return self.event(11, TimerId=timer_id)

    def raised(self, name: str, data: Any) -> dict[str, Any]:
        """EventRaised as the extension stores a client's raise_event (JSON text of JSON text)."""
        return self.event(15, Name=name, Input=json.dumps(json.dumps(data)))
