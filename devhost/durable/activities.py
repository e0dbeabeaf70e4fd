"""Activity execution on a bounded pool, reporting results as history events.

Activities are the only user code with I/O, so they run concurrently (up to a limit, as the
extension's maxConcurrentActivityFunctions); each result becomes a TaskCompleted or TaskFailed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Mapping

from devhost.durable import protocol as p
from devhost.durable.protocol import ActivityRunner, EventType, JsonDict
from devhost.lifetime import cancel_and_wait

ResultCallback = Callable[[str, str, JsonDict], None]  # instance id, execution id, event

log = logging.getLogger("devhost.durable")


class ActivityPool:
    """Runs activities with at most `limit` at a time; `stop` abandons those in flight."""

    def __init__(
        self, runners: Mapping[str, ActivityRunner], limit: int, on_result: ResultCallback
    ) -> None:
        self._runners = runners
        self._slots = asyncio.Semaphore(limit)
        self._on_result = on_result
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self, instance_id: str, execution_id: str, task_id: int, name: str, input_text: str | None
    ) -> None:
        """Run an activity soon; its result is reported through the callback."""
        task = asyncio.create_task(self._run(instance_id, execution_id, task_id, name, input_text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Abandon activities in flight (they run again when their instance resumes)."""
        await cancel_and_wait(self._tasks)

    async def _run(
        self, instance_id: str, execution_id: str, task_id: int, name: str, input_text: str | None
    ) -> None:
        async with self._slots:
            log.info("%s (Activity) %s: Activity started (task %d)", name, instance_id, task_id)
            started = time.perf_counter()
            try:
                result = await self._runners[name](input_text)
            except Exception as exc:
                self._on_result(instance_id, execution_id, failed_event(task_id, name, exc))
                log.warning(
                    "%s (Activity) %s: Activity failed: %s: %s",
                    name,
                    instance_id,
                    type(exc).__name__,
                    exc,
                )
                return
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s (Activity) %s: Activity completed (%.1f ms)", name, instance_id, elapsed)
            self._on_result(instance_id, execution_id, completed_event(task_id, result))


def completed_event(task_id: int, result: str) -> JsonDict:
    """TaskCompleted with the activity's JSON result."""
    stamp = p.format_timestamp(p.utc_now())
    return p.event(EventType.TASK_COMPLETED, stamp, TaskScheduledId=task_id, Result=result)


def failed_event(task_id: int, name: str, exc: BaseException) -> JsonDict:
    """TaskFailed worded as Azure words it (protocol §7), with the traceback as details."""
    stamp = p.format_timestamp(p.utc_now())
    reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc)).strip()
    return p.event(
        EventType.TASK_FAILED, stamp, TaskScheduledId=task_id, Reason=reason, Details=details
    )
