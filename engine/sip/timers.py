"""RFC 3261 §17 timer values and the one deadline heap of the transaction layer.

Rules:

- Nothing here reads a clock. Deadlines are absolute ``now`` values chosen by
  the caller; :meth:`TimerHeap.pop_due` hands back what is due at a given
  ``now``, :meth:`TimerHeap.next_deadline` the earliest pending deadline.
- A transaction has at most two live timers at any moment: one *retransmit*
  timer (A, E or G) and one *lifetime* timer (B, D, F, H, I, J, K, L or M).
  Each owner therefore carries two integer tokens, ``_retx_token`` and
  ``_life_token``; arming a timer stores a fresh token in the owner, maps the
  token to the owner (``_owners``) and pushes ``(when, token, name)`` on the
  heap.
- Heap entries hold no owner, only a float, an int and a str: the cyclic
  garbage collector stops tracking them, and a full collection walks one
  dict of live timers instead of ~100,000 entries (at 1,500 calls/s a
  process holds that many: Timers D/J/K/L/M linger 32 s). A stale entry
  pins nothing, so a transaction ends and is freed on time even while its
  cancelled 32 s Timer F entry waits in the heap.
- Cancelling is lazy: the owner's token is reset and dropped from
  ``_owners``, and the heap entry becomes *stale*; a stale entry is skipped
  when popped. When stale entries outnumber live ones (and there are many),
  the heap is rebuilt, so cancelled timers never pin memory for their whole
  duration (a 32 s Timer F after a transaction that completed in 10 ms).

Theory of operation: ``TimerConfig`` turns T1, T2, T4 into the durations of
RFC 3261 Table 4 (plus L and M of RFC 6026), with ``None`` for "no such timer
on a reliable transport" (A, E, G) and ``0.0`` for "fires at once" (D, I, J, K
on reliable transports). The transaction layer arms and cancels timers through
``TimerHeap`` and, in ``handle_timers(now)``, pops every due entry and hands it
to its owner.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

#: Timers that retransmit (use the owner's ``_retx_token``); all others are lifetime timers.
RETRANSMIT_TIMERS = frozenset({"A", "E", "G"})


@dataclass
class TimerConfig:
    """RFC 3261 timer base values, in seconds (defaults from Table 4).

    ``t1`` is the RTT estimate, ``t2`` the cap on non-INVITE and response
    retransmission intervals, ``t4`` how long a message may stay in the
    network. ``timer_d`` is Timer D on unreliable transports (RFC 3261:
    at least 32 s). Every other timer is derived:

    ====  ===========================================  ======================
    name  unreliable (UDP)                             reliable (TCP, TLS)
    ====  ===========================================  ======================
    A     T1, doubling                                 not used
    B     64*T1                                        64*T1
    D     ``timer_d`` (32 s)                           0
    E     T1, doubling, capped at T2                   not used
    F     64*T1                                        64*T1
    G     T1, doubling, capped at T2                   not used
    H     64*T1                                        64*T1
    I     T4                                           0
    J     64*T1                                        0
    K     T4                                           0
    L, M  64*T1 (RFC 6026)                             64*T1
    ====  ===========================================  ======================
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "timer_d"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"TimerConfig.{name} must be a positive number of seconds, got {value!r}"
                )
        if self.t2 < self.t1:
            raise ValueError(f"TimerConfig.t2 ({self.t2}) must not be smaller than t1 ({self.t1})")

    def retransmit_first(self, reliable: bool) -> float | None:
        """First interval of Timer A, E or G: T1 on UDP, ``None`` (no retransmission) when reliable."""
        return None if reliable else self.t1

    def timeout(self) -> float:
        """Timers B, F, H, L and M: 64*T1 on every transport."""
        return 64 * self.t1

    def d(self, reliable: bool) -> float:
        """Timer D: how long a completed INVITE client transaction absorbs final responses."""
        return 0.0 if reliable else self.timer_d

    def i(self, reliable: bool) -> float:
        """Timer I: how long a confirmed INVITE server transaction absorbs ACKs."""
        return 0.0 if reliable else self.t4

    def j(self, reliable: bool) -> float:
        """Timer J: how long a completed non-INVITE server transaction answers retransmissions."""
        return 0.0 if reliable else 64 * self.t1

    def k(self, reliable: bool) -> float:
        """Timer K: how long a completed non-INVITE client transaction absorbs responses."""
        return 0.0 if reliable else self.t4


class TimerOwner(Protocol):
    """What the heap needs of a timer's owner: the two live-timer tokens."""

    _retx_token: int
    _life_token: int


class TimerHeap:
    """One heap of ``(when, token, name)`` deadlines with lazy cancellation;
    ``_owners`` maps each live token to its owner (see the module rules)."""

    __slots__ = ("_heap", "_tokens", "_owners")

    #: Rebuild when at least this many stale entries exist and they outnumber live ones.
    COMPACT_MIN = 256

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._tokens = itertools.count(1)
        self._owners: dict[int, TimerOwner] = {}

    def __len__(self) -> int:
        """Entries held, live and stale (for leak tests)."""
        return len(self._heap)

    def arm(self, owner: TimerOwner, name: str, when: float) -> None:
        """Arm timer ``name`` of ``owner`` at ``when``, replacing the owner's live timer of its kind."""
        token = next(self._tokens)
        owners = self._owners
        if name in RETRANSMIT_TIMERS:
            replaced = owner._retx_token
            owner._retx_token = token
        else:
            replaced = owner._life_token
            owner._life_token = token
        if replaced:
            del owners[replaced]
        owners[token] = owner
        heapq.heappush(self._heap, (when, token, name))
        if replaced:
            self._compact_if_stale()

    def cancel_retransmit(self, owner: TimerOwner) -> None:
        """Cancel the owner's retransmit timer (A, E or G), if any."""
        token = owner._retx_token
        if token:
            owner._retx_token = 0
            del self._owners[token]
            self._compact_if_stale()

    def cancel_lifetime(self, owner: TimerOwner) -> None:
        """Cancel the owner's lifetime timer, if any."""
        token = owner._life_token
        if token:
            owner._life_token = 0
            del self._owners[token]
            self._compact_if_stale()

    def cancel_all(self, owner: TimerOwner) -> None:
        """Cancel both timers of ``owner``."""
        self.cancel_retransmit(owner)
        self.cancel_lifetime(owner)

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or ``None`` when nothing is armed."""
        heap = self._heap
        owners = self._owners
        while heap and heap[0][1] not in owners:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> Iterator[tuple[TimerOwner, str]]:
        """Yield ``(owner, name)`` for every live entry due at ``now``, earliest first.

        The owner's token is cleared before it is yielded, so the callback may
        re-arm the same timer (which may itself already be due: it is yielded
        in turn). Entries armed while iterating are seen if they are due.
        """
        heap = self._heap
        owners = self._owners
        while heap and heap[0][0] <= now:
            _, token, name = heapq.heappop(heap)
            owner = owners.pop(token, None)
            if owner is None:
                continue  # stale: cancelled or replaced
            if name in RETRANSMIT_TIMERS:
                owner._retx_token = 0
            else:
                owner._life_token = 0
            yield owner, name

    def _compact_if_stale(self) -> None:
        heap = self._heap
        stale = len(heap) - len(self._owners)  # each live token has exactly one entry
        if stale >= self.COMPACT_MIN and stale * 2 > len(heap):
            owners = self._owners
            self._heap = [entry for entry in heap if entry[1] in owners]
            heapq.heapify(self._heap)
