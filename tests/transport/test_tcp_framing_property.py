"""Property: however a TCP byte stream is cut into reads, each message reaches the
endpoint exactly once, whole and in order, from the peer's address, and
keep-alive pings between messages never reach it. (Pongs are counted by the
framer per read; ``test_tcp`` checks a whole ping gets its pong.)"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.types import Address
from sipflow.transport.tcp import TcpTransport, _Connection

PEER = Address("tcp", "192.0.2.7", 40000)


class FakeStream:
    """Just enough of an ``asyncio.Transport`` for one connection."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name, default=None):
        return ("192.0.2.7", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    abort = close


def message(i: int, body_len: int) -> bytes:
    body = bytes([65 + i % 26]) * body_len
    return (b"MESSAGE sip:x SIP/2.0\r\nCall-ID: %d\r\nContent-Length: %d\r\n\r\n"
            % (i, body_len)) + body


@settings(max_examples=60, deadline=None, derandomize=True)
@given(bodies=st.lists(st.integers(0, 300), min_size=1, max_size=8),
       pings=st.lists(st.booleans(), min_size=8, max_size=8),
       cuts=st.lists(st.integers(1, 200), min_size=1, max_size=40))
def test_any_chunking_delivers_every_message_once_in_order(bodies, pings, cuts):
    messages = [message(i, n) for i, n in enumerate(bodies)]
    stream = b"".join((b"\r\n\r\n" if pings[i] else b"") + m for i, m in enumerate(messages))

    async def main():
        owner = TcpTransport(None, Address("tcp", "127.0.0.1", 5060))
        got: list[tuple[bytes, Address]] = []
        owner.on_receive = lambda data, source: got.append((data, source))
        conn = _Connection(owner, None)
        fake = FakeStream()
        conn.connection_made(fake)  # type: ignore[arg-type]
        pos, i = 0, 0
        while pos < len(stream):
            step = cuts[i % len(cuts)]
            conn.data_received(stream[pos:pos + step])
            pos += step
            i += 1
        assert not fake.closed
        assert got == [(m, PEER) for m in messages]
        assert set(bytes(fake.written)) <= {13, 10}  # nothing but pongs went back
        assert owner.connections == {PEER: conn}
        conn.close()

    asyncio.run(main())
