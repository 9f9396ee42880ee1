"""The loopback network: SIP endpoints exchanging bytes in virtual time.

Rules:

- One ``LoopbackNetwork`` per simulation, on the simulation's one
  ``VirtualClock``. Endpoints attach at ``Address``es (``attach`` builds an
  ``EndpointDriver`` on the same clock; ``start_endpoint`` binds first, from
  addresses or listen specs, then builds the endpoint on the bound addresses;
  ``bind`` gives a bare port). Port 0 picks a free port from 40000 up.
- A transmit to an attached address is delivered after ``delay`` seconds plus
  a uniform draw in ``[0, jitter]``; a ``udp`` transmit is dropped with
  probability ``loss``. Every draw comes from one ``random.Random(seed)``, in
  send order, so a run is reproducible from its seed. Jitter may reorder UDP.
- ``set_link(src, dst, loss=…, delay=…, jitter=…)`` overrides these for one
  direction (``src`` and ``dst`` are an ``Address``, matched exactly, or a host
  string, matched on the host alone; the most exact match wins). Use
  ``loss=1.0`` to cut a direction.
- Stream transports (``tcp``) are reliable and ordered: never lost (link loss
  is ignored), delivered in send order per (source, destination) pair.
- The source the receiver sees is the sender's attached address of the same
  transport and family (the loopback has no ephemeral ports).
- Every message is recorded once in ``trace`` (unless ``record=False``) and
  passed to ``on_trace``: a ``TraceRecord(time, sent, src, dst, data,
  outcome)`` with ``outcome`` ``delivered``, ``dropped`` (loss) or
  ``unreachable`` (nothing attached at ``dst``; over ``tcp`` the sender's
  ``on_error`` is told, as a refused connection would). Dropped and unreachable
  records carry the send time; delivered ones the delivery time.

Theory of operation: ``LoopbackPort`` is a ``Transport``; its ``send`` asks the
network, which draws loss and delay and schedules one clock callback per
message. Nothing happens synchronously inside ``send``, so a driver is never
re-entered, and ``clock.run_until_idle()`` runs a whole call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipflow.clock import VirtualClock
from sipflow.sip.types import Address
from sipflow.transport.base import (
    ErrorCallback,
    ReceiveCallback,
    SansIOEndpoint,
    TransportError,
    drop_unattached,
    log,
    log_error,
)
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.listen import ListenSpec, parse_listen

DELIVERED = "delivered"
DROPPED = "dropped"
UNREACHABLE = "unreachable"

FIRST_EPHEMERAL_PORT = 40000


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One message on the loopback network (see the module rules for ``time``)."""

    time: float
    sent: float
    src: Address
    dst: Address
    data: bytes
    outcome: str

    @property
    def delivered(self) -> bool:
        """True when the message reached its destination."""
        return self.outcome == DELIVERED


@dataclass(slots=True)
class Link:
    """Overrides for one direction; None keeps the network's default."""

    loss: float | None = None
    delay: float | None = None
    jitter: float | None = None


class LoopbackPort:
    """A ``Transport`` attached to a ``LoopbackNetwork`` at ``local``."""

    def __init__(self, network: LoopbackNetwork, local: Address) -> None:
        self.network = network
        self.local = local
        self.on_receive: ReceiveCallback = drop_unattached
        self.on_error: ErrorCallback = log_error
        self.closed = False

    def send(self, data: bytes, dest: Address) -> None:
        """Hand ``data`` to the network for ``dest``."""
        if self.closed:
            self.on_error(dest, TransportError(f"loopback port {self.local} is closed"))
            return
        self.network._transmit(self, data, dest)

    def close(self) -> None:
        """Detach from the network; messages in flight to it become unreachable."""
        if not self.closed:
            self.closed = True
            self.network._ports.pop(self.local, None)


