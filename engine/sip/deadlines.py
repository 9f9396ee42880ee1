"""A tiny deadline heap for the UA core's own timers (2xx and reliable
provisional retransmission, the 100 Trying delay, session timers …).

Rules:

- No clock: ``schedule(when, kind, target)`` records an absolute deadline;
  ``pop_due(now)`` hands back, in deadline order, every live entry due at
  ``now``; ``next_deadline()`` the earliest live one.
- Cancelling is lazy and O(1): ``schedule`` returns a ``Deadline`` whose
  ``cancel()`` marks it dead; dead entries are dropped when they reach the top,
  and the heap is compacted when they outnumber live ones, so cancelled timers
  do not pin memory (a 10,000-call run leaves nothing behind).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

__all__ = ["Deadline", "DeadlineHeap"]


class Deadline:
    """One scheduled timer: ``when`` (absolute), ``kind`` (a short name) and
    ``target`` (whatever the owner needs to act on it)."""

    __slots__ = ("when", "kind", "target", "alive", "_heap")

    def __init__(self, when: float, kind: str, target: Any, heap: DeadlineHeap) -> None:
        self.when = when
        self.kind = kind
        self.target = target
        self.alive = True
        self._heap = heap

    def cancel(self) -> None:
        """Forget this timer (idempotent)."""
        if self.alive:
            self.alive = False
            self.target = None
            self._heap._dead += 1


class DeadlineHeap:
    """Deadlines by time, with lazy cancellation."""

    __slots__ = ("_heap", "_seq", "_dead")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._dead = 0

    def schedule(self, when: float, kind: str, target: Any) -> Deadline:
        """Add a timer firing at ``when``; returns it (for ``cancel``)."""
        entry = Deadline(when, kind, target, self)
        heapq.heappush(self._heap, (when, next(self._seq), entry))
        if self._dead > 64 and self._dead > len(self._heap) // 2:
            self._compact()
        return entry

    def _compact(self) -> None:
        self._heap = [item for item in self._heap if item[2].alive]
        heapq.heapify(self._heap)
        self._dead = 0

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None (dead entries on top are dropped)."""
        heap = self._heap
        while heap and not heap[0][2].alive:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[Deadline]:
        """Remove and return every live entry with ``when <= now``, earliest first.
        The returned entries are no longer alive (cancel is a no-op on them)."""
        due: list[Deadline] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)[2]
            if entry.alive:
                entry.alive = False
                due.append(entry)
            else:
                self._dead -= 1
        return due

    def __len__(self) -> int:
        """Live entries."""
        return len(self._heap) - self._dead
