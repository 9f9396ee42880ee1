"""``sipflow call``'s linger after the last call, in virtual time over the loopback backend.

A scripted busy callee answers every INVITE with 486 and "loses" the first
ACK of the last call: it retransmits the 486 like a real UAS (T1, doubling).
The caller's run is over when the 486 arrives; only the linger keeps its
INVITE client transaction (Completed, Timer D) alive to ACK the
retransmission. A clean run against ``uas_call`` holds nothing and does not
linger at all.
"""

from __future__ import annotations

import random

from sipflow.app.linger import CAP, QUIET, Linger, quiet_window
from sipflow.app.load import CallGenerator
from sipflow.backends.loopback import LoopbackBackend
from sipflow.clock import VirtualClock
from sipflow.runtime.runtime import Runtime
from sipflow.sip.message import Request
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.types import Address
from sipflow.transport.loopback import LoopbackNetwork

CALLER = "udp:10.0.0.1:5060"
CALLEE = Address("udp", "10.0.0.2", 5060)
TARGET = "sip:bob@10.0.0.2:5060"


class BusyCallee:
    """Answers INVITEs with 486 (retransmitted until ACKed); ignores the first ACK of
    the calls named in ``lose_first_ack``."""

    def __init__(self, net: LoopbackNetwork, clock: VirtualClock,
                 lose_first_ack: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.clock = clock
        self.port = net.bind(CALLEE)
        self.port.on_receive = self.receive
        self.lose_first_ack = set(lose_first_ack)
        self.invites: list[str] = []
        self.acks: dict[str, list[float]] = {}
        self.sent_486: dict[str, list[float]] = {}
        self._pending: dict[str, tuple[bytes, Address, float]] = {}

    def receive(self, data: bytes, source: Address) -> None:
        message = parse_message(data)
        assert isinstance(message, Request)
        call_id = message.headers.get("Call-ID")
        if message.method == "INVITE":
            if call_id in self.sent_486:
                return  # a retransmitted INVITE: our timer resends the 486
            self.invites.append(call_id)
            response = make_response(message, 486)
            response.headers.set("To", f"{message.headers.get('To')};tag=busy{len(self.invites)}")
            wire = response.serialize()
            self.sent_486[call_id] = []
            self._send(call_id, wire, source, 0.5)
        elif message.method == "ACK":
            self.acks.setdefault(call_id, []).append(self.clock.now())
            index = self.invites.index(call_id)
            if index in self.lose_first_ack and len(self.acks[call_id]) == 1:
                return  # "lost": the 486 goes on being retransmitted
            self._pending.pop(call_id, None)

    def _send(self, call_id: str, wire: bytes, dest: Address, interval: float) -> None:
        self.sent_486[call_id].append(self.clock.now())
        self.port.send(wire, dest)
        self._pending[call_id] = (wire, dest, interval)
        self.clock.call_at(self.clock.now() + interval, lambda: self._again(call_id))

    def _again(self, call_id: str) -> None:
        pending = self._pending.get(call_id)
        if pending is not None and len(self.sent_486[call_id]) < 8:
            wire, dest, interval = pending
            self._send(call_id, wire, dest, min(interval * 2, 4.0))


def caller(net: LoopbackNetwork, clock: VirtualClock) -> tuple[Runtime, LoopbackBackend]:
    backend = LoopbackBackend(clock, network=net, rng=random.Random(7))
    runtime = Runtime(["uac_call"], None, clock, backend)
    backend.open([CALLER], runtime.deliver)
    return runtime, backend


def run_until(clock: VirtualClock, done, limit: float = 120.0) -> None:
    while not done() and clock.now() < limit:
        deadline = clock.next_deadline()
        if deadline is None:
            break
        clock.advance(max(deadline - clock.now(), 0.0))
    assert done()


def place(runtime: Runtime, clock: VirtualClock, count: int) -> CallGenerator:
    gen = CallGenerator(runtime, clock, count=count, rate=10.0, call_params={"target": TARGET})
    gen.start()
    run_until(clock, lambda: gen.done)
    return gen


def test_a_lost_ack_to_a_486_is_acked_again_before_the_linger_ends() -> None:
    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.005)
    callee = BusyCallee(net, clock, lose_first_ack={2})
    runtime, backend = caller(net, clock)
    gen = place(runtime, clock, 3)
    assert gen.stats.failures == {"486 Busy Here": 3}
    last = callee.invites[2]
    assert len(callee.acks.get(last, [])) <= 1  # the run ends on the 486: its ACK is in flight

    linger = Linger(backend, clock)
    linger.start()
    assert linger.held == 3  # three INVITE client transactions in Completed (Timer D)
    run_until(clock, lambda: linger.done)
    # the 486 came again 0.5 s after the first and was ACKed again at once
    assert len(callee.acks[last]) == 2
    assert callee.acks[last][1] - callee.sent_486[last][1] < 0.02
    assert linger.arrivals == 1
    # then nothing more arrived: it ended when the callee's next retransmission (1 s later,
    # had our ACK been lost again) plus the margin had passed
    assert linger.reason == "quiet"
    assert abs(linger.ended - (callee.sent_486[last][1] + 0.005 + quiet_window(1))) <= 0.11
    assert linger.elapsed < CAP
    assert "ended: quiet" in linger.summary()
    # and it unhooked itself: what arrives now goes to the driver as before
    assert all(t.on_receive == backend.driver.receive for t in backend.driver.transports)


