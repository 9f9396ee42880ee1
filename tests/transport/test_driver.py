"""EndpointDriver: one clock callback, routing by transport and family, the step hook."""

from __future__ import annotations

import logging

import pytest

from sipflow.clock import VirtualClock
from sipflow.sip.types import Address, Transmit
from sipflow.transport.base import TransportError, drop_unattached, log_error
from sipflow.transport.driver import EndpointDriver


class FakeTransport:
    def __init__(self, local: Address) -> None:
        self.local = local
        self.sent: list[tuple[bytes, Address]] = []
        self.on_receive = drop_unattached
        self.on_error = log_error
        self.closed = False

    def send(self, data: bytes, dest: Address) -> None:
        self.sent.append((data, dest))

    def close(self) -> None:
        self.closed = True


class CountingClock(VirtualClock):
    """A VirtualClock that counts live (not cancelled) scheduled callbacks."""

    def live(self) -> int:
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)


A4 = Address("udp", "127.0.0.1", 5060)
A6 = Address("udp", "::1", 5060)
T4 = Address("tcp", "127.0.0.1", 5060)


def make(echo, clock=None, **kwargs):
    clock = clock or CountingClock()
    endpoint = echo()
    transports = [FakeTransport(A4), FakeTransport(A6), FakeTransport(T4)]
    driver = EndpointDriver(endpoint, clock, transports, **kwargs)
    return clock, endpoint, transports, driver


def test_receive_feeds_endpoint_with_clock_time_and_routes_answer(echo):
    clock, endpoint, (u4, u6, t4), driver = make(echo)
    clock.advance(3.5)
    src = Address("udp", "192.0.2.1", 5070)
    u4.on_receive(b"hello", src)  # the driver wired itself to the transport
    assert endpoint.received == [(b"hello", src, 3.5)]
    assert u4.sent == [(b"echo:hello", src)]
    assert u6.sent == [] and t4.sent == []
    assert driver.sent == 1


def test_routing_by_transport_and_family(echo):
    clock, endpoint, (u4, u6, t4), driver = make(echo)
    endpoint.outbox = [
        Transmit(b"1", Address("udp", "192.0.2.9", 1)),
        Transmit(b"2", Address("udp", "2001:db8::9", 2)),
        Transmit(b"3", Address("tcp", "192.0.2.9", 3)),
        Transmit(b"4", Address("udp", "fe80::1%eth0", 4)),
        Transmit(b"5", Address("udp", "sip.example.com", 5)),
    ]
    driver.flush()
    assert [d for d, _ in u4.sent] == [b"1", b"5"]
    assert [d for d, _ in u6.sent] == [b"2", b"4"]
    assert [d for d, _ in t4.sent] == [b"3"]


def test_no_route_is_reported_not_raised(echo):
    errors = []
    clock, endpoint, (u4, u6, t4), driver = make(echo, on_error=lambda d, e: errors.append((d, e)))
    dest = Address("tcp", "2001:db8::1", 5060)
    endpoint.outbox = [Transmit(b"x", dest)]
    driver.flush()
    assert len(errors) == 1
    assert errors[0][0] == dest
    assert isinstance(errors[0][1], TransportError)
    assert "no tcp transport for tcp:[2001:db8::1]:5060" in str(errors[0][1])


def test_exactly_one_clock_callback_rescheduled_on_change(echo):
    clock, endpoint, (u4, *_), driver = make(echo)
    endpoint.deadlines = [10.0, 20.0, 30.0]
    driver.flush()
    assert clock.live() == 1 and clock.next_deadline() == 10.0
    for _ in range(5):  # steps with an unchanged deadline keep the one callback
        u4.on_receive(b"quiet", A4)
    assert clock.live() == 1
    endpoint.deadlines.append(2.0)  # an earlier deadline replaces the callback
    u4.on_receive(b"quiet", A4)
    assert clock.live() == 1 and clock.next_deadline() == 2.0
    clock.run_until_idle()
    assert endpoint.fired == [2.0, 10.0, 20.0, 30.0]
    assert clock.live() == 0


def test_a_later_deadline_keeps_the_earlier_callback_which_then_moves_to_it(echo):
    clock, endpoint, (u4, *_), driver = make(echo)
    endpoint.deadlines = [1.0]
    driver.flush()
    scheduled = []
    original = clock.call_at

    def counting_call_at(when, callback):
        scheduled.append(when)
        return original(when, callback)

    clock.call_at = counting_call_at
    for step in range(1, 50):  # the earliest deadline moves later on every step
        endpoint.deadlines = [1.0 + step * 0.1]
        u4.on_receive(b"quiet", A4)
    assert scheduled == [] and clock.live() == 1 and clock.next_deadline() == 1.0
    clock.advance(1.0)  # an early wake-up: nothing is due, the callback moves
    assert endpoint.fired == [] and scheduled == [pytest.approx(5.9)]
    assert clock.live() == 1
    clock.run_until_idle()
    assert endpoint.fired == [pytest.approx(5.9)] and clock.live() == 0


def test_timer_transmits_are_sent_at_virtual_time(echo):
    clock, endpoint, (u4, *_), driver = make(echo)
    peer = Address("udp", "192.0.2.5", 5060)
    endpoint.tick_to = peer
    endpoint.deadlines = [32.0]  # a Timer B sized wait
    driver.flush()
    clock.advance(31.999)
    assert u4.sent == []
    clock.advance(0.001)
    assert u4.sent == [(b"tick", peer)]
    assert clock.now() == 32.0


