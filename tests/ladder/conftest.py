"""Fixtures of the ladder tests: a real call between two SipEndpoints on the loopback network."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from sipflow.clock import VirtualClock
from sipflow.sip import events as ev
from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.types import Address
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.loopback import LoopbackNetwork, TraceRecord


class Callee:
    """UAS application: 180 then 200 to INVITE, 200 to BYE."""

    def __call__(self, driver: EndpointDriver) -> None:
        now = driver.clock.now()
        for event in driver.endpoint.take_events():
            if isinstance(event, ev.RequestReceived) and event.method in ("INVITE", "BYE"):
                if event.method == "INVITE":
                    driver.endpoint.respond(event.request_id, 180, now=now)
                driver.endpoint.respond(event.request_id, 200, now=now)


class Caller:
    """UAC application: BYE once the INVITE got its 200."""

    def __call__(self, driver: EndpointDriver) -> None:
        for event in driver.endpoint.take_events():
            if (isinstance(event, ev.ResponseReceived) and event.method == "INVITE"
                    and event.code == 200):
                driver.endpoint.request(event.handle, "BYE", now=driver.clock.now())


@dataclass
class Call:
    a: Address
    b: Address
    trace: list[TraceRecord]
    network: LoopbackNetwork


def run_call(transport: str = "udp", family: int = 4, **net_args: object) -> Call:
    clock = VirtualClock()
    net = LoopbackNetwork(clock, **net_args)  # type: ignore[arg-type]
    hosts = ("10.0.0.1", "10.0.0.2") if family == 4 else ("fd00::1", "fd00::2")
    a, b = Address(transport, hosts[0], 5060), Address(transport, hosts[1], 5062)
    da = net.attach(SipEndpoint(a, rng=random.Random(1)), a, on_step=Caller())
    net.attach(SipEndpoint(b, rng=random.Random(2)), b, on_step=Callee())
    host = f"[{b.host}]" if family == 6 else b.host
    params = "" if transport == "udp" else f";transport={transport}"
    da.endpoint.invite(f"sip:bob@{host}:{b.port}{params}", now=clock.now())
    da.flush()
    clock.run_until_idle()
    return Call(a, b, net.trace, net)


@pytest.fixture
def call():
    return run_call
