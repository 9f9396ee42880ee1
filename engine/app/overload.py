"""Overload control for ``sipflow serve``: when requests wait too long, new INVITEs get 503.

Rules:

* The signal is how late requests are: how long a datagram waits in a UDP
  socket's receive queue before serve reads it, measured every ``interval``
  (20 ms) by a probe datagram sent to the socket from a socket of our own
  (``sipflow.transport.udp.QueueProbe``). It is the lateness every call
  suffers, whatever the call flow, the answer delay or the hold time.
* ``busy`` turns on when the worst socket's delay exceeds ``threshold``
  (``--overload-lag-ms``, default 250 ms) and off again when it falls
  below half of it (hysteresis). While ``busy``, ``refuse()`` says yes to
  each NEW out-of-dialog INVITE: it gets ``503 Service Unavailable`` with
  ``Retry-After: RETRY_AFTER``, before any session, table or dialog exists
  (``sipflow.app.shed`` straight from the datagram, else
  ``sipflow.backends.incoming``). Requests inside dialogs (ACK, BYE,
  re-INVITE …) and retransmissions are served as always: the calls
  already admitted complete, and they are what drains the queue.
* Why all-or-nothing: the queue grows and drains fast (at 1.5 times the
  capacity, by half a second per second) and the probe reports it one
  queue delay late. Tried with sipp at about 1.5 times the capacity, an
  admitted share cut by 15-30 % per queue delay (AIMD, as TCP) lagged
  behind, emptied the queue, and completed no more calls; the plain gate
  did as well or better. A later, smoother law fits behind ``refuse()``.
* An *episode* starts when ``busy`` first turns on and ends once it has
  stayed off for ``calm`` seconds (1 s); each start and end is reported once
  through ``on_change(in_episode, gate)``: serve prints ``overload: …`` and
  ``overload over: …`` (how long, the INVITEs refused, the longest wait).
  ``refused`` counts every refused INVITE.
* ``threshold`` 0 turns overload control off (no probe is sent). TCP has no
  probe: the signal comes from the UDP listeners (one loop serves both, so a
  late UDP queue means a late TCP peer too); a TCP-only serve has none.

Theory of operation: one timer on the ``Clock`` pings every probe, then
reads the largest ``delay``; for each new INVITE the callers read the
plain attribute ``busy`` (no call, no clock read) and only while it is set
call ``refuse()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sipflow.clock import Clock, TimerHandle

THRESHOLD = 0.250
"""Default ``--overload-lag-ms`` (seconds): half of T1 (500 ms), so admitted calls are
answered before the peer retransmits, and far above what a busy but coping queue holds.
Measured with tools/bench_calls.py (sipp -sn uac into serve, same quiet box, 2026-11-25):
highest rate sustained with 0 failed 1,950/s at 100 ms, 2,225/s at 250 ms, 2,375/s with the
gate off; offered 2,600/s, completed 2,338/s at 250 ms against 2,019/s with the gate off."""
INTERVAL = 0.020
"""Seconds between probes."""
CALM = 1.0
"""Seconds without ``busy`` that end an overload episode in the output (``busy`` itself may
turn on and off several times a second at the edge of the capacity)."""
RETRY_AFTER = "1"
"""``Retry-After`` of an overload 503 (seconds): retry soon, the overload may be a burst."""


class Probe(Protocol):
    """What the gate needs of a ``QueueProbe``."""

    @property
    def delay(self) -> float: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


class OverloadGate:
    """Decides whether new INVITEs are refused (see the module rules)."""

    retry_after = RETRY_AFTER

    def __init__(self, probes: Sequence[Probe], clock: Clock, *, threshold: float = THRESHOLD,
                 interval: float = INTERVAL, calm: float = CALM,
                 on_change: Callable[[bool, OverloadGate], object] | None = None) -> None:
        self.probes = list(probes)
        self.clock = clock
        self.threshold = threshold
        self.interval = interval
        self.calm = calm
        self.on_change = on_change
        self.busy = False
        """True while new INVITEs get 503 (read for each one; then ``refuse()`` counts it)."""
        self.fast_path = False
        """Set by ``sipflow.app.shed`` when it decides for the INVITEs it can read: the
        backend then leaves the decision to it."""
        self.refused = 0
        """INVITEs answered 503 because of overload, in all."""
        self.episodes = 0
        """Overload episodes so far."""
        self.delay = 0.0
        """The worst probe delay at the last sample (seconds)."""
        self.peak = 0.0
        """The worst delay seen while busy, this episode (seconds)."""
        self.since = 0.0
        """When the current (or last) episode started (clock time)."""
        self.refused_at_start = 0
        self.duration = 0.0
        """How long the last episode lasted, to its last refusal (seconds)."""
        self.in_episode = False
        """An overload episode is going on: ``busy`` may have turned off since, but for less
        than ``calm`` seconds."""
        self._calm_since = 0.0
        self._timer: TimerHandle | None = None

    @property
    def enabled(self) -> bool:
        """Overload control is on (a threshold and at least one probe)."""
        return self.threshold > 0 and bool(self.probes)

    def start(self) -> None:
        """Begin sampling (nothing when not ``enabled``)."""
        if self.enabled and self._timer is None:
            self._sample()

    def stop(self) -> None:
        """Stop sampling, admit everything again, close the probes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.busy = self.in_episode = False
        for probe in self.probes:
            probe.close()

    def _sample(self) -> None:
        for probe in self.probes:
            probe.ping()
        self.update(max(probe.delay for probe in self.probes))
        self._timer = self.clock.call_at(self.clock.now() + self.interval, self._sample)

    def update(self, delay: float) -> None:
        """Take one measurement of how late requests are (seconds)."""
        self.delay = delay
        now = self.clock.now()
        if self.busy:
            self.peak = max(self.peak, delay)
            if delay < self.threshold / 2:
                self.busy = False
                self._calm_since = now
        elif delay > self.threshold:
            self.busy = True
            if self.in_episode:
                self.peak = max(self.peak, delay)
            else:
                self.in_episode = True
                self.episodes += 1
                self.peak = delay
                self.refused_at_start = self.refused
                self.since = now
                if self.on_change is not None:
                    self.on_change(True, self)
        elif self.in_episode and now - self._calm_since >= self.calm:
            self.in_episode = False
            self.duration = self._calm_since - self.since
            if self.on_change is not None:
                self.on_change(False, self)

    def refuse(self) -> bool:
        """For one new INVITE: True (and counted) when it is to be refused, i.e. while ``busy``."""
        if not self.busy:
            return False
        self.refused += 1
        return True

    def describe(self) -> str:
        """One line about the change that just happened (for serve's output)."""
        ms = round(self.threshold * 1000)
        if self.in_episode:
            return (f"overload: requests wait {self.delay * 1000:.0f} ms in the receive queue "
                    f"(limit {ms} ms): new INVITEs get 503 until it is below {ms // 2} ms")
        return (f"overload over after {self.duration:.1f} s: {self.refused - self.refused_at_start} "
                f"INVITEs answered 503, longest wait {self.peak * 1000:.0f} ms")

    def record(self) -> dict[str, Any]:
        """The same as JSON fields."""
        out: dict[str, Any] = {"event": "overload" if self.in_episode else "overload_over",
                               "delay_ms": round(self.delay * 1000, 1),
                               "limit_ms": round(self.threshold * 1000)}
        if not self.in_episode:
            out.update(duration_s=round(self.duration, 3),
                       refused=self.refused - self.refused_at_start,
                       peak_ms=round(self.peak * 1000, 1))
        return out


def open_probes(backend: Any) -> list[Any]:
    """A ``QueueProbe`` for each UDP socket of ``backend`` (those it cannot open are skipped
    with a log line)."""
    import logging

    from sipflow.transport.udp import QueueProbe

    probes = []
    driver = getattr(backend, "driver", None)
    for transport in list(getattr(driver, "transports", ()) or ()):
        if transport.local.transport != "udp" or not hasattr(transport, "_on_probe"):
            continue
        try:
            probes.append(QueueProbe(transport))
        except OSError as exc:
            logging.getLogger("sipflow.app").warning(
                "no overload probe for %s: %s", transport.local, exc)
    return probes