def test_deadline_removed_cancels_callback(echo):
    clock, endpoint, _, driver = make(echo)
    endpoint.deadlines = [5.0]
    driver.flush()
    endpoint.deadlines = []
    driver.flush()
    assert clock.live() == 0
    clock.advance(10)
    assert endpoint.fired == []


def test_on_step_sees_each_step_and_its_sends_go_out_in_the_same_step(echo):
    steps = []

    def hook(driver):
        steps.append(len(driver.endpoint.received))
        if driver.endpoint.received and driver.endpoint.received[-1][0] == b"ring":
            driver.endpoint.outbox.append(Transmit(b"from-hook", A4))
            driver.flush()  # nested flush: sends, does not call the hook again
            driver.endpoint.outbox.append(Transmit(b"after-flush", A4))

    clock, endpoint, (u4, *_), driver = make(echo, on_step=hook)
    u4.on_receive(b"ring", A4)
    assert steps == [1]
    assert [d for d, _ in u4.sent] == [b"echo:ring", b"from-hook", b"after-flush"]
    endpoint.deadlines = [1.0]
    driver.flush()
    clock.run_until_idle()
    assert steps == [1, 1, 1]


def test_endpoint_and_hook_failures_are_logged_and_serving_goes_on(echo, caplog):
    def bad_hook(driver):
        raise RuntimeError("hook bug")

    clock, endpoint, (u4, *_), driver = make(echo, on_step=bad_hook)

    def explode(data, source):
        if data == b"boom":
            raise ValueError("core bug")

    endpoint.on_receive = explode
    with caplog.at_level(logging.ERROR, logger="sipflow.transport"):
        u4.on_receive(b"boom", A4)
        u4.on_receive(b"fine", A4)
    assert [d for d, _ in u4.sent] == [b"echo:fine"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("the SIP endpoint failed on 4 bytes" in m for m in messages)
    assert sum("the on_step hook failed" in m for m in messages) == 2


def test_close_cancels_timer_closes_transports_and_ignores_input(echo):
    clock, endpoint, transports, driver = make(echo)
    endpoint.deadlines = [1.0]
    driver.flush()
    driver.close()
    assert clock.live() == 0
    assert all(t.closed for t in transports)
    transports[0].on_receive(b"late", A4)
    assert endpoint.received == []
    assert driver.local_addresses == [A4, A6, T4]


def test_a_stuck_deadline_backs_off_instead_of_spinning(echo, caplog):
    clock, endpoint, _, driver = make(echo)

    class Stuck(type(endpoint)):
        def handle_timers(self, now):
            self.fired.append(now)  # never clears its deadline

    endpoint.__class__ = Stuck
    endpoint.deadlines = [1.0]
    driver.flush()
    with caplog.at_level(logging.ERROR, logger="sipflow.transport"):
        clock.advance(2.0)
    assert 1000 <= len(endpoint.fired) < 1200  # ~1000 spins, then one try per 10 ms
    assert endpoint.fired[-1] == pytest.approx(2.0, abs=0.011)
    assert sum("without progress" in r.getMessage() for r in caplog.records) == 1
    endpoint.__class__ = type(endpoint).__mro__[1]  # fixed: timers clear again
    clock.advance(0.02)
    endpoint.deadlines = [5.0]
    driver.flush()
    fired = len(endpoint.fired)
    clock.run_until_idle()
    assert endpoint.fired[fired:] == [5.0]  # exact time again, no back-off


def test_transport_failure_is_told_to_an_endpoint_that_listens(echo):
    class Listening(echo):
        def __init__(self):
            super().__init__()
            self.failed: list[tuple[Address, float]] = []

        def transport_failed(self, peer, now):
            self.failed.append((peer, now))

    steps = []
    errors = []
    clock = CountingClock()
    endpoint = Listening()
    driver = EndpointDriver(endpoint, clock, [FakeTransport(A4)],
                            on_step=lambda d: steps.append(list(d.endpoint.failed)),
                            on_error=lambda d, e: errors.append(d))
    clock.advance(2.0)
    dest = Address("tcp", "192.0.2.1", 5060)  # no tcp transport: fails inside the step
    endpoint.outbox.append(Transmit(b"x", dest))
    driver.flush()
    assert errors == [dest]
    assert endpoint.failed == [(dest, 2.0)]
    assert steps == [[(dest, 2.0)]]  # the hook saw the failure in the same step
    driver.transports[0].on_error(A4, TransportError("refused later"))  # from the loop
    assert endpoint.failed[-1] == (A4, 2.0)
    assert len(steps) == 2  # a step of its own
    driver.transports[0].on_error(None, OSError("ICMP"))  # no peer: nothing to tell
    assert len(endpoint.failed) == 2 and len(steps) == 2


def test_a_stuck_deadline_does_not_spin_a_real_loop(run, echo, until):
    import asyncio

    from sipflow.clock import AsyncioClock

    async def main():
        endpoint = echo()

        class Stuck(type(endpoint)):
            def handle_timers(self, now):
                self.fired.append(now)  # never clears its deadline

        endpoint.__class__ = Stuck
        clock = AsyncioClock()
        endpoint.deadlines = [clock.now() - 1.0]  # already due, forever
        driver = EndpointDriver(endpoint, clock, [FakeTransport(A4)])
        driver.flush()
        await until(lambda: len(endpoint.fired) >= 1000, timeout=2.0)  # the spins …
        before = len(endpoint.fired)
        await asyncio.sleep(0.1)
        later = len(endpoint.fired) - before  # … then about one try per 10 ms
        driver.close()
        return later

    later = run(main(), timeout=4.0)
    assert 1 <= later <= 12
