"""TCP transport: a listener plus outgoing connections, reused per peer address.

Rules:

- One ``TcpTransport`` per listening address (IPv4 or IPv6). Connections,
  accepted or opened by us, are kept in one table keyed by the peer's address
  *as the SIP core sees it*: an accepted connection by the peer's IP and
  source port (the ``source`` handed to the core with every message it
  carries), an outgoing one by the destination the core asked for. A message
  for an address that has a connection goes on it, so responses go back on
  the connection their request came in on (RFC 3261 §18.2.2) and later
  requests to the same peer reuse it; otherwise a new connection is opened
  and the message waits for it.
- Incoming bytes go through a stream framer (``sipflow.sip.framing.StreamFramer``
  by default; ``feed(data) -> list[bytes]`` raising ``RemoteProtocolError``).
  Each complete message is handed to ``on_receive(message, source)``. A
  keep-alive ping (CRLFCRLF, RFC 5626 §4.4.1) is answered with a CRLF pong.
- Limits, each ending in a log line and closing that one connection only:
  a message or head over ``max_buffer`` bytes coming in (the framer raises),
  over ``max_write_buffer`` bytes waiting to go out (slow reader, or a
  connection still opening), garbage the framer rejects, and ``idle_timeout`` seconds
  without traffic in either direction. A peer closing in the middle of a
  message is logged with the number of bytes lost. The listener keeps serving.
- Failures never raise into the loop: a refused connection, one that does
  not open within ``connect_timeout``, or a message that could not be
  written, goes to ``on_error(dest, error)``.
- At most ``max_connections`` accepted connections at once; a connection
  beyond that is closed at once with a log line. All limits come from one
  ``TransportOptions``.

Theory of operation: asyncio ``Protocol`` callbacks (``_Connection``) feed the
framer and forward messages; ``TcpTransport`` owns the table of connections
and the idle checks. Nothing here knows SIP beyond the framer.
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from sipflow.sip.errors import RemoteProtocolError
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
from sipflow.transport.options import Framer, TransportOptions


def framer_pending(framer: Framer) -> int:
    """Bytes the framer holds of an unfinished message (0 when it cannot tell)."""
    for name in ("buffered", "pending", "buffer", "_buffer"):
        value = getattr(framer, name, None)
        if isinstance(value, int):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return len(value)
    return 0


class _Connection(asyncio.Protocol):
    """One TCP connection: framing in, buffered writes out, idle tracking."""

    def __init__(self, owner: TcpTransport, key: Address | None) -> None:
        self.owner = owner
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.framer = owner.options.framer_factory(owner.options.max_buffer)
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.last_activity = owner.loop.time()
        self.idle_timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.pings = 0

    # asyncio callbacks --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.closed:  # closed while opening
            self.transport.abort()
            return
        if self.key is None:  # accepted: key by the peer's address
            peer = self.transport.get_extra_info("peername")
            self.key = Address("tcp", str(peer[0]), int(peer[1]))
            self.owner._adopt(self)
        self._touch()
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        for data in pending:
            self.write(data)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._touch()
        try:
            messages = self.framer.feed(data)
        except RemoteProtocolError as exc:
            self.owner._drop(self, f"bad stream from {self.key}: {exc.reason}")
            return
        except Exception:
            log.exception("framer failed on data from %s", self.key)
            self.owner._drop(self, f"framer failure on data from {self.key}")
            return
        pings = getattr(self.framer, "keepalives", 0)
        if pings > self.pings:
            self.write(b"\r\n" * (pings - self.pings))
            self.pings = pings
        for message in messages:
            if self.closed:
                return
            assert self.key is not None
            self.owner.received += 1
            self.owner.on_receive(message, self.key)

    def connection_lost(self, exc: Exception | None) -> None:
        by_peer = not self.closed
        self.closed = True
        if by_peer:
            partial = framer_pending(self.framer)
            if exc is not None:
                log.warning("tcp connection %s lost: %s", self.key, exc)
            elif partial:
                log.warning("tcp connection %s closed by the peer with %d bytes of an "
                            "unfinished message", self.key, partial)
            else:
                log.info("tcp connection %s closed by the peer", self.key)
        self.owner._forget(self)

    # our side ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closed:
            self.owner._report(self.key, TransportError(f"connection to {self.key} is closed"))
            return
        if self.transport is None:  # still opening
            if self.pending_bytes + len(data) > self.owner.options.max_write_buffer:
                self.owner._drop(self, f"more than {self.owner.options.max_write_buffer} bytes waiting for "
                                       f"the connection to {self.key} to open",
                                 error=True)
                return
            self.pending.append(data)
            self.pending_bytes += len(data)
            return
        self._touch()
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self.owner.options.max_write_buffer:
            self.owner._drop(self, f"more than {self.owner.options.max_write_buffer} bytes waiting to be "
                                   f"written to {self.key}", error=True)

    def close(self) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.transport is not None:
            self.transport.abort()

    def _touch(self) -> None:
        self.last_activity = self.owner.loop.time()
        if self.idle_timer is None and self.owner.options.idle_timeout > 0:
            self.idle_timer = self.owner.loop.call_at(
                self.last_activity + self.owner.options.idle_timeout, self._idle_check)

    def _idle_check(self) -> None:
        self.idle_timer = None
        if self.closed:
            return
        due = self.last_activity + self.owner.options.idle_timeout
        if self.owner.loop.time() >= due:
            log.info("closing tcp connection %s: idle for %.1f s", self.key,
                     self.owner.options.idle_timeout)
            self.close()
            self.owner._forget(self)
        else:
            self.idle_timer = self.owner.loop.call_at(due, self._idle_check)


class TcpTransport:
    """A TCP listener and its connections; see the module rules."""

    def __init__(self, server: asyncio.Server | None, local: Address,
                 options: TransportOptions | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self._server = server
        self.local = local
        self.options = options or TransportOptions()
        self.on_receive: ReceiveCallback = drop_unattached
        self.on_error: ErrorCallback = log_error
        self.connections: dict[Address, _Connection] = {}
        self.received = 0
        self._accepted: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    async def open(cls, host: str, port: int,
                   options: TransportOptions | None = None) -> TcpTransport:
        """Listen on ``host:port`` (``port`` 0: any); raises ``OSError`` when the bind fails."""
        loop = asyncio.get_running_loop()
        holder: list[TcpTransport] = []
        family = socket.AF_INET6 if family_of(host) == 6 else socket.AF_INET
        server = await loop.create_server(lambda: _Connection(holder[0], None), host, port,
                                          family=family, start_serving=False)
        bound = server.sockets[0].getsockname()
        self = cls(server, Address("tcp", str(bound[0]), int(bound[1])), options)
        holder.append(self)
        await server.start_serving()
        log.info("listening on %s", self.local)
        return self

    # ------------------------------------------------------------ output

    def send(self, data: bytes, dest: Address) -> None:
        """Send one message to ``dest``: on its connection, or on a new one."""
        if self._closed:
            self._report(dest, TransportError(f"tcp listener {self.local} is closed"))
            return
        conn = self.connections.get(dest)
        if conn is None or conn.closed:
            conn = _Connection(self, dest)
            self.connections[dest] = conn
            task = self.loop.create_task(self._connect(conn, dest))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        conn.write(data)

    async def _connect(self, conn: _Connection, dest: Address) -> None:
        try:
            await asyncio.wait_for(self._open_connection(conn, dest),
                                   self.options.connect_timeout)
        except asyncio.CancelledError:
            conn.closed = True
            self._forget(conn)
            raise
        except (OSError, TimeoutError) as exc:
            conn.closed = True
            self._forget(conn)
            lost = len(conn.pending)
            conn.pending, conn.pending_bytes = [], 0
            if isinstance(exc, TimeoutError):
                why = f"no answer within {self.options.connect_timeout:g} s"
            else:
                why = exc.strerror or str(exc)
            self._report(dest, TransportError(
                f"cannot connect to {dest}: {why} ({lost} message(s) not sent)"))

    async def _open_connection(self, conn: _Connection, dest: Address) -> None:
        await self.loop.create_connection(lambda: conn, dest.host, dest.port)

    # -------------------------------------------------------- bookkeeping

    def _adopt(self, conn: _Connection) -> None:
        assert conn.key is not None
        if self._closed:
            conn.abort()
            return
        if len(self._accepted) >= self.options.max_connections:
            log.warning("refusing tcp connection from %s: already %d connections on %s",
                        conn.key, len(self._accepted), self.local)
            conn.abort()
            return
        self._accepted.add(conn)
        old = self.connections.get(conn.key)
        if old is not None and old is not conn and not old.closed:
            log.info("tcp connection %s replaced by a new one from the same address", conn.key)
        self.connections[conn.key] = conn

    def _forget(self, conn: _Connection) -> None:
        self._accepted.discard(conn)
        if conn.key is not None and self.connections.get(conn.key) is conn:
            del self.connections[conn.key]
        if conn.idle_timer is not None:
            conn.idle_timer.cancel()
            conn.idle_timer = None

    def _drop(self, conn: _Connection, why: str, error: bool = False) -> None:
        log.warning("closing tcp connection %s: %s", conn.key, why)
        conn.abort()
        self._forget(conn)
        if error:
            self._report(conn.key, TransportError(why))

    def _report(self, dest: Address | None, error: Exception) -> None:
        self.on_error(dest, error)

    # ------------------------------------------------------------- close

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.connections.values()) + list(self._accepted):
            conn.close()
        self.connections.clear()
        self._accepted.clear()

    async def aclose(self) -> None:
        """Close, then wait until the listener and the connections are gone."""
        self.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)
