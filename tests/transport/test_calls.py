"""End to end: two real ``SipEndpoint``s complete INVITE/180/200/ACK/BYE/200 calls
over the loopback network (virtual time, with loss) and over real UDP and TCP
sockets on 127.0.0.1 and ::1, on both event loops."""

from __future__ import annotations

import random
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.clock import VirtualClock
from sipflow.sip import events as ev
from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address
from sipflow.transport.bind import start_endpoint
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.loopback import DELIVERED, DROPPED, LoopbackNetwork


class Callee:
    """UAS application: 180 then 200 to every INVITE, 200 to every BYE."""

    def __init__(self) -> None:
        self.events: list[ev.UAEvent] = []

    def __call__(self, driver: EndpointDriver) -> None:
        now = driver.clock.now()
        for event in driver.endpoint.take_events():
            self.events.append(event)
            if isinstance(event, ev.RequestReceived) and event.method in ("INVITE", "BYE"):
                if event.method == "INVITE":
                    driver.endpoint.respond(event.request_id, 180, now=now)
                driver.endpoint.respond(event.request_id, 200, now=now)

    def methods(self) -> list[str]:
        return [e.method for e in self.events if isinstance(e, ev.RequestReceived)]


class Caller:
    """UAC application: BYE as soon as the INVITE is answered with 200."""

    def __init__(self) -> None:
        self.events: list[ev.UAEvent] = []

    def __call__(self, driver: EndpointDriver) -> None:
        for event in driver.endpoint.take_events():
            self.events.append(event)
            if (isinstance(event, ev.ResponseReceived) and event.method == "INVITE"
                    and event.code == 200):
                driver.endpoint.request(event.handle, "BYE", now=driver.clock.now())

    def responses(self, handle: str | None = None) -> list[tuple[str, int]]:
        return [(e.method, e.code) for e in self.events
                if isinstance(e, ev.ResponseReceived) and handle in (None, e.handle)]

    def completed(self, handle: str) -> bool:
        got = self.responses(handle)
        return ("INVITE", 200) in got and ("BYE", 200) in got and any(
            isinstance(e, ev.DialogTerminated) and e.handle == handle for e in self.events)


def sip_uri(addr: Address, user: str = "bob") -> str:
    host = f"[{addr.host}]" if ":" in addr.host else addr.host
    params = "" if addr.transport == "udp" else f";transport={addr.transport}"
    return f"sip:{user}@{host}:{addr.port}{params}"


def first_lines(trace, outcome=DELIVERED) -> list[str]:
    out = []
    for record in trace:
        if record.outcome == outcome:
            message = parse_message(record.data)
            out.append(getattr(message, "method", None) or str(message.status))
    return out


def without_trying(lines: list[str]) -> list[str]:
    """The core may or may not send 100 Trying when it answers at once; ignore it."""
    return [line for line in lines if line != "100"]


# ----------------------------------------------------------------- loopback


def loopback_pair(transport: str = "udp", **net_args):
    clock = VirtualClock()
    net = LoopbackNetwork(clock, **net_args)
    a = Address(transport, "10.0.0.1", 5060)
    b = Address(transport, "10.0.0.2", 5060)
    caller, callee = Caller(), Callee()
    da = net.attach(SipEndpoint(a, rng=random.Random(1)), a, on_step=caller)
    db = net.attach(SipEndpoint(b, rng=random.Random(2)), b, on_step=callee)
    return clock, net, da, db, caller, callee


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_loopback_call_completes_in_virtual_time(transport):
    clock, net, da, db, caller, callee = loopback_pair(transport, delay=0.01)
    handle = da.endpoint.invite(sip_uri(db.local_addresses[0]), now=clock.now())
    da.flush()
    clock.advance(1.0)
    assert caller.completed(handle)
    assert caller.responses() == [("INVITE", 180), ("INVITE", 200), ("BYE", 200)]
    assert callee.methods() == ["INVITE", "ACK", "BYE"]
    assert without_trying(first_lines(net.trace)) == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    clock.run_until_idle()  # the transactions' wait timers (Timer K/J …) drain
    assert da.endpoint.counts()["dialogs"] == 0 and db.endpoint.counts()["dialogs"] == 0
    assert da.endpoint.next_deadline() is None and db.endpoint.next_deadline() is None


def test_loopback_tcp_never_retransmits_even_with_loss_configured():
    clock, net, da, db, caller, callee = loopback_pair("tcp", loss=0.5, delay=0.01, seed=4)
    handle = da.endpoint.invite(sip_uri(db.local_addresses[0]), now=clock.now())
    da.flush()
    clock.run_until_idle()
    assert caller.completed(handle)
    assert without_trying(first_lines(net.trace)) == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    assert net.counts[DROPPED] == 0