def test_a_clean_run_does_not_linger() -> None:
    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.005)
    callee = LoopbackBackend(clock, network=net, rng=random.Random(3))
    uas = Runtime(["uas_call"], None, clock, callee)
    callee.open([str(CALLEE)], uas.deliver)
    runtime, backend = caller(net, clock)
    gen = place(runtime, clock, 5)
    assert (gen.stats.passed, gen.stats.failed) == (5, 0)
    assert backend.counts().get("invite_client")  # Accepted (Timer M): not owed an answer
    linger = Linger(backend, clock)
    before = clock.now()
    linger.start()
    assert linger.done and linger.reason == "idle" and linger.held == 0
    assert clock.now() == before and linger.elapsed == 0.0
    assert "exiting at once" in linger.summary()


def test_a_peer_bye_whose_200_may_be_lost_is_waited_for() -> None:
    # The callee hangs up: our 200 to its BYE leaves a non-INVITE server transaction
    # in Completed (Timer J), which must stay to answer a retransmitted BYE.
    clock = VirtualClock()
    net = LoopbackNetwork(clock, delay=0.005)
    callee = LoopbackBackend(clock, network=net, rng=random.Random(3))
    uas = Runtime(["uas_call"], None, clock, callee)
    callee.open([str(CALLEE)], uas.deliver)
    runtime, backend = caller(net, clock)
    gen = CallGenerator(runtime, clock, count=1, duration=30.0, call_params={"target": TARGET})
    gen.start()
    run_until(clock, lambda: bool(uas.sessions) and next(iter(uas.sessions)).state == "Active")
    uas.dispatch(next(iter(uas.sessions)), "HangUp")
    run_until(clock, lambda: gen.done)
    linger = Linger(backend, clock)
    linger.start()
    assert linger.held == 1
    run_until(clock, lambda: linger.done)
    assert linger.reason == "quiet"
    assert quiet_window(0) - 0.01 <= linger.elapsed <= quiet_window(0) + 0.11


def test_the_cap_and_stop_end_a_linger() -> None:
    clock = VirtualClock()
    chatty = Linger(object(), clock, cap=1.0, count=lambda _: 1)
    chatty.start()
    run_until(clock, lambda: chatty.done)
    assert chatty.reason == "cap" and 1.0 <= chatty.elapsed <= 1.11
    stopped = Linger(object(), clock, count=lambda _: 1)
    stopped.start()
    clock.advance(0.3)
    stopped.stop()
    assert stopped.done and stopped.reason == "stopped"
    assert clock.next_deadline() is None  # its check timer was cancelled


def test_the_quiet_window_follows_a_peers_retransmission_intervals() -> None:
    # T1 = 0.5 s doubling to T2 = 4 s, plus 1 s of margin; 2 s before anything arrived
    assert [quiet_window(n) for n in range(5)] == [2.0, 3.0, 5.0, 5.0, 5.0]
    assert quiet_window(10 ** 6) == QUIET == 5.0
    assert quiet_window(3, longest=0.5) == 0.5
