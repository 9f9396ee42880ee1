"""What the drivers drive and what they drive it through.

Rules:

- ``SansIOEndpoint`` is the only face of the SIP core a driver sees: four
  methods, no sockets, no clock. ``sipflow.sip.endpoint.SipEndpoint`` is one.
- A ``Transport`` sends bytes to an ``Address`` and hands what it receives to
  its ``on_receive(data, source)`` callback, with the true source address. It
  never raises into the event loop: failures go to ``on_error(dest, error)``
  (``dest`` is None when the failure cannot be tied to a destination) and to a
  log line.
- Addresses are ``sipflow.sip.types.Address``; an IPv6 host is written without
  brackets. ``family_of`` tells 4 from 6 from a host name (``None``).

Theory of operation: a transport is created and bound first (so a listener on
port 0 learns its real port), then the SIP endpoint is built with the bound
addresses, then ``EndpointDriver.add_transport`` wires the transport's
callbacks to the driver. Until then a transport drops what it receives, with a
log line.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from sipflow.sip.types import Address, Transmit

log = logging.getLogger("sipflow.transport")

ReceiveCallback = Callable[[bytes, Address], None]
"""``(data, source)``: one datagram or one framed stream message and where it came from."""

ErrorCallback = Callable[[Address | None, Exception], None]
"""``(dest, error)``: a send or connection failure (``dest`` None when unknown)."""


class TransportError(Exception):
    """A message could not be sent (no route, too big, connection refused …)."""


@runtime_checkable
class SansIOEndpoint(Protocol):
    """The four methods a driver calls on the sans-I/O SIP core."""

    def receive(self, data: bytes, source: Address, now: float) -> None:
        """Feed one UDP datagram or one framed stream message received from ``source``."""
        ...

    def handle_timers(self, now: float) -> None:
        """Run every timer due at ``now``."""
        ...

    def next_deadline(self) -> float | None:
        """When the core next wants ``handle_timers``; None when it has no timer."""
        ...

    def take_transmits(self) -> list[Transmit]:
        """The messages to send, in order; each call returns them once."""
        ...


class Transport(Protocol):
    """One bound listener (and, for streams, its connections)."""

    local: Address
    """The bound address (real port even when the spec said 0)."""
    on_receive: ReceiveCallback
    on_error: ErrorCallback

    def send(self, data: bytes, dest: Address) -> None:
        """Send ``data`` to ``dest``; never raises for network failures (see ``on_error``)."""
        ...

    def close(self) -> None:
        """Stop listening and close every connection."""
        ...


@functools.lru_cache(maxsize=4096)
def family_of(host: str) -> int | None:
    """4 or 6 for an IP literal (an IPv6 zone ``%eth0`` allowed), None for a host name.

    Cached: a process talks to few hosts, and this runs for every message sent.
    """
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).version
    except ValueError:
        return None


def drop_unattached(data: bytes, source: Address) -> None:
    """Default ``on_receive`` before a driver is attached: drop with a log line."""
    log.warning("dropped %d bytes from %s: no endpoint attached yet", len(data), source)


def log_error(dest: Address | None, error: Exception) -> None:
    """Default ``on_error``: a log line."""
    log.warning("transport error towards %s: %s", dest if dest else "unknown peer", error)
