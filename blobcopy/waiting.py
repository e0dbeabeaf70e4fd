"""Wait for a copy (or a batch) to finish, asking again when the API's `Retry-After` says to.

The loop takes its clock as an argument (`sleep`), so tests drive it without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from blobcopy.client import ApiResponse, ApiUnreachable, ServerError, UnexpectedAnswer

FINAL_STATES = frozenset({"succeeded", "failed", "aborted", "timed_out"})


class StatusSource(Protocol):
    """What the loop needs from a client: the status of one copy."""

    def get_status(self, copy_id: str) -> ApiResponse: ...


@dataclass(frozen=True, kw_only=True)
class PollPolicy:
    """How long to wait between two looks when the API does not say, and the bounds on it."""

    default_seconds: float = 2.0
    min_seconds: float = 0.5
    max_seconds: float = 60.0
    transient_retries: int = 5
    """Consecutive failed looks (no answer, 5xx) tolerated before giving up."""

    def delay(self, retry_after: float | None) -> float:
        """Seconds to sleep before the next look, following `Retry-After` within the bounds."""
        wanted = self.default_seconds if retry_after is None else retry_after
        return min(self.max_seconds, max(self.min_seconds, wanted))


def is_finished(response: ApiResponse) -> bool:
    """True when the answer describes a copy that will not change any more."""
    document = response.body if isinstance(response.body, dict) else {}
    state = document.get("state")
    if state in FINAL_STATES:
        return True
    # A 200 means finished even in a state this CLI does not know yet.
    return response.status == 200 and state != "running"


def wait_for_copy(
    client: StatusSource,
    copy_id: str,
    *,
    first: ApiResponse | None = None,
    on_update: Callable[[dict[str, Any]], None] = lambda document: None,
    sleep: Callable[[float], None] = time.sleep,
    policy: PollPolicy = PollPolicy(),
) -> dict[str, Any]:
    """Poll until the copy finishes; return its final status document.

    `first` is an answer already in hand (the 202 of the start request), used before asking.
    `on_update` sees every status document, the last one included.
    """
    return wait_until_over(
        lambda: client.get_status(copy_id),
        first=first,
        on_update=on_update,
        sleep=sleep,
        policy=policy,
    )


class BatchStatusSource(Protocol):
    """What waiting for a batch needs from a client: the status of one batch."""

    def get_batch(self, batch_id: str) -> ApiResponse: ...


def wait_for_batch(
    client: BatchStatusSource,
    batch_id: str,
    *,
    first: ApiResponse | None = None,
    on_update: Callable[[dict[str, Any]], None] = lambda document: None,
    sleep: Callable[[float], None] = time.sleep,
    policy: PollPolicy = PollPolicy(),
) -> dict[str, Any]:
    """Poll until the batch finishes; return its final status document (as wait_for_copy)."""
    return wait_until_over(
        lambda: client.get_batch(batch_id),
        first=first,
        on_update=on_update,
        sleep=sleep,
        policy=policy,
    )


def wait_until_over(
    look: Callable[[], ApiResponse],
    *,
    first: ApiResponse | None,
    on_update: Callable[[dict[str, Any]], None],
    sleep: Callable[[float], None],
    policy: PollPolicy,
) -> dict[str, Any]:
    """Call `look` (one status request) until its answer is final; the last document."""
    response = first if first is not None else look()
    while True:
        document = response.body if isinstance(response.body, dict) else {}
        if document:
            on_update(document)
        if is_finished(response):
            return document
        sleep(policy.delay(response.retry_after))
        response = _look_again(look, sleep=sleep, policy=policy)


def _look_again(
    look: Callable[[], ApiResponse], *, sleep: Callable[[float], None], policy: PollPolicy
) -> ApiResponse:
    """One status request, retried through brief outages (no answer, 5xx)."""
    failures = 0
    while True:
        try:
            return look()
        except (ApiUnreachable, ServerError, UnexpectedAnswer):
            failures += 1
            if failures > policy.transient_retries:
                raise
            sleep(policy.delay(policy.default_seconds * 2**failures))
