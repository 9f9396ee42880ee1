"""UDP transport on 127.0.0.1 and ::1 with port 0, on both event loops."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from sipflow.clock import AsyncioClock
from sipflow.sip.types import Address, Transmit
from sipflow.transport.bind import BindError, open_transport, start_endpoint
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.udp import UdpTransport


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not has_ipv6_loopback(),
                                                  reason="no IPv6 loopback on this machine")),
]


@pytest.mark.parametrize("host", HOSTS)
def test_two_endpoints_exchange_datagrams_with_true_source(run, echo, until, host):
    async def main():
        bracket = f"[{host}]" if ":" in host else host
        da = await start_endpoint([f"udp:{bracket}:0"], echo)
        db = await start_endpoint([f"udp:{bracket}:0"], echo)
        a_addr, b_addr = da.local_addresses[0], db.local_addresses[0]
        assert a_addr.port != 0 and a_addr.host == host and a_addr.transport == "udp"
        assert da.endpoint.local == [a_addr]  # the endpoint was built on the bound address
        da.endpoint.outbox.append(Transmit(b"hello", b_addr))
        da.flush()
        await until(lambda: da.endpoint.received)
        assert db.endpoint.received[0][:2] == (b"hello", a_addr)
        assert da.endpoint.received[0][:2] == (b"echo:hello", b_addr)
        await da.aclose()
        await db.aclose()

    run(main())


def test_clock_timer_drives_handle_timers(run, echo, until):
    async def main():
        driver = await start_endpoint(["udp:127.0.0.1:0"], echo)
        peer = await UdpTransport.open("127.0.0.1", 0)
        got = []
        peer.on_receive = lambda data, source: got.append((data, source))
        clock = driver.clock
        assert isinstance(clock, AsyncioClock)
        driver.endpoint.tick_to = peer.local
        driver.endpoint.deadlines = [clock.now() + 0.02]
        driver.flush()
        await until(lambda: got)
        assert got == [(b"tick", driver.local_addresses[0])]
        assert len(driver.endpoint.fired) == 1
        await driver.aclose()
        await peer.aclose()

    run(main())


def test_oversized_datagrams_are_dropped_with_a_log_line(run, echo, until, caplog):
    async def main():
        errors = []
        transport = await open_transport("udp:127.0.0.1:0")
        transport.max_datagram = 100
        endpoint = echo()
        driver = EndpointDriver(endpoint, AsyncioClock(), [transport],
                                on_error=lambda d, e: errors.append((d, e)))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.bind(("127.0.0.1", 0))
            raw.sendto(b"x" * 101, transport.local[1:])
            raw.sendto(b"\r\n\r\n", transport.local[1:])  # keep-alive: not for the core
            raw.sendto(b"", transport.local[1:])
            raw.sendto(b"quiet-small", transport.local[1:])
            await until(lambda: endpoint.received)
            src = Address("udp", *raw.getsockname())
        assert [r[:2] for r in endpoint.received] == [(b"quiet-small", src)]
        assert transport.dropped == 1
        assert transport.keepalives == 2
        endpoint.outbox.append(Transmit(b"y" * 101, src))  # too big to send
        driver.flush()
        assert len(errors) == 1 and errors[0][0] == src
        assert "101-byte message to udp:127.0.0.1" in str(errors[0][1])
        await driver.aclose()

    with caplog.at_level(logging.WARNING, logger="sipflow.transport"):
        run(main())
    assert any("dropped a 101-byte datagram" in r.getMessage() for r in caplog.records)


def test_host_name_destination_is_resolved_without_blocking(run, echo, until):
    async def main():
        da = await start_endpoint(["udp:127.0.0.1:0"], echo)
        db = await start_endpoint(["udp:127.0.0.1:0"], echo)
        port = db.local_addresses[0].port
        da.endpoint.outbox.append(Transmit(b"quiet-by-name", Address("udp", "localhost", port)))
        da.flush()
        await until(lambda: db.endpoint.received)
        assert db.endpoint.received[0][:2] == (b"quiet-by-name", da.local_addresses[0])
        await da.aclose()
        await db.aclose()

    run(main())


def test_unresolvable_name_and_closed_socket_are_reported(run, echo, until):
    async def main():
        errors = []
        driver = await start_endpoint(["udp:127.0.0.1:0"], echo,
                                      on_error=lambda d, e: errors.append((d, str(e))))
        bad = Address("udp", "no-such-host.invalid", 5060)
        driver.endpoint.outbox.append(Transmit(b"x", bad))
        driver.flush()
        await until(lambda: errors, timeout=1.5)
        assert errors[0][0] == bad and "cannot resolve 'no-such-host.invalid'" in errors[0][1]
        transport = driver.transports[0]
        transport.close()
        transport.send(b"x", Address("udp", "127.0.0.1", 9))
        assert "is closed" in errors[-1][1]
        await driver.aclose()

    run(main(), timeout=3.0)


def test_bind_conflict_is_one_clear_error(run):
    async def main():
        first = await open_transport("udp:127.0.0.1:0")
        spec = f"udp:127.0.0.1:{first.local.port}"
        with pytest.raises(BindError, match=f"cannot listen on {spec}: address already in use"):
            await open_transport(spec)
        first.close()

    run(main())


def test_failed_bind_closes_the_listeners_already_open(run, echo):
    async def main():
        taken = await open_transport("udp:127.0.0.1:0")
        with pytest.raises(BindError):
            await start_endpoint(["udp:127.0.0.1:0", f"udp:127.0.0.1:{taken.local.port}"], echo)
        taken.close()
        await asyncio.sleep(0)

    run(main())


def test_socket_send_errors_name_their_destination(run):
    async def main():
        transport = await UdpTransport.open("127.0.0.1", 0)
        errors = []
        transport.on_error = lambda d, e: errors.append((d, type(e)))
        port_zero = Address("udp", "127.0.0.1", 0)
        broadcast = Address("udp", "255.255.255.255", 5060)  # no SO_BROADCAST
        transport.send(b"x", port_zero)
        transport.send(b"x", broadcast)
        await asyncio.sleep(0.01)
        assert [d for d, _ in errors] == [port_zero, broadcast]
        assert all(issubclass(t, OSError) for _, t in errors)
        await transport.aclose()

    run(main())
