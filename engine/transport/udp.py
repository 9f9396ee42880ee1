"""UDP transport: one asyncio datagram endpoint per listener, IPv4 or IPv6.

Rules:

- ``UdpTransport.open(host, port)`` binds (port 0: any free port) and reports
  the bound address in ``local``. An IPv6 literal binds an IPv6 socket.
- Each datagram goes to ``on_receive(data, source)`` whole; ``source`` is the
  true sender (``Address("udp", ip, port)``, IPv6 without brackets or flow
  info). Datagrams larger than ``max_datagram`` (default 65,507, the IPv4
  payload limit) are dropped with a log line, in both directions. Empty and
  CRLF-only datagrams (keep-alives, RFC 5626 §4.4.1) are counted, not passed on.
- ``send`` never raises into the loop: a message too big, an unreachable or
  unresolvable destination, or an ``OSError`` from the socket goes to
  ``on_error(dest, error)`` (asyncio reports a failed ``sendto`` through
  ``error_received`` while we know the destination). ICMP errors the kernel
  reports later go there with ``dest`` None.
- A host name as destination is resolved asynchronously (never a blocking
  lookup in the loop); IP literals are sent at once.
- ``set_receive_buffer(size)`` asks the kernel for a receive buffer of
  ``size`` bytes: with ``SO_RCVBUFFORCE`` when the process may (root or
  CAP_NET_ADMIN on Linux), else with ``SO_RCVBUF``, which the kernel caps at
  ``net.core.rmem_max``. It returns what ``getsockopt`` reads back (Linux
  reports twice the size granted: its bookkeeping is counted too), so the
  caller can say when the buffer was capped. A socket error is reported in
  the result, never raised (a size that is not a positive int is a
  ``ValueError``: the caller validates user input first).
- ``QueueProbe(transport)`` measures how late the transport's datagrams
  are: ``ping()`` sends one small datagram from a socket of its own to the
  transport's address, and ``delay`` is how long the last one waited in the
  receive queue (or, when the one in flight is older, its age). Probe
  datagrams are recognised by their source address before anything else
  and never reach ``on_receive``, the counters or a trace. One probe is in
  flight at a time; one not back within ``lost_after`` seconds (dropped by a
  full queue) counts as that late, and the next is sent.

Theory of operation: asyncio's ``DatagramProtocol`` callbacks are forwarded to
the transport object, which knows nothing about SIP; the driver decides what
the bytes mean and where answers go (RFC 3581 rport/received is the core's job:
it gets the true source here and names the destination in each transmit).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sipflow.sip.types import Address
from sipflow.transport.base import (
    ErrorCallback,
    ReceiveCallback,
    TransportError,
    drop_unattached,
    family_of,
    log,
    log_error,
)
from sipflow.transport.options import MAX_DATAGRAM

MAX_SOURCES = 4096
"""Source addresses remembered as ``Address`` objects (forgotten all at once when full)."""

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
"""Linux's ``SO_RCVBUFFORCE`` (Python's ``socket`` module does not name it)."""


@dataclass(frozen=True, slots=True)
class ReceiveBuffer:
    """The outcome of ``UdpTransport.set_receive_buffer``."""

    requested: int
    """Bytes asked for."""
    effective: int
    """What ``getsockopt(SO_RCVBUF)`` reads back afterwards (0 when it could not be read)."""
    before: int
    """What it read before (the kernel's default for a new socket)."""
    forced: bool
    """True when ``SO_RCVBUFFORCE`` was allowed (no ``net.core.rmem_max`` cap)."""
    error: str = ""
    """Why the size could not be set at all (empty when it was)."""

    @property
    def capped(self) -> bool:
        """The kernel granted less than asked (Linux reports twice what it grants)."""
        granted = self.effective // 2 if sys.platform.startswith("linux") else self.effective
        return granted < self.requested

    def describe(self, where: object) -> str:
        """One line for ``-v``: the size read back, and why it is smaller when it is."""
        if self.error:
            return (f"{where}: receive buffer left at {self.before} bytes: cannot set "
                    f"{self.requested}: {self.error}")
        line = f"{where}: receive buffer {self.effective} bytes as read back (asked {self.requested}"
        if self.forced:
            return line + "; SO_RCVBUFFORCE)"
        if self.capped:
            return (line + "; capped by net.core.rmem_max: run as root, or raise it with "
                    "sysctl -w net.core.rmem_max=BYTES)")
        return line + ")"


class _Protocol(asyncio.DatagramProtocol):
    """Forwards asyncio's callbacks to the ``UdpTransport`` (set once it is built).

    ``attach`` makes ``datagram_received`` the transport's own ``_datagram``
    (an instance attribute: no forwarding frame per datagram).
    """

    owner: UdpTransport | None = None

    def attach(self, owner: UdpTransport) -> None:
        self.owner = owner
        self.datagram_received = owner._datagram  # type: ignore[method-assign]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.owner is not None:
            self.owner._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        if self.owner is not None:  # during sendto: that destination; else unknown
            self.owner._report(self.owner._sending, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.warning("udp listener lost: %s", exc)


class UdpTransport:
    """A bound UDP socket; see the module rules."""

    def __init__(self, transport: asyncio.DatagramTransport, local: Address,
                 max_datagram: int = MAX_DATAGRAM) -> None:
        self._transport = transport
        self.local = local
        self.max_datagram = max_datagram
        self.on_receive: ReceiveCallback = drop_unattached
        self.on_error: ErrorCallback = log_error
        self.received = 0
        self.dropped = 0
        self.keepalives = 0
        self._sending: Address | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._probe: tuple[str, int] | None = None  # a QueueProbe's source: (host, port)
        self._on_probe: Callable[[bytes], None] = _ignore
        self._family = socket.AF_INET6 if family_of(local.host) == 6 else socket.AF_INET
        self._sources: dict[Any, Address] = {}  # asyncio's source address -> ours

    @classmethod
    async def open(cls, host: str, port: int, *, max_datagram: int = MAX_DATAGRAM) -> UdpTransport:
        """Bind ``host:port`` (``port`` 0: any); raises ``OSError`` when the bind fails."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if family_of(host) == 6 else socket.AF_INET
        protocol = _Protocol()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol, local_addr=(host, port), family=family)
        bound = transport.get_extra_info("sockname")
        self = cls(transport, Address("udp", _host_of(bound), bound[1]), max_datagram)
        protocol.attach(self)
        log.info("listening on %s", self.local)
        return self

    # ------------------------------------------------------------ input

    def _datagram(self, data: bytes, addr: Any) -> None:
        source = self._sources.get(addr)
        if source is None:  # a new peer (never the probe's address: it is not kept)
            probe = self._probe
            if probe is not None and addr[1] == probe[1] and addr[0] == probe[0]:
                self._on_probe(data)
                return
            if len(self._sources) >= MAX_SOURCES:
                self._sources.clear()
            source = self._sources[addr] = Address("udp", _host_of(addr), addr[1])
        if len(data) > self.max_datagram:
            self.dropped += 1
            log.warning("dropped a %d-byte datagram from %s: larger than %d bytes",
                        len(data), source, self.max_datagram)
            return
        if data[:1] in (b"\r", b"\n", b"") and not data.strip():
            self.keepalives += 1  # an RFC 5626 CRLF keep-alive (or empty): nothing to parse
            return
        self.received += 1
        self.on_receive(data, source)

    def _report(self, dest: Address | None, error: Exception) -> None:
        log.warning("udp %s: error towards %s: %s", self.local, dest or "a peer", error)
        self.on_error(dest, error)

    # ----------------------------------------------------------- socket

    def set_receive_buffer(self, size: int) -> ReceiveBuffer:
        """Ask for a ``size``-byte receive buffer (see the module rules)."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"receive buffer size must be a positive integer, not {size!r}")
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return ReceiveBuffer(size, 0, 0, False, "no socket to configure")
        before = _rcvbuf(sock)
        forced = False
        if SO_RCVBUFFORCE is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
                forced = True
            except OSError:
                forced = False  # not permitted: the capped SO_RCVBUF below
        if not forced:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            except OSError as exc:
                return ReceiveBuffer(size, before, before, False, exc.strerror or str(exc))
        result = ReceiveBuffer(size, _rcvbuf(sock), before, forced)
        log.info("%s", result.describe(self.local))
        return result

    # ----------------------------------------------------------- output

    def send(self, data: bytes, dest: Address) -> None:
        """Send one datagram to ``dest`` (see the module rules about failures)."""
        if len(data) > self.max_datagram:
            self._report(dest, TransportError(
                f"{len(data)}-byte message to {dest} is larger than the UDP limit "
                f"of {self.max_datagram} bytes; not sent"))
            return
        if self._transport.is_closing():
            self._report(dest, TransportError(f"udp listener {self.local} is closed"))
            return
        if family_of(dest.host) is None:
            task = asyncio.get_running_loop().create_task(self._resolve_and_send(data, dest))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)
            return
        self._sendto(data, dest, dest.host)

    def _sendto(self, data: bytes, dest: Address, ip: str) -> None:
        self._sending = dest
        try:
            self._transport.sendto(data, (ip, dest.port))
        except (OSError, ValueError, TypeError) as exc:
            self._report(dest, exc)
        finally:
            self._sending = None

    async def _resolve_and_send(self, data: bytes, dest: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(dest.host, dest.port, family=self._family,
                                           type=socket.SOCK_DGRAM)
        except OSError as exc:
            self._report(dest, TransportError(f"cannot resolve {dest.host!r}: {exc}"))
            return
        if not infos:
            self._report(dest, TransportError(f"cannot resolve {dest.host!r}: no address"))
            return
        if self._transport.is_closing():
            return
        self._sendto(data, dest, infos[0][4][0])

    def close(self) -> None:
        """Close the socket; pending name lookups are cancelled."""
        for task in list(self._tasks):
            task.cancel()
        self._transport.close()

    async def aclose(self) -> None:
        """Close the socket and let the loop run its close callbacks."""
        self.close()
        await asyncio.sleep(0)


class QueueProbe:
    """Measures how long datagrams wait in ``transport``'s receive queue (module rules).

    ``clock`` reads seconds (default ``time.perf_counter``: uvloop's loop time
    ticks in whole milliseconds). Raises ``OSError`` when the probe socket
    cannot be opened.
    """

    LOST_AFTER = 1.0
    """Seconds after which a probe that has not come back counts as dropped."""

    def __init__(self, transport: UdpTransport, *, lost_after: float = LOST_AFTER,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.transport = transport
        self.lost_after = lost_after
        self.clock = clock
        host = transport.local.host
        family = socket.AF_INET6 if family_of(host) == 6 else socket.AF_INET
        if host in ("0.0.0.0", "::"):  # a wildcard listener: reach it over loopback
            host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.target = (host, transport.local.port)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            self.sock.bind((host, 0))
        except OSError:
            self.sock.close()
            raise
        bound = self.sock.getsockname()
        transport._sources.clear()  # a peer that had this address before is gone
        transport._probe = (bound[0], bound[1])
        transport._on_probe = self._arrived
        self.sent = 0
        self.returned = 0
        self.lost = 0
        self.last = 0.0
        """How long the last probe back waited (seconds)."""
        self._seq = 0
        self._in_flight: tuple[int, float] | None = None

    @property
    def delay(self) -> float:
        """How late the queue is: the last probe's wait, or the age of the one in flight."""
        if self._in_flight is None:
            return self.last
        return max(self.last, self.clock() - self._in_flight[1])

    def ping(self) -> None:
        """Send a probe, unless one is in flight and not yet counted as dropped."""
        now = self.clock()
        if self._in_flight is not None:
            if now - self._in_flight[1] < self.lost_after:
                return
            self.lost += 1
            self.last = max(self.last, now - self._in_flight[1])
        self._seq += 1
        try:
            self.sock.sendto(b"probe %d" % self._seq, self.target)
        except OSError:
            self._in_flight = None  # e.g. the socket buffer is full: try again next time
            return
        self.sent += 1
        self._in_flight = (self._seq, now)

    def _arrived(self, data: bytes) -> None:
        flight = self._in_flight
        if flight is None or data != b"probe %d" % flight[0]:
            return  # an earlier probe, already counted as dropped
        self._in_flight = None
        self.returned += 1
        self.last = self.clock() - flight[1]

    def close(self) -> None:
        """Close the probe socket and stop recognising its datagrams."""
        if self.transport._on_probe == self._arrived:
            self.transport._probe = None
            self.transport._on_probe = _ignore
        self.sock.close()


def _ignore(data: bytes) -> None:
    return None


def _rcvbuf(sock: Any) -> int:
    try:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    except OSError:
        return 0


def _host_of(sockaddr: Any) -> str:
    host = sockaddr[0]
    return host if isinstance(host, str) else str(host)
