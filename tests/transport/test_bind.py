"""Binding several listeners at once and routing between families and transports."""

from __future__ import annotations

import socket

import pytest

from sipflow.sip.types import Transmit
from sipflow.transport.bind import BindError, open_transports, start_endpoint
from sipflow.transport.listen import ListenSpecError


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def msg(i: int) -> bytes:
    """A message the TCP framer can cut (it reads only Content-Length)."""
    return b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 4\r\n\r\nto-%d" % i


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_one_endpoint_on_four_listeners_routes_by_transport_and_family(run, echo, until):
    specs = ["udp:127.0.0.1:0", "udp:[::1]:0", "tcp:127.0.0.1:0", "tcp:[::1]:0"]

    async def main():
        hub = await start_endpoint(specs, echo)
        peers = [await start_endpoint([spec], echo) for spec in specs]
        assert [a.transport for a in hub.local_addresses] == ["udp", "udp", "tcp", "tcp"]
        assert [a.host for a in hub.local_addresses] == ["127.0.0.1", "::1"] * 2
        for i, peer in enumerate(peers):
            hub.endpoint.outbox.append(Transmit(msg(i), peer.local_addresses[0]))
        hub.flush()
        await until(lambda: all(p.endpoint.received for p in peers))
        await until(lambda: len(hub.endpoint.received) == 4)
        for i, peer in enumerate(peers):
            data, source, _ = peer.endpoint.received[0]
            assert data == msg(i)
            assert source.transport == hub.local_addresses[i].transport
            assert source.host == hub.local_addresses[i].host
            if source.transport == "udp":  # the hub's listening socket sent it
                assert source == hub.local_addresses[i]
        echoes = sorted(d for d, _, _ in hub.endpoint.received)
        assert echoes == [b"echo:" + msg(i) for i in range(4)]
        for driver in [hub, *peers]:
            await driver.aclose()

    run(main())


def test_bad_and_unavailable_specs_are_clear_errors(run):
    async def main():
        with pytest.raises(ListenSpecError, match="unknown transport 'sctp'"):
            await open_transports(["sctp:127.0.0.1:0"])
        with pytest.raises(BindError, match=r"cannot listen on udp:192\.0\.2\.1:0: "
                                            r"no such local address"):
            await open_transports(["udp:192.0.2.1:0"])
        with pytest.raises(BindError, match=r"cannot listen on tcp:192\.0\.2\.1:0: "
                                            r"no such local address"):
            await open_transports(["tcp:127.0.0.1:0", "tcp:192.0.2.1:0"])

    run(main())


def test_endpoint_factory_failure_closes_listeners(run):
    async def main():
        seen = []

        def factory(addresses):
            seen.extend(addresses)
            raise RuntimeError("bad config")

        with pytest.raises(RuntimeError, match="bad config"):
            await start_endpoint(["tcp:127.0.0.1:0"], factory)
        with socket.socket() as s:  # the port is free again: the listener was closed
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", seen[0].port))
            s.listen()

    run(main())
