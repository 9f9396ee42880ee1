"""Overload control: the gate's decisions in virtual time, and the cheap stateless 503.

The gate is fed measured delays (``update``) or fake probes; the stateless path
is fed real INVITE bytes and its 503 is read back with sipflow's own parser.
"""

from __future__ import annotations

import re

import pytest

from sipflow.app.overload import CALM, OverloadGate
from sipflow.app.shed import StatelessReject, reject_503
from sipflow.clock import VirtualClock
from sipflow.sip.message import Response
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address

SOURCE = Address("udp", "127.0.0.1", 5061)


def invite(branch: str = "z9hG4bK-1-1-0", to_tag: str = "", via: str = "", extra: str = "",
           rport: bool = False) -> bytes:
    via = via or f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}{';rport' if rport else ''}"
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    head = (f"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n{via}\r\n"
            f"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKproxy\r\n"
            f"From: sipp <sip:sipp@127.0.0.1:5061>;tag=1SIPpTag001\r\n"
            f"To: service <sip:service@127.0.0.1:5060>{';tag=' + to_tag if to_tag else ''}\r\n"
            f"Call-ID: 1-42@127.0.0.1\r\nCSeq: 1 INVITE\r\n{extra}"
            f"Contact: sip:sipp@127.0.0.1:5061\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class FakeProbe:
    def __init__(self) -> None:
        self.delay = 0.0
        self.pings = 0
        self.closed = False

    def ping(self) -> None:
        self.pings += 1

    def close(self) -> None:
        self.closed = True


def test_busy_turns_on_above_the_threshold_and_off_below_half_of_it() -> None:
    clock = VirtualClock()
    changes: list[tuple[bool, str]] = []
    gate = OverloadGate([FakeProbe()], clock, threshold=0.1,
                        on_change=lambda busy, g: changes.append((busy, g.describe())))
    for delay, busy in [(0.05, False), (0.1, False), (0.101, True), (0.08, True),
                        (0.051, True), (0.049, False), (0.09, False), (0.2, True)]:
        gate.update(delay)
        assert gate.busy is busy, delay
    # one episode: busy flapped, but never stayed off for CALM seconds
    assert gate.episodes == 1 and len(changes) == 1
    assert changes[0] == (True, "overload: requests wait 101 ms in the receive queue "
                                "(limit 100 ms): new INVITEs get 503 until it is below 50 ms")


def test_refuse_says_yes_only_while_busy_and_counts() -> None:
    gate = OverloadGate([FakeProbe()], VirtualClock(), threshold=0.1)
    assert [gate.refuse() for _ in range(3)] == [False] * 3 and gate.refused == 0
    gate.update(0.2)
    assert [gate.refuse() for _ in range(3)] == [True] * 3 and gate.refused == 3
    gate.update(0.01)
    assert gate.refuse() is False and gate.refused == 3


def test_an_episode_ends_after_calm_seconds_and_reports_what_was_refused() -> None:
    clock = VirtualClock()
    changes: list[dict] = []
    gate = OverloadGate([FakeProbe()], clock, threshold=0.1,
                        on_change=lambda busy, g: changes.append(g.record()))
    gate.update(0.3)
    for _ in range(7):
        gate.refuse()
    clock.advance(2.0)
    gate.update(0.01)  # off: calm from now on
    clock.advance(CALM - 0.1)
    gate.update(0.01)
    assert gate.in_episode and len(changes) == 1
    clock.advance(0.1)
    gate.update(0.01)
    assert not gate.in_episode and not gate.busy
    assert changes == [
        {"event": "overload", "delay_ms": 300.0, "limit_ms": 100},
        {"event": "overload_over", "delay_ms": 10.0, "limit_ms": 100, "duration_s": 2.0,
         "refused": 7, "peak_ms": 300.0}]
    assert gate.describe() == ("overload over after 2.0 s: 7 INVITEs answered 503, "
                               "longest wait 300 ms")
    gate.update(0.5)  # a second episode counts its own refusals
    gate.refuse()
    gate.refuse()
    clock.advance(0.5)
    gate.update(0.0)
    clock.advance(CALM)
    gate.update(0.0)
    assert gate.episodes == 2 and changes[-1]["refused"] == 2


def test_the_gate_samples_its_probes_on_the_clock_and_stops() -> None:
    clock = VirtualClock()
    slow, fast = FakeProbe(), FakeProbe()
    gate = OverloadGate([slow, fast], clock, threshold=0.1, interval=0.02)
    gate.start()
    clock.advance(0.1)
    assert slow.pings == fast.pings == 6  # at 0, 0.02 … 0.1
    slow.delay = 0.25  # the worst probe decides
    clock.advance(0.02)
    assert gate.busy and gate.delay == 0.25
    gate.stop()
    assert not gate.busy and slow.closed and fast.closed
    assert clock.next_deadline() is None


@pytest.mark.parametrize("threshold, probes", [(0.0, 1), (0.1, 0)])
def test_a_disabled_gate_does_nothing(threshold: float, probes: int) -> None:
    clock = VirtualClock()
    gate = OverloadGate([FakeProbe() for _ in range(probes)], clock, threshold=threshold)
    assert not gate.enabled
    gate.start()
    assert clock.next_deadline() is None and not gate.busy


# -- the stateless 503 ----------------------------------------------------------------


def test_the_503_answers_the_invite_statelessly() -> None:
    wire = reject_503(invite(rport=True), SOURCE, b"ovl123", b"1")
    assert wire is not None
    response = parse_message(wire)
    assert isinstance(response, Response)
    request = parse_message(invite())
    assert (response.status, response.reason) == (503, "Service Unavailable")
    assert response.headers.get("Retry-After") == "1"
    assert response.headers.get("Call-ID") == request.headers.get("Call-ID")
    assert response.headers.get("CSeq") == "1 INVITE"
    assert response.from_tag == request.from_tag
    assert response.to_tag == "ovl123"
    vias = response.headers.get_all("Via")
    assert len(vias) == 2 and vias[1] == "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKproxy"
    top = response.top_via
    assert top.branch == "z9hG4bK-1-1-0"
    assert top.params["rport"] == "5061" and top.params["received"] == "127.0.0.1"
    assert response.headers.get("Content-Length") == "0" and response.body == b""


def test_received_is_added_when_sent_by_differs() -> None:
    wire = reject_503(invite(via="Via: SIP/2.0/UDP sipp.example:5061;branch=z9hG4bKx"),
                      SOURCE, b"t", b"1")
    assert wire is not None
    top = parse_message(wire).top_via
    assert top.params.get("received") == "127.0.0.1" and "rport" not in top.params
    same = reject_503(invite(), SOURCE, b"t", b"1")
    assert same is not None and b"received=" not in same


@pytest.mark.parametrize("data", [
    invite(to_tag="abc"),  # in a dialog: a re-INVITE
    invite(via="Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKa, SIP/2.0/UDP h;branch=z9hG4bKb"),
    invite(extra="Subject: folded\r\n  over two lines\r\n"),
    invite().replace(b"Call-ID: 1-42@127.0.0.1\r\n", b""),
    invite().replace(b"\r\n\r\n", b"\r\n"),
    invite().replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS"),
    invite(via="Via: garbage"),
])
def test_anything_unusual_is_left_to_the_full_stack(data: bytes) -> None:
    assert reject_503(data, SOURCE, b"t", b"1") is None


class FakeTransport:
    def __init__(self) -> None:
        self.local = Address("udp", "127.0.0.1", 5060)
        self.sent: list[tuple[bytes, Address]] = []
        self.passed: list[bytes] = []
        self.on_receive = lambda data, source: self.passed.append(data)

    def send(self, data: bytes, dest: Address) -> None:
        self.sent.append((data, dest))


def force_busy(gate: OverloadGate) -> None:
    """Late requests: every new INVITE is refused."""
    gate.update(1.0)


def shed_pair(window: float = 8.0):
    clock = VirtualClock()
    gate = OverloadGate([FakeProbe()], clock, threshold=0.1)
    transport = FakeTransport()
    shed = StatelessReject(gate, [transport], clock, window=window)
    shed.install()
    return clock, gate, transport, shed


def test_new_invites_get_503_only_while_busy_and_their_acks_are_dropped() -> None:
    clock, gate, transport, shed = shed_pair()
    transport.on_receive(invite(branch="z9hG4bK-a"), SOURCE)
    assert len(transport.passed) == 1 and not transport.sent  # not busy: to the SIP core
    force_busy(gate)
    transport.on_receive(invite(branch="z9hG4bK-b"), SOURCE)
    assert len(transport.passed) == 1 and len(transport.sent) == 1
    wire, dest = transport.sent[0]
    assert dest == SOURCE and wire.startswith(b"SIP/2.0 503 ")
    assert gate.refused == shed.sent == 1
    tag = re.search(rb"To: [^\r]*;tag=(\w+)", wire).group(1)
    assert tag == shed.tag
    # its ACK (To with our tag) never reaches the SIP core; other ACKs do
    ack = (b"ACK sip:service@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;"
           b"branch=z9hG4bK-b\r\nTo: <sip:service@127.0.0.1>;tag=" + tag + b"\r\n\r\n")
    transport.on_receive(ack, SOURCE)
    assert shed.acks_dropped == 1 and len(transport.passed) == 1
    transport.on_receive(ack.replace(tag, b"other"), SOURCE)
    assert len(transport.passed) == 2
    # a retransmission of the refused INVITE gets the same 503 again, even once the
    # overload is over (admitting it now would follow the 503 with a 200)
    gate.update(0.0)
    assert not gate.busy
    transport.on_receive(invite(branch="z9hG4bK-b"), SOURCE)
    assert transport.sent[1][0] == wire and gate.refused == 1 and shed.sent == 2
    force_busy(gate)
    # other requests and responses pass untouched, busy or not
    transport.on_receive(b"BYE sip:x SIP/2.0\r\n\r\n", SOURCE)
    transport.on_receive(b"SIP/2.0 200 OK\r\n\r\n", SOURCE)
    assert len(transport.passed) == 4


def test_a_retransmitted_invite_of_an_admitted_call_is_never_refused() -> None:
    clock, gate, transport, shed = shed_pair(window=8.0)
    transport.on_receive(invite(branch="z9hG4bK-admitted"), SOURCE)
    force_busy(gate)
    clock.advance(7.9)  # within the window: its transaction answers it
    transport.on_receive(invite(branch="z9hG4bK-admitted"), SOURCE)
    assert len(transport.passed) == 2 and not transport.sent
    clock.advance(16.2)  # two windows later it is forgotten
    transport.on_receive(invite(branch="z9hG4bK-admitted"), SOURCE)
    assert len(transport.sent) == 1


def test_an_invite_the_fast_path_cannot_read_goes_on_even_while_busy() -> None:
    clock, gate, transport, shed = shed_pair()
    force_busy(gate)
    transport.on_receive(invite(branch="z9hG4bK-t", to_tag="x"), SOURCE)  # re-INVITE
    transport.on_receive(invite(via="Via: SIP/2.0/UDP 127.0.0.1:5061;branch=old2543"), SOURCE)
    assert len(transport.passed) == 2 and not transport.sent


def test_uninstall_restores_the_transport() -> None:
    clock, gate, transport, shed = shed_pair()
    wrapped = transport.on_receive
    assert gate.fast_path
    shed.uninstall()
    assert transport.on_receive is not wrapped and not gate.fast_path
    force_busy(gate)
    transport.on_receive(invite(), SOURCE)
    assert len(transport.passed) == 1 and not transport.sent
    assert clock.next_deadline() is None


def test_the_backend_refuses_new_invites_while_busy_with_the_full_stack_too() -> None:
    """With ``-v``/``--trace`` (no stateless path), or an INVITE it cannot read, the backend
    answers 503 before any session: the caller's call fails with it, the callee has none."""
    import random

    from sipflow.app.load import CallGenerator
    from sipflow.backends.loopback import LoopbackBackend
    from sipflow.runtime.runtime import Runtime
    from sipflow.transport.loopback import LoopbackNetwork

    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.005)
    callee = LoopbackBackend(clock, network=net, rng=random.Random(1))
    uas = Runtime(["uas_call"], None, clock, callee)
    callee.open(["udp:10.0.0.2:5060"], uas.deliver)
    gate = OverloadGate([FakeProbe()], clock, threshold=0.1)
    callee.overload = gate
    caller = LoopbackBackend(clock, network=net, rng=random.Random(2))
    uac = Runtime(["uac_call"], None, clock, caller)
    caller.open(["udp:10.0.0.1:5060"], uac.deliver)
    started: list[str] = []
    uas.subscribe(lambda session, name, data: started.append(name))

    def place(count: int) -> CallGenerator:
        gen = CallGenerator(uac, clock, count=count, call_params={"target": "sip:b@10.0.0.2"})
        gen.start()
        while not gen.done:
            clock.advance(max(clock.next_deadline() - clock.now(), 0.0))
        return gen

    force_busy(gate)
    refused = place(3)
    assert refused.stats.failures == {"503 Service Unavailable": 3}
    assert gate.refused == 3 and started == []  # no callee session was ever opened
    gate.fast_path = True  # a stateless path decides before the backend: it leaves them be
    admitted = place(2)
    assert (admitted.stats.passed, admitted.stats.failed) == (2, 0) and gate.refused == 3
    gate.fast_path = False
    gate.update(0.0)  # on time again
    again = place(2)
    assert (again.stats.passed, again.stats.failed) == (2, 0) and gate.refused == 3
