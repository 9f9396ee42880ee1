"""TCP transport: framing, connection reuse, limits and bad peers, on both event loops."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from sipflow.sip.types import Address, Transmit
from sipflow.transport.bind import open_transport, start_endpoint
from sipflow.transport.options import TransportOptions
from sipflow.transport.tcp import TcpTransport


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not has_ipv6_loopback(),
                                                  reason="no IPv6 loopback on this machine")),
]


def sip(body: bytes = b"", start: bytes = b"OPTIONS sip:a@b SIP/2.0") -> bytes:
    """A minimal framed message (the framer reads only Content-Length)."""
    return start + b"\r\nCall-ID: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class Recorder:
    """A sans-I/O endpoint that records messages and sends what the test queues."""

    def __init__(self, local=None) -> None:
        self.local = local
        self.received: list[tuple[bytes, Address]] = []
        self.outbox: list[Transmit] = []

    def receive(self, data, source, now):
        self.received.append((data, source))

    def handle_timers(self, now):
        pass

    def next_deadline(self):
        return None

    def take_transmits(self):
        out, self.outbox = self.outbox, []
        return out


def send(driver, data, dest):
    driver.endpoint.outbox.append(Transmit(data, dest))
    driver.flush()


@pytest.mark.parametrize("host", HOSTS)
def test_request_response_on_one_connection_then_reuse(run, until, host):
    async def main():
        bracket = f"[{host}]" if ":" in host else host
        da = await start_endpoint([f"tcp:{bracket}:0"], Recorder)
        db = await start_endpoint([f"tcp:{bracket}:0"], Recorder)
        ta, tb = da.transports[0], db.transports[0]
        b_listen = db.local_addresses[0]
        assert b_listen.transport == "tcp" and b_listen.port != 0

        send(da, sip(b"one"), b_listen)
        await until(lambda: db.endpoint.received)
        msg, source = db.endpoint.received[0]
        assert msg == sip(b"one")
        assert source.transport == "tcp" and source.host == host
        assert source.port != da.local_addresses[0].port  # the peer's ephemeral port
        assert list(tb.connections) == [source]  # keyed by the source the core sees

        send(db, sip(b"answer", b"SIP/2.0 200 OK"), source)  # response to the source
        await until(lambda: da.endpoint.received)
        assert da.endpoint.received == [(sip(b"answer", b"SIP/2.0 200 OK"), b_listen)]
        assert list(ta.connections) == [b_listen] and list(tb.connections) == [source]

        send(da, sip(b"two"), b_listen)  # reuses the same connection
        await until(lambda: len(db.endpoint.received) == 2)
        assert db.endpoint.received[1] == (sip(b"two"), source)
        assert len(tb.connections) == 1 and len(ta.connections) == 1
        await da.aclose()
        await db.aclose()

    run(main())


async def raw_client(port: int, host: str = "127.0.0.1"):
    return await asyncio.open_connection(host, port)


def test_split_and_coalesced_messages_are_framed(run, until):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder)
        reader, writer = await raw_client(driver.local_addresses[0].port)
        one, two, three = sip(b"1"), sip(b"22"), sip(b"")
        for i in range(0, len(one), 7):  # trickle
            writer.write(one[i:i + 7])
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(two + b"\r\n\r\n" + three)  # coalesced, with a keep-alive ping
        await until(lambda: len(driver.endpoint.received) == 3)
        assert [m for m, _ in driver.endpoint.received] == [one, two, three]
        pong = await asyncio.wait_for(reader.readexactly(2), 1.0)
        assert pong == b"\r\n"
        writer.close()
        await driver.aclose()

    run(main())


def test_garbage_closes_that_connection_and_the_server_keeps_serving(run, until, caplog):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder)
        port = driver.local_addresses[0].port
        reader, writer = await raw_client(port)
        writer.write(b"INVITE sip:x SIP/2.0\r\nCall-ID: y\r\n\r\n")  # no Content-Length
        assert await asyncio.wait_for(reader.read(), 1.0) == b""  # closed by the server
        writer.close()
        reader2, writer2 = await raw_client(port)
        writer2.write(sip(b"ok"))
        await until(lambda: driver.endpoint.received)
        assert driver.endpoint.received[0][0] == sip(b"ok")
        writer2.close()
        await driver.aclose()

    with caplog.at_level(logging.WARNING, logger="sipflow.transport"):
        run(main())
    assert any("bad stream from tcp:127.0.0.1:" in r.getMessage()
               and "Content-Length" in r.getMessage() for r in caplog.records)


def test_half_message_then_close_is_logged(run, until, caplog):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder)
        tcp = driver.transports[0]
        _, writer = await raw_client(driver.local_addresses[0].port)
        writer.write(sip(b"0123456789")[:-4])
        await writer.drain()
        await until(lambda: tcp.connections)
        writer.close()
        await until(lambda: not tcp.connections)
        assert driver.endpoint.received == []
        await driver.aclose()

    with caplog.at_level(logging.WARNING, logger="sipflow.transport"):
        run(main())
    assert any("closed by the peer with" in r.getMessage() and "unfinished message"
               in r.getMessage() for r in caplog.records)


def test_overflow_closes_with_a_log_line(run, until, caplog):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder,
                                      options=TransportOptions(max_buffer=1024))
        reader, writer = await raw_client(driver.local_addresses[0].port)
        writer.write(sip(b"x" * 2000))  # announces more than the cap
        assert await asyncio.wait_for(reader.read(), 1.0) == b""
        reader, writer = await raw_client(driver.local_addresses[0].port)
        writer.write(b"A" * 2000)  # a head that never ends
        assert await asyncio.wait_for(reader.read(), 1.0) == b""
        assert driver.endpoint.received == []
        await driver.aclose()

    with caplog.at_level(logging.WARNING, logger="sipflow.transport"):
        run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert any("exceeds the 1024-byte limit" in m for m in messages)
    assert any("without an empty line" in m for m in messages)


def test_idle_connections_are_closed(run, until):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder,
                                      options=TransportOptions(idle_timeout=0.05))
        tcp = driver.transports[0]
        reader, writer = await raw_client(driver.local_addresses[0].port)
        writer.write(sip())
        await until(lambda: driver.endpoint.received)
        assert len(tcp.connections) == 1
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 1.0) == b""
        assert asyncio.get_running_loop().time() - started >= 0.03
        assert tcp.connections == {}
        await driver.aclose()

    run(main())


def test_refused_connection_is_reported(run, until):
    async def main():
        errors = []
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder,
                                      on_error=lambda d, e: errors.append((d, str(e))))
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        dest = Address("tcp", "127.0.0.1", closed_port)
        send(driver, sip(), dest)
        send(driver, sip(), dest)  # queued on the same opening connection
        await until(lambda: errors)
        assert errors[0][0] == dest
        assert f"cannot connect to {dest}" in errors[0][1]
        assert "2 message(s) not sent" in errors[0][1]
        assert driver.transports[0].connections == {}
        await driver.aclose()

    run(main())


def test_slow_reader_write_overflow_closes(run, until):
    async def main():
        errors = []
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder,
                                      on_error=lambda d, e: errors.append((d, str(e))),
                                      options=TransportOptions(max_write_buffer=4096))
        server = await TcpTransport.open("127.0.0.1", 0)  # accepts and never reads
        server.on_receive = lambda data, source: None
        dest = server.local
        big = sip(b"z" * 3000)
        for _ in range(2000):  # far more than the socket buffers can hold
            send(driver, big, dest)
            if errors:
                break
            await asyncio.sleep(0)
        assert errors and "waiting" in errors[0][1]
        await driver.aclose()
        await server.aclose()

    run(main(), timeout=4.0)


def test_close_is_clean_with_open_connections(run, until):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder)
        reader, writer = await raw_client(driver.local_addresses[0].port)
        writer.write(sip())
        await until(lambda: driver.endpoint.received)
        await driver.aclose()
        assert await asyncio.wait_for(reader.read(), 1.0) == b""
        with pytest.raises(OSError):
            await raw_client(driver.local_addresses[0].port)

    run(main())


def test_unattached_tcp_transport_drops_with_log(run, until, caplog):
    async def main():
        transport = await open_transport("tcp:127.0.0.1:0")
        _, writer = await raw_client(transport.local.port)
        writer.write(sip())
        await until(lambda: transport.received == 1)
        writer.close()
        await transport.aclose()

    with caplog.at_level(logging.WARNING, logger="sipflow.transport"):
        run(main())
    assert any("no endpoint attached yet" in r.getMessage() for r in caplog.records)


def test_connect_timeout_is_reported(run, until):
    class BlackHole(TcpTransport):
        async def _open_connection(self, conn, dest):
            await asyncio.sleep(3600)  # a SYN nobody answers

    async def main():
        errors = []
        transport = await BlackHole.open("127.0.0.1", 0, TransportOptions(connect_timeout=0.05))
        transport.on_error = lambda d, e: errors.append((d, str(e)))
        dest = Address("tcp", "192.0.2.1", 5060)
        transport.send(sip(), dest)
        await until(lambda: errors)
        assert errors == [(dest, f"cannot connect to {dest}: no answer within 0.05 s "
                                 f"(1 message(s) not sent)")]
        assert transport.connections == {}
        await transport.aclose()

    run(main())


def test_connections_beyond_the_cap_are_closed(run, until, caplog):
    async def main():
        driver = await start_endpoint(["tcp:127.0.0.1:0"], Recorder,
                                      options=TransportOptions(max_connections=2))
        port = driver.local_addresses[0].port
        clients = [await raw_client(port) for _ in range(3)]
        assert await asyncio.wait_for(clients[2][0].read(), 1.0) == b""  # the third: closed
        for _, writer in clients[:2]:  # the first two still work
            writer.write(sip())
        await until(lambda: len(driver.endpoint.received) == 2)
        assert len(driver.transports[0].connections) == 2
        clients[0][1].close()
        await until(lambda: len(driver.transports[0].connections) == 1)
        reader, writer = await raw_client(port)  # room again
        writer.write(sip(b"again"))
        await until(lambda: len(driver.endpoint.received) == 3)
        for _, w in [*clients, (reader, writer)]:
            w.close()
        await driver.aclose()

    with caplog.at_level(logging.WARNING, logger="sipflow.transport"):
        run(main())
    assert any("refusing tcp connection" in r.getMessage() and "already 2 connections"
               in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [("max_buffer", 0, "max_buffer must be a positive integer"),
     ("max_connections", -1, "max_connections must be a positive integer"),
     ("idle_timeout", -1.0, "idle_timeout must not be negative"),
     ("connect_timeout", 0.0, "connect_timeout must be positive")],
)
def test_bad_options_are_one_clear_error(field, value, fragment):
    with pytest.raises(ValueError, match=f"TransportOptions.{fragment}"):
        TransportOptions(**{field: value})
