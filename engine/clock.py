"""The one clock of a sipflow process (CONTRACTS §4).

Everything that waits — SIP transaction timers driven by the transports, the
engine's state timers, the loopback network's delays — schedules through one
``Clock``. There are two:

* ``AsyncioClock`` runs callbacks on the running asyncio loop, in real time.
* ``VirtualClock`` keeps a heap of deadlines and runs them when the test or the
  simulator advances it: a 32 s Timer B or a 180 s no-answer timer takes
  microseconds. It never sleeps and never reads the wall clock.

The sans-I/O SIP core never holds a clock: it takes ``now`` as an argument and
reports its next deadline; its drivers call it back through the clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """What ``Clock.call_at`` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time plus one-shot callbacks at absolute times."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback()`` once at ``when`` (a ``now()`` value); returns a cancellable handle."""
        ...


class AsyncioClock:
    """The clock of the running asyncio loop (real time).

    The loop is the one given, else the running loop the first time the clock
    is used (``now()`` outside a running loop reads ``time.monotonic()``).
    Once the loop is known, ``now`` and ``call_at`` of this object ARE the
    loop's ``time`` and ``call_at`` (instance attributes): the engine reads the
    clock several times per message, and a Python frame per read showed in
    profiles of ``sipflow serve``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        if loop is not None:
            self._bind(loop)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        self._loop = loop
        self.now = loop.time  # type: ignore[method-assign]
        self.call_at = loop.call_at  # type: ignore[method-assign]
        return loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            return self._bind(asyncio.get_running_loop())
        return self._loop

    def now(self) -> float:
        if self._loop is None:
            try:
                self._bind(asyncio.get_running_loop())
            except RuntimeError:
                return time.monotonic()
        return self.loop.time()

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        return self.loop.call_at(when, callback)


class VirtualTimer:
    """A scheduled callback of a ``VirtualClock``."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Never run; drop the callback now (and what it references), not at its deadline."""
        self.cancelled = True
        self.callback = _nothing


def _nothing() -> None:
    """The callback of a cancelled ``VirtualTimer``."""


class VirtualClock:
    """Virtual time: callbacks run only when ``advance`` or ``run_until_idle`` moves time.

    Callbacks due at the same instant run in the order they were scheduled.
    A callback may schedule more callbacks, including at the current instant.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, VirtualTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> VirtualTimer:
        timer = VirtualTimer(max(when, self._now), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], object]) -> VirtualTimer:
        return self.call_at(self._now + delay, callback)

    def next_deadline(self) -> float | None:
        """The time of the earliest pending callback, or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, running every callback due on the way.

        Returns the number of callbacks run.
        """
        if seconds < 0:
            raise ValueError("a VirtualClock cannot go backwards")
        return self._run_until(self._now + seconds)

    def run_until_idle(self, limit: float = 86400.0) -> int:
        """Run callbacks, jumping time from one deadline to the next, until none is left.

        ``limit`` bounds how far (in virtual seconds from now) time may jump, so a
        periodic timer cannot loop forever. Returns the number of callbacks run.
        """
        end = self._now + limit
        ran = 0
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > end:
                return ran
            ran += self._run_until(deadline)

    def _run_until(self, end: float) -> int:
        heap = self._heap
        ran = 0
        while heap and heap[0][0] <= end:
            when, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.cancelled = True
            timer.callback()
            ran += 1
        self._now = max(self._now, end)
        return ran
