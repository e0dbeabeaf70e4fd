"""Starting and stopping: what devhost's servers, hosts and background tasks share.

A leaf module (standard library only), so devhost/storage, devhost/durable, devhost/functions and
the test helpers can all import it without an import cycle.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the thread that started us goes away.

    A child in its own session (so a stop can signal its whole group) would otherwise outlive
    a crash or SIGKILL of its parent, still holding its ports and files.
    """
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def die_with_parent() -> Callable[[], None] | None:
    """The `preexec_fn` that ties a child's life to ours (Linux; elsewhere None)."""
    return _die_with_parent if sys.platform == "linux" else None


class Service:
    """`with Thing(...) as thing:` for what starts and stops: start on entry, close on exit.

    One definition instead of the same `__enter__`/`__exit__` in the storage stack, the origin
    server and the test host. `close` is `stop` unless a subclass owns more than a running
    service (AppHost also removes its temporary directory).
    """

    def start(self) -> object:
        """Start serving (subclasses)."""
        raise NotImplementedError

    def stop(self) -> object:
        """Stop serving; safe to call more than once (subclasses)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop, and free whatever outlives a stop."""
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel `tasks` and wait until each has finished, whatever it raised.

    Waiting matters: a cancelled task still runs its `finally` blocks, and closing the session or
    the store it uses before they are done makes them fail, or leaves "Task was destroyed" noise.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
