"""Limits and knobs of the asyncio transports, in one frozen record.

Rules: every limit has a safe default; ``TransportOptions`` is validated on
construction (one ``ValueError`` naming the field). The UDP transport reads
``max_datagram``; the TCP transport reads the rest. ``RECV_BUFFER`` is the
UDP receive buffer the applications ask for (``UdpTransport.set_receive_buffer``). The stream framer is
pluggable (``framer_factory(max_buffer) -> Framer``) so another framing (for
example WebSocket later) fits without touching the connection code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sipflow.sip.framing import StreamFramer

MAX_DATAGRAM = 65_507
"""The largest UDP payload over IPv4 (65,535 − 8 − 20)."""
RECV_BUFFER = 4 << 20
"""Receive buffer asked for each UDP socket by ``serve`` and ``call`` (``--recv-buffer``):
4 MiB holds about a second of datagrams at 1,000 calls/s, where the usual kernel
default (208 KiB) overflows and drops them."""
MAX_RECV_BUFFER = 1 << 30
"""The largest receive buffer one may ask for (the kernel takes an ``int`` and doubles it)."""
MAX_BUFFER = 65_535
"""Largest message (or head) a TCP peer may send us."""
MAX_WRITE_BUFFER = 1 << 20
"""Bytes waiting to be written on one TCP connection."""
IDLE_TIMEOUT = 300.0
"""Seconds without traffic before a TCP connection is closed."""
CONNECT_TIMEOUT = 10.0
"""Seconds an outgoing TCP connection may take to open."""
MAX_CONNECTIONS = 1024
"""Accepted TCP connections per listener at once."""


class Framer(Protocol):
    """Splits a byte stream into SIP messages."""

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data``; return the complete messages; raise ``RemoteProtocolError`` on garbage."""
        ...


FramerFactory = Callable[[int], Framer]
"""``factory(max_buffer) -> Framer``: one framer per connection."""


def default_framer(max_buffer: int) -> Framer:
    """``sipflow.sip.framing.StreamFramer`` accepting messages up to ``max_buffer`` bytes."""
    return StreamFramer(max_message=max_buffer, max_head=min(16_384, max_buffer))


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Limits for the transports ``open_transport`` creates."""

    max_datagram: int = MAX_DATAGRAM
    """Largest UDP datagram accepted or sent, in bytes."""
    max_buffer: int = MAX_BUFFER
    """Largest message (or head) a TCP connection may send us before it is closed."""
    max_write_buffer: int = MAX_WRITE_BUFFER
    """Bytes waiting to be written on a TCP connection before it is closed."""
    idle_timeout: float = IDLE_TIMEOUT
    """Seconds without traffic before a TCP connection is closed (0: never)."""
    connect_timeout: float = CONNECT_TIMEOUT
    """Seconds an outgoing TCP connection may take to open before it counts as failed."""
    max_connections: int = MAX_CONNECTIONS
    """Accepted TCP connections per listener; more are closed at once with a log line."""
    framer_factory: FramerFactory = default_framer
    """Builds the stream framer of each TCP connection."""

    def __post_init__(self) -> None:
        for name in ("max_datagram", "max_buffer", "max_write_buffer", "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TransportOptions.{name} must be a positive integer, "
                                 f"not {value!r}")
        if self.idle_timeout < 0:
            raise ValueError(f"TransportOptions.idle_timeout must not be negative, "
                             f"not {self.idle_timeout!r}")
        if self.connect_timeout <= 0:
            raise ValueError(f"TransportOptions.connect_timeout must be positive, "
                             f"not {self.connect_timeout!r}")
