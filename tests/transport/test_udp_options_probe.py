"""``QueueProbe``: how long datagrams wait in a UDP transport's receive queue.

Real sockets on 127.0.0.1 (and ::1 when present), on asyncio and uvloop. A probe
datagram is recognised by its source before anything else: it never reaches
``on_receive``, the counters or a trace.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from sipflow.transport.udp import QueueProbe, UdpTransport


async def until(condition, timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def test_a_probe_comes_back_quickly_and_is_never_delivered(run) -> None:
    async def main() -> tuple[QueueProbe, list[bytes], int]:
        udp = await UdpTransport.open("127.0.0.1", 0)
        seen: list[bytes] = []
        udp.on_receive = lambda data, source: seen.append(data)
        probe = QueueProbe(udp)
        try:
            for _ in range(3):
                probe.ping()
                await until(lambda: probe.delay == probe.last and probe._in_flight is None)
            # a SIP datagram on the same socket still goes through
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                peer.sendto(b"OPTIONS sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", udp.local.port))
                await until(lambda: seen)
            return probe, seen, udp.received
        finally:
            probe.close()
            udp.close()

    probe, seen, received = run(main())
    assert (probe.sent, probe.returned, probe.lost) == (3, 3, 0)
    assert 0 <= probe.last < 0.05
    assert seen == [b"OPTIONS sip:x SIP/2.0\r\n\r\n"] and received == 1


def test_a_busy_loop_shows_as_delay(run) -> None:
    async def main() -> float:
        udp = await UdpTransport.open("127.0.0.1", 0)
        probe = QueueProbe(udp)
        try:
            probe.ping()
            time.sleep(0.12)  # the loop is stuck: the probe waits in the queue
            assert probe.delay >= 0.12  # already known while it is in flight
            await until(lambda: probe.returned == 1)
            return probe.last
        finally:
            probe.close()
            udp.close()

    assert 0.12 <= run(main()) < 1.0


def test_a_probe_not_back_in_time_counts_as_dropped(run) -> None:
    now = [100.0]

    async def main() -> QueueProbe:
        udp = await UdpTransport.open("127.0.0.1", 0)
        probe = QueueProbe(udp, lost_after=0.5, clock=lambda: now[0])
        try:
            probe.ping()
            probe.ping()  # one in flight: nothing sent
            assert probe.sent == 1
            now[0] += 0.6  # it has not come back (the clock is ours: the loop did not run)
            assert probe.delay == pytest.approx(0.6)
            probe.ping()  # counted as dropped; a new one goes
            assert (probe.sent, probe.lost) == (2, 1)
            await until(lambda: probe.returned == 1)  # only the new one counts
            await asyncio.sleep(0.01)  # the first arrives too, and is ignored
            return probe
        finally:
            probe.close()
            udp.close()

    probe = run(main())
    assert probe.returned == 1 and probe.last == 0.0  # our clock did not move meanwhile
    assert probe.delay == 0.0


def test_close_stops_recognising_probes(run) -> None:
    async def main() -> tuple[object, list[bytes]]:
        udp = await UdpTransport.open("127.0.0.1", 0)
        probe = QueueProbe(udp)
        probe.close()
        seen: list[bytes] = []
        udp.on_receive = lambda data, src: seen.append(data)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"probe 1", ("127.0.0.1", udp.local.port))
            await until(lambda: seen)
        udp.close()
        return udp._probe, seen

    probe_source, seen = run(main())
    assert probe_source is None and seen == [b"probe 1"]


def test_ipv6_and_wildcard_listeners(run) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as check:
            check.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")

    async def main() -> list[int]:
        out = []
        for host in ("::1", "0.0.0.0"):
            udp = await UdpTransport.open(host, 0)
            probe = QueueProbe(udp)
            try:
                probe.ping()
                await until(lambda p=probe: p.returned == 1)
                out.append(probe.returned)
            finally:
                probe.close()
                udp.close()
        return out

    assert run(main()) == [1, 1]