class LoopbackNetwork:
    """An in-memory network in virtual time; see the module rules."""

    def __init__(self, clock: VirtualClock, loss: float = 0.0, delay: float = 0.0,
                 jitter: float = 0.0, seed: int = 0, *, record: bool = True,
                 on_trace: Callable[[TraceRecord], None] | None = None) -> None:
        _check_link(loss, delay, jitter)
        self.clock = clock
        self.loss = loss
        self.delay = delay
        self.jitter = jitter
        self.record = record
        self.on_trace = on_trace
        self.trace: list[TraceRecord] = []
        self.counts = {DELIVERED: 0, DROPPED: 0, UNREACHABLE: 0}
        self._rng = random.Random(seed)
        self._ports: dict[Address, LoopbackPort] = {}
        self._links: dict[tuple[Address | str, Address | str], Link] = {}
        self._stream_tail: dict[tuple[Address, Address], float] = {}
        self._next_port = FIRST_EPHEMERAL_PORT

    # ------------------------------------------------------------ setup

    def bind(self, local: Address) -> LoopbackPort:
        """A port at ``local`` (port 0: a free one); raises ``ValueError`` if it is taken."""
        if local.port == 0:
            local = local._replace(port=self._free_port(local))
        if local in self._ports:
            raise ValueError(f"{local} is already attached to the loopback network")
        port = LoopbackPort(self, local)
        self._ports[local] = port
        return port

    def attach(self, endpoint: SansIOEndpoint, local: Address | Sequence[Address], *,
               on_step: Callable[[EndpointDriver], None] | None = None,
               on_error: ErrorCallback | None = None) -> EndpointDriver:
        """Bind ``local`` (one address or several) and drive ``endpoint`` there on the clock."""
        addresses = [local] if isinstance(local, Address) else list(local)
        ports = [self.bind(address) for address in addresses]
        return EndpointDriver(endpoint, self.clock, ports, on_step=on_step, on_error=on_error)

    def start_endpoint(self, local: Sequence[Address | ListenSpec | str],
                       make_endpoint: Callable[[list[Address]], SansIOEndpoint], *,
                       on_step: Callable[[EndpointDriver], None] | None = None,
                       on_error: ErrorCallback | None = None) -> EndpointDriver:
        """Like ``sipflow.transport.start_endpoint`` on the loopback: bind ``local``
        (addresses or listen specs such as ``udp:10.0.0.1:0``; port 0 gets a
        free port), build the endpoint on the bound addresses, drive it."""
        addresses = [_address(item) for item in local]
        ports = [self.bind(address) for address in addresses]
        try:
            endpoint = make_endpoint([port.local for port in ports])
        except BaseException:
            for port in ports:
                port.close()
            raise
        return EndpointDriver(endpoint, self.clock, ports, on_step=on_step, on_error=on_error)

    def set_link(self, src: Address | str, dst: Address | str, *, loss: float | None = None,
                 delay: float | None = None, jitter: float | None = None) -> None:
        """Override loss, delay or jitter from ``src`` to ``dst`` (one direction)."""
        _check_link(loss or 0.0, delay or 0.0, jitter or 0.0)
        self._links[(src, dst)] = Link(loss, delay, jitter)

    def _free_port(self, local: Address) -> int:
        while local._replace(port=self._next_port) in self._ports:
            self._next_port += 1
        port = self._next_port
        self._next_port += 1
        return port

    # ----------------------------------------------------------- transit

    def _link(self, src: Address, dst: Address) -> Link | None:
        if not self._links:
            return None
        links = self._links
        return (links.get((src, dst)) or links.get((src, dst.host))
                or links.get((src.host, dst)) or links.get((src.host, dst.host)))

    def _transmit(self, port: LoopbackPort, data: bytes, dest: Address) -> None:
        now = self.clock.now()
        src = port.local
        if dest not in self._ports:
            self._note(now, now, src, dest, data, UNREACHABLE)
            if dest.transport != "udp":
                port.on_error(dest, TransportError(f"nothing listens at {dest} on the "
                                                   f"loopback network"))
            return
        link = self._link(src, dest)
        loss, delay, jitter = self.loss, self.delay, self.jitter
        if link is not None:
            loss = loss if link.loss is None else link.loss
            delay = delay if link.delay is None else link.delay
            jitter = jitter if link.jitter is None else link.jitter
        reliable = dest.transport != "udp"
        if not reliable and loss > 0.0 and self._rng.random() < loss:
            self._note(now, now, src, dest, data, DROPPED)
            return
        at = now + delay + (self._rng.uniform(0.0, jitter) if jitter > 0.0 else 0.0)
        if reliable:
            key = (src, dest)
            at = max(at, self._stream_tail.get(key, at))
            self._stream_tail[key] = at
        self.clock.call_at(at, lambda: self._deliver(src, dest, data, now))

    def _deliver(self, src: Address, dest: Address, data: bytes, sent: float) -> None:
        target = self._ports.get(dest)
        now = self.clock.now()
        if target is None:
            self._note(now, sent, src, dest, data, UNREACHABLE)
            return
        self._note(now, sent, src, dest, data, DELIVERED)
        target.on_receive(data, src)

    def _note(self, time: float, sent: float, src: Address, dst: Address, data: bytes,
              outcome: str) -> None:
        self.counts[outcome] += 1
        if outcome != DELIVERED:
            log.debug("loopback %s: %s -> %s (%d bytes)", outcome, src, dst, len(data))
        if self.record or self.on_trace is not None:
            record = TraceRecord(time, sent, src, dst, data, outcome)
            if self.record:
                self.trace.append(record)
            if self.on_trace is not None:
                self.on_trace(record)


def _address(item: Address | ListenSpec | str) -> Address:
    if isinstance(item, Address):
        return item
    spec = item if isinstance(item, ListenSpec) else parse_listen(item)
    return spec.address


def _check_link(loss: float, delay: float, jitter: float) -> None:
    if not 0.0 <= loss <= 1.0:
        raise ValueError(f"loss must be between 0 and 1, not {loss!r}")
    if delay < 0.0 or jitter < 0.0:
        raise ValueError(f"delay and jitter must not be negative (delay={delay!r}, "
                         f"jitter={jitter!r})")
