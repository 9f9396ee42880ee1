"""Coroutine actions: run after the transition that scheduled them, in order, per session.

Rules:

* Dispatch is synchronous. An ``async def`` action is not awaited inside the
  transition: its arguments are resolved then, and the coroutine is started
  on the running asyncio loop once the transition (and the events it queued)
  are done.
* Per session, coroutine actions form a chain: each one starts after the
  previous one of the same session has finished, whatever the outcome.
  Sessions do not wait for each other.
* A coroutine action that raises is reported through ``on_error``; the chain
  goes on. Without a running loop, scheduling fails with ``RuntimeError``.
* Scheduled actions run even when their session has ended in the meantime
  (a final row's clean-up work must not be lost).

Theory of operation: ``tails[session]`` holds the last task of the session's
chain (kept here, not on the session record: few sessions ever have one). A
new task waits for the tail (``asyncio.wait`` — it never re-raises), then runs
its coroutine; the tail is forgotten when the last task finishes. ``pending``
keeps every unfinished task so a caller can wait until all are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .session import Session


class ActionChains:
    """The per-session chains of coroutine actions of one runtime."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Task[None]] = set()
        self.tails: dict[Session, asyncio.Task[None]] = {}
        """The last task of each session's chain, while one is unfinished."""

    def tail(self, session: Session) -> asyncio.Task[None] | None:
        """The last coroutine action of ``session`` still to finish, or None."""
        return self.tails.get(session)

    def schedule(self, session: Session, make: Callable[[], Awaitable[object]],
                 on_error: Callable[[BaseException], None]) -> asyncio.Task[None]:
        """Run ``make()`` after the session's previous coroutine actions."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("a coroutine action needs a running asyncio loop") from None
        task = loop.create_task(_run(self.tails.get(session), make, on_error))
        self.tails[session] = task
        self.pending.add(task)
        task.add_done_callback(lambda done: self._finished(session, done))
        return task

    def _finished(self, session: Session, task: asyncio.Task[None]) -> None:
        self.pending.discard(task)
        if self.tails.get(session) is task:
            del self.tails[session]

    async def wait(self) -> None:
        """Return once every scheduled coroutine action (including ones they schedule) is done."""
        while self.pending:
            await asyncio.wait(set(self.pending))


async def _run(previous: asyncio.Task[None] | None, make: Callable[[], Awaitable[object]],
               on_error: Callable[[BaseException], None]) -> None:
    if previous is not None and not previous.done():
        await asyncio.wait({previous})
    try:
        await make()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        on_error(exc)