def test_every_call_completes_with_five_percent_loss():
    clock, net, da, db, caller, callee = loopback_pair("udp", loss=0.05, delay=0.02,
                                                      jitter=0.01, seed=11)
    target = sip_uri(db.local_addresses[0])
    handles = []
    for i in range(40):  # spread the calls over a few seconds of virtual time
        clock.call_at(i * 0.1, lambda: (handles.append(
            da.endpoint.invite(target, now=clock.now())), da.flush()))
    started = time.perf_counter()
    clock.run_until_idle()
    wall = time.perf_counter() - started
    assert len(handles) == 40
    assert all(caller.completed(h) for h in handles)
    assert net.counts[DROPPED] > 0  # loss really happened …
    assert first_lines(net.trace, DROPPED)  # … and retransmissions covered it
    assert wall < 2.0
    assert da.endpoint.counts()["dialogs"] == 0 and db.endpoint.counts()["dialogs"] == 0


def test_timer_b_of_32_seconds_runs_in_virtual_time():
    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    a = Address("udp", "10.0.0.1", 5060)
    caller = Caller()
    da = net.attach(SipEndpoint(a, rng=random.Random(1)), a, on_step=caller)
    handle = da.endpoint.invite("sip:nobody@10.0.0.99:5060", now=clock.now())
    da.flush()
    started = time.perf_counter()
    clock.run_until_idle()
    assert time.perf_counter() - started < 1.0
    timeouts = [e for e in caller.events if isinstance(e, ev.Timeout)]
    assert [(e.handle, e.timer, e.method) for e in timeouts] == [(handle, "B", "INVITE")]
    invites = [r for r in net.trace if r.data.startswith(b"INVITE")]
    assert len(invites) == 7  # Timer A: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s
    assert [r.sent for r in invites] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert clock.now() >= 32.0


# ------------------------------------------------------------ real sockets


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


NO_V6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")


@pytest.mark.parametrize(
    "spec",
    ["udp:127.0.0.1:0", "tcp:127.0.0.1:0",
     pytest.param("udp:[::1]:0", marks=NO_V6), pytest.param("tcp:[::1]:0", marks=NO_V6)],
)
def test_two_endpoints_complete_calls_over_real_sockets(run, until, spec):
    async def main():
        caller, callee = Caller(), Callee()
        da = await start_endpoint([spec], lambda local: SipEndpoint(local, rng=random.Random(1)),
                                  on_step=caller)
        db = await start_endpoint([spec], lambda local: SipEndpoint(local, rng=random.Random(2)),
                                  on_step=callee)
        target = sip_uri(db.local_addresses[0])
        handles = []
        for _ in range(3):
            handles.append(da.endpoint.invite(target, now=da.clock.now()))
            da.flush()
        await until(lambda: all(caller.completed(h) for h in handles), timeout=2.0)
        assert sorted(callee.methods()) == ["ACK"] * 3 + ["BYE"] * 3 + ["INVITE"] * 3
        for h in handles:
            assert caller.responses(h) == [("INVITE", 180), ("INVITE", 200), ("BYE", 200)]
        if spec.startswith("tcp"):  # one connection each way, reused by all calls
            assert len(da.transports[0].connections) == 1
        await da.aclose()
        await db.aclose()

    run(main(), timeout=4.0)


def test_refused_tcp_connection_reaches_the_core_as_an_event(run, until):
    async def main():
        caller = Caller()
        da = await start_endpoint(["tcp:127.0.0.1:0"],
                                  lambda local: SipEndpoint(local, rng=random.Random(1)),
                                  on_step=caller)
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        handle = da.endpoint.invite(f"sip:bob@127.0.0.1:{port};transport=tcp",
                                    now=da.clock.now())
        da.flush()
        await until(lambda: any(isinstance(e, ev.TransportError) for e in caller.events))
        failure = next(e for e in caller.events if isinstance(e, ev.TransportError))
        assert (failure.handle, failure.method) == (handle, "INVITE")
        await da.aclose()

    run(main())


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), loss=st.floats(0.0, 0.1),
       delay=st.floats(0.0, 0.2), jitter=st.floats(0.0, 0.1))
def test_a_call_completes_for_any_seed_and_moderate_loss(seed, loss, delay, jitter):
    clock, net, da, db, caller, callee = loopback_pair("udp", loss=loss, delay=delay,
                                                      jitter=jitter, seed=seed)
    handle = da.endpoint.invite(sip_uri(db.local_addresses[0]), now=clock.now())
    da.flush()
    clock.run_until_idle()
    assert caller.completed(handle), (net.counts, first_lines(net.trace, DROPPED))
    assert callee.methods().count("INVITE") == 1  # retransmissions never became events
