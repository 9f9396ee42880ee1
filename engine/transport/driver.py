"""``EndpointDriver``: runs one sans-I/O SIP endpoint on one Clock and some transports.

Rules:

- Everything the endpoint does happens in a *step*: ``receive`` (bytes from a
  transport), the clock callback (``handle_timers``) or ``flush`` (called by
  the application after it used the endpoint's own API, e.g. ``invite``).
- After every step the driver sends every ``take_transmits()`` through the
  transport matching ``dest.transport`` and the address family of
  ``dest.host`` (the choice is remembered per transport name and host).
- Then it calls ``on_step(driver)`` once (the backend reads ``take_events()``
  there) and sends again, so what the hook asked the endpoint to send goes
  out in the same step. A flush from inside the hook sends but does not call
  the hook again. (When a transport failure during the step gave the
  endpoint new events, the hook runs again, at most ``MAX_HOOK_ROUNDS``
  times in all.)
- Last, once per step, it makes sure exactly ONE clock callback is due at or
  before ``next_deadline()``: a callback already due no later is kept (it
  may wake the endpoint early: one step with nothing due, then the callback
  moves to the deadline of that time); an earlier deadline replaces it; no
  deadline cancels it. Never duplicated, never a timer per transaction.
  (Under load the earliest deadline moves later on nearly every message, as
  2xx and Trying timers are cancelled: rescheduling on each move cost one
  ``call_at`` and one cancel per message, ``tools/bench_sip.py`` section
  ``driver``.)
- A deadline that ``handle_timers`` does not move past ``now`` (a core bug)
  would spin the loop: after ``MAX_SPINS`` such callbacks in a row the driver
  logs one error and retries every ``SPIN_BACKOFF`` seconds instead.
- Transport failures go to ``on_error(dest, error)`` (default: a log line).
  When the endpoint has the optional method ``transport_failed(peer, now)``
  (the core then ends the transactions towards ``peer`` with a transport
  error, RFC 3261 §8.1.3.1) the driver calls it too, and the events it makes
  reach ``on_step`` in the same step, or in a step of their own when the
  failure came later (a refused TCP connection).
- Tracing (optional): ``set_trace(hook)`` calls ``hook(time, transport,
  src, dst, data)`` for every message received (src: the peer, dst: the
  transport it arrived on) and every message handed to a transport (src: that
  transport's bound address — over TCP the listener's, not the ephemeral port
  of an outgoing connection). ``sipflow.trace.PcapWriter.write`` is such a
  hook. Unset, it costs one ``is not None`` test per message; an exception
  from the hook is logged, never raised.
- Nothing raises into the event loop or the clock: an exception from the
  endpoint or the hook is logged with its traceback (it is a bug) and the
  driver keeps serving; a transmit with no matching transport is reported to
  ``on_error`` as a ``TransportError``.

Theory of operation: the driver owns no sockets and no time of its own. It
reads ``clock.now()`` for each step, so the same driver runs in real time over
``AsyncioClock`` and asyncio sockets, or in virtual time over ``VirtualClock``
and the loopback network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sipflow.clock import Clock, TimerHandle
from sipflow.sip.types import Address, Transmit
from sipflow.transport.base import (
    ErrorCallback,
    SansIOEndpoint,
    Transport,
    TransportError,
    family_of,
    log,
    log_error,
)

MAX_SPINS = 1000
"""Timer callbacks in a row that leave a deadline due before the driver backs off."""
MAX_HOOK_ROUNDS = 4
"""Times ``on_step`` may run in one step when transport failures keep making events."""
SPIN_BACKOFF = 0.01
"""How far a stuck deadline is pushed back (seconds), so the loop never spins."""
MAX_ROUTES = 4096
"""Remembered ``(transport name, host)`` → transport choices (forgotten all at once when full)."""

TraceHook = Callable[[float, str, Address, Address, bytes], None]
"""``(time, transport, src, dst, data)``: one message received or sent (see ``set_trace``)."""


class EndpointDriver:
    """Binds one ``SansIOEndpoint`` to a ``Clock`` and to transports (see the module rules)."""

    def __init__(
        self,
        endpoint: SansIOEndpoint,
        clock: Clock,
        transports: Iterable[Transport] = (),
        *,
        on_step: Callable[[EndpointDriver], None] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.on_step = on_step
        self.on_error: ErrorCallback = on_error or log_error
        self.transports: list[Transport] = []
        self._routes: dict[tuple[str, str], Transport | None] = {}
        self.sent = 0
        """Messages handed to a transport so far."""
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._in_step = False
        self._closed = False
        self._spins = 0
        self._stuck = False
        self._failed = False
        self.trace: TraceHook | None = None
        """The trace hook (set it with ``set_trace``)."""
        for transport in transports:
            self.add_transport(transport)

    # ----------------------------------------------------------- wiring

    def add_transport(self, transport: Transport) -> None:
        """Route transmits for its transport and family through ``transport``; take its input."""
        transport.on_receive = self.receive if self.trace is None else self._traced(transport)
        transport.on_error = self._report
        self.transports.append(transport)
        self._routes.clear()

    def set_trace(self, hook: TraceHook | None) -> None:
        """Report every message received and sent to ``hook`` (None: stop tracing)."""
        self.trace = hook
        for transport in self.transports:
            transport.on_receive = self.receive if hook is None else self._traced(transport)

    def _traced(self, transport: Transport) -> Callable[[bytes, Address], None]:
        def receive(data: bytes, source: Address) -> None:
            if self.trace is not None and not self._closed:
                self._call_trace(source.transport, source, transport.local, data)
            self.receive(data, source)

        return receive

    def _call_trace(self, name: str, src: Address, dst: Address, data: bytes) -> None:
        try:
            self.trace(self.clock.now(), name, src, dst, data)  # type: ignore[misc]
        except Exception:
            log.exception("the trace hook failed")

    @property
    def local_addresses(self) -> list[Address]:
        """The bound addresses of the attached transports."""
        return [t.local for t in self.transports]

    def transport_for(self, dest: Address) -> Transport | None:
        """The transport that sends to ``dest``: same transport name and address family.

        For a host name (no family) the first transport of that name is used.
        """
        key = (dest.transport, dest.host)
        routes = self._routes
        if key in routes:
            return routes[key]
        if len(routes) >= MAX_ROUTES:
            routes.clear()
        found = routes[key] = self._find_transport(dest)
        return found

    def _find_transport(self, dest: Address) -> Transport | None:
        family = family_of(dest.host)
        fallback = None
        for transport in self.transports:
            if transport.local.transport != dest.transport:
                continue
            if family is None or family_of(transport.local.host) in (family, None):
                return transport
            fallback = fallback or transport
        return None if family is not None else fallback

    # ------------------------------------------------------------ steps

    def receive(self, data: bytes, source: Address) -> None:
        """One datagram or framed stream message from ``source``: feed it and step."""
        if self._closed:
            return
        try:
            self.endpoint.receive(data, source, self.clock.now())
        except Exception:
            log.exception("the SIP endpoint failed on %d bytes from %s", len(data), source)
        self._after_step()

    def flush(self) -> None:
        """Send what the endpoint has queued and reschedule its timer (call after API use)."""
        if not self._closed:
            self._after_step()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._closed:
            return
        now = self.clock.now()
        try:
            self.endpoint.handle_timers(now)
            deadline = self.endpoint.next_deadline()
        except Exception:
            log.exception("the SIP endpoint failed in handle_timers")
            deadline = None
        if deadline is not None and deadline <= now:
            self._spins += 1  # no progress: the same deadline is still due
        else:
            self._spins = 0
            self._stuck = False
        self._after_step()

    def _after_step(self) -> None:
        if self._in_step:
            self._send_all()  # a flush from the hook: the step schedules when it ends
            return
        self._in_step = True
        try:
            self._send_all()
            for _ in range(MAX_HOOK_ROUNDS):
                self._failed = False
                if self.on_step is not None:
                    try:
                        self.on_step(self)
                    except Exception:
                        log.exception("the on_step hook failed")
                self._send_all()
                if not self._failed:
                    break
        finally:
            self._in_step = False
            if not self._closed:
                self._schedule()

    def _send_all(self) -> None:
        try:
            transmits = self.endpoint.take_transmits()
        except Exception:
            log.exception("the SIP endpoint failed in take_transmits")
            return
        for transmit in transmits:
            self._send(transmit)

    def _send(self, transmit: Transmit) -> None:
        data, dest = transmit
        transport = self.transport_for(dest)
        if transport is None:
            self._report(dest, TransportError(
                f"no {dest.transport} transport for {dest} ({len(data)} bytes not sent)"))
            return
        self.sent += 1
        if self.trace is not None:
            self._call_trace(dest.transport, transport.local, dest, data)
        try:
            transport.send(data, dest)
        except Exception as exc:  # a transport must not raise; never let it escape
            log.exception("transport %s raised while sending to %s", transport.local, dest)
            self._report(dest, exc)

    def _schedule(self) -> None:
        try:
            deadline = self.endpoint.next_deadline()
        except Exception:
            log.exception("the SIP endpoint failed in next_deadline")
            deadline = None
        if deadline is not None and self._spins >= MAX_SPINS:
            now = self.clock.now()
            if deadline <= now:
                if not self._stuck:
                    log.error("the SIP endpoint keeps asking for handle_timers at %.3f "
                              "without progress; retrying every %.0f ms", deadline,
                              SPIN_BACKOFF * 1000)
                    self._stuck = True
                deadline = now + SPIN_BACKOFF
        if deadline is not None and self._timer is not None and self._timer_at is not None \
                and self._timer_at <= deadline:
            return  # the callback due first stays (see the module rules)
        if deadline == self._timer_at and (deadline is None or self._timer is not None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.clock.call_at(deadline, self._on_timer)

    def _report(self, dest: Address | None, error: Exception) -> None:
        try:
            self.on_error(dest, error)
        except Exception:
            log.exception("the on_error hook failed")
        tell = getattr(self.endpoint, "transport_failed", None)
        if dest is None or tell is None or self._closed:
            return
        try:
            tell(dest, self.clock.now())
        except Exception:
            log.exception("the SIP endpoint failed in transport_failed")
        self._failed = True
        if not self._in_step:  # reported later, from the loop: a step of its own
            self._after_step()

    # ------------------------------------------------------------ close

    def close(self) -> None:
        """Cancel the timer and close every transport; later input is ignored."""
        self._stop()
        for transport in self.transports:
            transport.close()

    async def aclose(self) -> None:
        """``close``, then wait for transports that can be waited for (``aclose``)."""
        self._stop()
        for transport in self.transports:
            aclose = getattr(transport, "aclose", None)
            if aclose is not None:
                await aclose()
            else:
                transport.close()

    def _stop(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None
