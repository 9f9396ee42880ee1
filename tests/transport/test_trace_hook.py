"""EndpointDriver.set_trace: every message received and sent is reported once, with
the right addresses; unset it costs nothing and a failing hook never breaks a step."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from sipflow.clock import VirtualClock
from sipflow.sip import events as ev
from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.types import Address, Transmit
from sipflow.trace.capture import read_capture
from sipflow.trace.pcap import PcapWriter
from sipflow.transport.bind import start_endpoint
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.loopback import LoopbackNetwork

A = Address("udp", "10.0.0.1", 5060)
B = Address("udp", "10.0.0.2", 5060)
AT = Address("tcp", "10.0.0.1", 5060)


def test_received_and_sent_messages_reach_the_hook(echo):
    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.5)
    da = net.attach(echo(), [A, AT])
    db = net.attach(echo(), B)
    seen: list[tuple] = []
    db.set_trace(lambda *args: seen.append(args))
    da.endpoint.outbox.append(Transmit(b"hello", B))
    da.flush()
    clock.run_until_idle()
    assert seen == [
        (0.5, "udp", A, B, b"hello"),        # received by b: src the peer, dst b's port
        (0.5, "udp", B, A, b"echo:hello"),   # sent by b: src b's bound address
    ]


def test_hook_set_before_transports_are_added_and_unset_again(echo):
    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    driver = EndpointDriver(echo(), clock)
    seen: list[tuple] = []
    driver.set_trace(lambda *args: seen.append(args))
    port = net.bind(B)
    driver.add_transport(port)  # wired through the tracing receiver
    peer = net.bind(A)
    peer.send(b"one", B)
    clock.run_until_idle()
    assert [(s[2], s[3], s[4]) for s in seen] == [(A, B, b"one"), (B, A, b"echo:one")]
    driver.set_trace(None)
    assert port.on_receive == driver.receive  # back to the untraced path
    peer.send(b"two", B)
    clock.run_until_idle()
    assert len(seen) == 2 and driver.endpoint.received[-1][0] == b"two"


def test_a_failing_hook_is_logged_and_the_message_still_goes(echo, caplog):
    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    da = net.attach(echo(), A)
    db = net.attach(echo(), B)

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    da.set_trace(broken)
    with caplog.at_level(logging.ERROR, logger="sipflow.transport"):
        da.endpoint.outbox.append(Transmit(b"hello", B))
        da.flush()
        clock.run_until_idle()
    assert db.endpoint.received[0][0] == b"hello"
    assert da.endpoint.received[0][0] == b"echo:hello"
    assert "the trace hook failed" in caplog.text


class Answer:
    """UAS application: 180 then 200 to INVITE, 200 to BYE."""

    def __call__(self, driver: EndpointDriver) -> None:
        now = driver.clock.now()
        for event in driver.endpoint.take_events():
            if isinstance(event, ev.RequestReceived) and event.method in ("INVITE", "BYE"):
                if event.method == "INVITE":
                    driver.endpoint.respond(event.request_id, 180, now=now)
                driver.endpoint.respond(event.request_id, 200, now=now)


class HangUp:
    """UAC application: BYE once the INVITE got its 200."""

    def __call__(self, driver: EndpointDriver) -> None:
        for event in driver.endpoint.take_events():
            if (isinstance(event, ev.ResponseReceived) and event.method == "INVITE"
                    and event.code == 200):
                driver.endpoint.request(event.handle, "BYE", now=driver.clock.now())


def test_a_real_call_traced_at_the_caller_reads_back_in_order(tmp_path):
    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.01)
    a, b = Address("udp", "10.0.0.1", 5060), Address("udp", "10.0.0.2", 5060)
    da = net.attach(SipEndpoint(a, rng=random.Random(1)), a, on_step=HangUp())
    net.attach(SipEndpoint(b, rng=random.Random(2)), b, on_step=Answer())
    path = tmp_path / "call.pcap"
    with PcapWriter(path, flush=False) as writer:
        da.set_trace(writer.write)
        da.endpoint.invite("sip:bob@10.0.0.2:5060", now=clock.now())
        da.flush()
        clock.run_until_idle()
    capture = read_capture(path)
    lines = [(m.src, getattr(m.message, "method", None) or m.message.status)
             for m in capture.messages]
    lines = [line for line in lines if line[1] != 100]
    assert lines == [(a, "INVITE"), (b, 180), (b, 200), (a, "ACK"), (a, "BYE"), (b, 200)]
    assert [m.time for m in capture.messages] == sorted(m.time for m in capture.messages)


def test_hook_writes_a_readable_pcap_file(tmp_path, echo):
    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.25)
    da = net.attach(echo(), A)
    net.attach(echo(), B)
    path = tmp_path / "trace.pcap"
    with PcapWriter(path, time_offset=1000.0) as writer:
        da.set_trace(writer.write)
        da.endpoint.outbox.append(Transmit(b"quiet", B))
        da.flush()
        clock.run_until_idle()
    capture = read_capture(path)
    assert capture.frames == 1 and capture.messages == []  # not SIP: skipped


@pytest.mark.parametrize("spec", ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
def test_a_call_over_real_sockets_traced_into_a_pcap(tmp_path, run, until, spec):
    """The caller, traced after its transports were wired (they look ``on_receive`` up
    per message), records the whole call with the right addresses."""
    path = tmp_path / "real.pcap"

    async def main():
        writer = PcapWriter(path, time_offset=1_750_000_000.0)
        da = await start_endpoint([spec], lambda local: SipEndpoint(local, rng=random.Random(1)),
                                  on_step=HangUp())
        db = await start_endpoint([spec], lambda local: SipEndpoint(local, rng=random.Random(2)),
                                  on_step=Answer())
        da.set_trace(writer.write)
        host = db.local_addresses[0]
        da.endpoint.invite(f"sip:bob@{host.host}:{host.port};transport={host.transport}",
                           now=da.clock.now())
        da.flush()
        await until(lambda: writer.frames >= 6, timeout=2.0)
        await asyncio.sleep(0.05)
        writer.close()
        await da.aclose()
        await db.aclose()
        return da.local_addresses[0], host

    a, b = run(main(), timeout=4.0)
    capture = read_capture(path)
    names = [getattr(m.message, "method", None) or m.message.status for m in capture.messages]
    assert [n for n in names if n != 100] == ["INVITE", 180, 200, "ACK", "BYE", 200]
    sent = [m for m in capture.messages if m.src == a]
    assert [m.message.method for m in sent] == ["INVITE", "ACK", "BYE"]
    assert all(m.dst == b for m in sent)
    assert all(m.src == b and m.dst == a for m in capture.messages if m not in sent)
