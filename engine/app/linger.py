"""After the last call of ``sipflow call``: stay up while a peer may still retransmit to us.

Rules:

* A finished call can still owe the peer an answer. When our ACK to a 486
  was lost, the peer retransmits the 486 and only our INVITE client
  transaction (Completed, Timer D) can ACK it again; when our 200 to the
  peer's BYE was lost, the peer retransmits the BYE and only our non-INVITE
  server transaction (Completed, Timer J) can answer it; a non-2xx we sent
  is retransmitted by our INVITE server transaction (Completed, Timer H)
  until its ACK arrives. ``answering(backend)`` counts those transactions.
* ``Linger`` keeps the endpoint running after the run while any is left, and
  ends as soon as one of these holds:

  - none is left (``reason`` ``"idle"``) — a clean run (every call 2xx,
    our BYE answered) leaves none, so it ends at once, without waiting;
  - nothing has arrived for as long as a peer that still missed our answer
    would wait before retransmitting again (``"quiet"``): its intervals
    start at T1 (0.5 s) and double up to T2 (4 s), so after ``n`` messages
    arrived while lingering the window is ``min(T2, T1 * 2**(n + 1))`` plus
    1 s of margin — 2 s at first (that covers two retransmissions), at most
    T2 + 1 s = 5 s (``quiet_window``);
  - ``cap`` seconds have passed (``"cap"``, default 64*T1 = 32 s, the
    longest a Completed transaction lives anyway);
  - ``stop()`` was called (``"stopped"``; ``sipflow call`` calls it on a
    second SIGINT or SIGTERM).

* Arrivals are seen by wrapping each transport's ``on_receive`` only while
  lingering (the run itself pays nothing); the quiet window starts no
  earlier than the linger itself, so a retransmission already on its way
  is waited for.

Theory of operation: everything runs on the ``Clock`` through ``call_at``
(one check every ``POLL`` seconds), so the same code lingers in real time
over ``AsyncioClock`` and in virtual time over the loopback backend.

The count is ``SipEndpoint.answering()`` (the transaction layer's count of
Completed INVITE client and Completed server transactions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sipflow.clock import Clock, TimerHandle

T1 = 0.5
"""RFC 3261 T1: a peer's first retransmission interval (seconds)."""
T2 = 4.0
"""RFC 3261 T2: the longest interval between a peer's retransmissions (seconds)."""
MARGIN = 1.0
"""Added to a retransmission interval for the network and the peer's own delays."""
QUIET = T2 + MARGIN
"""The longest silence waited for: no peer retransmits less often than every T2."""
CAP = 32.0
"""The longest linger: 64*T1, the lifetime of a Completed transaction on UDP."""
POLL = 0.1
"""Seconds between checks while lingering."""


def quiet_window(arrivals: int, longest: float = QUIET) -> float:
    """Silence (seconds) after which a peer that missed our answer would have retransmitted,
    once ``arrivals`` messages came while lingering (see the module rules); at most
    ``longest``."""
    return min(longest, min(T2, T1 * 2 ** min(arrivals + 1, 8)) + MARGIN)


def answering(backend: Any) -> int:
    """Transactions of ``backend``'s SIP endpoint that may still answer a retransmission."""
    endpoint = getattr(backend, "endpoint", None)
    return endpoint.answering() if endpoint is not None else 0


class Linger:
    """Waits, on ``clock``, until ``backend`` owes no peer an answer (see the module rules)."""

    def __init__(self, backend: Any, clock: Clock, *, quiet: float = QUIET, cap: float = CAP,
                 on_done: Callable[[], object] | None = None,
                 count: Callable[[Any], int] = answering) -> None:
        self.backend = backend
        self.clock = clock
        self.quiet = quiet
        self.cap = cap
        self.on_done = on_done
        self.count = count
        self.done = False
        self.reason = ""
        """Why it ended: ``idle``, ``quiet``, ``cap`` or ``stopped``."""
        self.started = 0.0
        self.ended = 0.0
        self.held = 0
        """Transactions that could still answer when the linger began."""
        self.arrivals = 0
        """Messages received while lingering."""
        self._last_arrival = 0.0
        self._timer: TimerHandle | None = None
        self._unwrap: list[Callable[[], None]] = []

    @property
    def elapsed(self) -> float:
        """Seconds spent lingering (so far, or in all once done)."""
        return (self.ended if self.done else self.clock.now()) - self.started

    def start(self) -> None:
        """Begin; ends at once (``idle``) when nothing may need answering."""
        self.started = self._last_arrival = self.clock.now()
        self.held = self.count(self.backend)
        if not self.held:
            self._finish("idle")
            return
        self._watch_arrivals()
        self._timer = self.clock.call_at(self.started + POLL, self._check)

    def stop(self) -> None:
        """End now (``stopped``)."""
        if not self.done:
            self._finish("stopped")

    def _watch_arrivals(self) -> None:
        driver = getattr(self.backend, "driver", None)
        for transport in list(getattr(driver, "transports", ()) or ()):
            inner = transport.on_receive

            def receive(data: bytes, source: Any, _inner: Any = inner) -> None:
                self.arrivals += 1
                self._last_arrival = self.clock.now()
                _inner(data, source)

            transport.on_receive = receive
            self._unwrap.append(lambda t=transport, i=inner: setattr(t, "on_receive", i))

    def _check(self) -> None:
        self._timer = None
        now = self.clock.now()
        if not self.count(self.backend):
            self._finish("idle")
        elif now - self._last_arrival >= quiet_window(self.arrivals, self.quiet):
            self._finish("quiet")
        elif now - self.started >= self.cap:
            self._finish("cap")
        else:
            self._timer = self.clock.call_at(now + POLL, self._check)

    def _finish(self, reason: str) -> None:
        self.done = True
        self.reason = reason
        self.ended = self.clock.now()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for unwrap in self._unwrap:
            unwrap()
        self._unwrap.clear()
        if self.on_done is not None:
            self.on_done()

    def summary(self) -> str:
        """One line for ``-v``: how long, for how many transactions, and why it ended."""
        if self.reason == "idle" and not self.held:
            return "linger: no transaction owed a peer an answer; exiting at once"
        return (f"linger: {self.elapsed:.1f} s for {self.held} transaction"
                f"{'s' if self.held != 1 else ''} that could still answer a retransmission, "
                f"{self.arrivals} message{'s' if self.arrivals != 1 else ''} received; "
                f"ended: {self.reason}")
