"""LoopbackNetwork: delivery in virtual time, seeded loss, per-direction links, ordered streams."""

from __future__ import annotations

import pytest

from sipflow.clock import VirtualClock
from sipflow.sip.types import Address, Transmit
from sipflow.transport.base import TransportError
from sipflow.transport.loopback import DELIVERED, DROPPED, UNREACHABLE, LoopbackNetwork

A = Address("udp", "10.0.0.1", 5060)
B = Address("udp", "10.0.0.2", 5060)
AT = Address("tcp", "10.0.0.1", 5060)
BT = Address("tcp", "10.0.0.2", 5060)


def pair(echo, **net_args):
    clock = VirtualClock()
    net = LoopbackNetwork(clock, **net_args)
    a, b = echo(), echo()
    da = net.attach(a, [A, AT])
    db = net.attach(b, [B, BT])
    return clock, net, a, b, da, db


def send(driver, *transmits):
    driver.endpoint.outbox.extend(transmits)
    driver.flush()


def test_delivery_after_delay_with_source_and_trace(echo):
    clock, net, a, b, da, db = pair(echo, delay=0.05)
    send(da, Transmit(b"hello", B))
    assert b.received == []  # nothing is synchronous
    clock.advance(0.049)
    assert b.received == []
    clock.run_until_idle()
    assert b.received == [(b"hello", A, 0.05)]
    assert a.received == [(b"echo:hello", B, pytest.approx(0.1))]
    assert [(r.time, r.sent, r.src, r.dst, r.data, r.outcome) for r in net.trace] == [
        (0.05, 0.0, A, B, b"hello", DELIVERED),
        (pytest.approx(0.1), 0.05, B, A, b"echo:hello", DELIVERED),
    ]
    assert all(r.delivered for r in net.trace)
    assert net.counts == {DELIVERED: 2, DROPPED: 0, UNREACHABLE: 0}


def test_zero_delay_still_goes_through_the_clock(echo):
    clock, net, a, b, da, db = pair(echo)
    send(da, Transmit(b"x", B))
    assert b.received == []
    clock.run_until_idle()
    assert b.received == [(b"x", A, 0.0)]


def run_lossy(echo, seed: int, n: int = 400) -> list[tuple]:
    clock, net, a, b, da, db = pair(echo, loss=0.3, delay=0.01, jitter=0.02, seed=seed)
    for i in range(n):
        send(da, Transmit(b"quiet%d" % i, B))
    clock.run_until_idle()
    return [(r.time, r.data, r.outcome) for r in net.trace]


def test_loss_is_seeded_and_reproducible(echo):
    first = run_lossy(echo, seed=7)
    assert first == run_lossy(echo, seed=7)
    assert first != run_lossy(echo, seed=8)
    dropped = sum(1 for _, _, outcome in first if outcome == DROPPED)
    assert 80 <= dropped <= 160  # 30 % of 400, with generous binomial slack
    assert len(first) == 400


def test_per_direction_loss(echo):
    clock, net, a, b, da, db = pair(echo)
    net.set_link(A, B, loss=1.0)  # cut A -> B only
    send(da, Transmit(b"quiet-a", B))
    send(db, Transmit(b"quiet-b", A))
    clock.run_until_idle()
    assert b.received == []
    assert [d for d, _, _ in a.received] == [b"quiet-b"]
    assert [(r.src, r.outcome) for r in net.trace] == [(A, DROPPED), (B, DELIVERED)]


def test_link_by_host_overrides_delay(echo):
    clock, net, a, b, da, db = pair(echo, delay=0.01)
    net.set_link("10.0.0.2", "10.0.0.1", delay=1.5)
    send(da, Transmit(b"quiet", B))
    send(db, Transmit(b"quiet", A))
    clock.run_until_idle()
    assert b.received[0][2] == pytest.approx(0.01)
    assert a.received[0][2] == pytest.approx(1.5)


def test_streams_are_reliable_and_ordered_despite_loss_and_jitter(echo):
    clock, net, a, b, da, db = pair(echo, loss=0.5, jitter=0.5, seed=3)
    for i in range(200):
        send(da, Transmit(b"quiet%03d" % i, BT))
    clock.run_until_idle()
    assert [d for d, _, _ in b.received] == [b"quiet%03d" % i for i in range(200)]
    assert {s for _, s, _ in b.received} == {AT}
    assert net.counts[DROPPED] == 0


def test_udp_jitter_may_reorder(echo):
    clock, net, a, b, da, db = pair(echo, jitter=0.5, seed=1)
    for i in range(50):
        send(da, Transmit(b"quiet%02d" % i, B))
    clock.run_until_idle()
    got = [d for d, _, _ in b.received]
    assert sorted(got) == [b"quiet%02d" % i for i in range(50)]
    assert got != sorted(got)


def test_unreachable_udp_is_traced_and_tcp_is_reported(echo):
    errors = []
    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    a = echo()
    da = net.attach(a, [A, AT], on_error=lambda d, e: errors.append((d, e)))
    nowhere_u = Address("udp", "10.9.9.9", 5060)
    nowhere_t = Address("tcp", "10.9.9.9", 5060)
    send(da, Transmit(b"u", nowhere_u), Transmit(b"t", nowhere_t))
    clock.run_until_idle()
    assert [(r.dst, r.outcome) for r in net.trace] == [(nowhere_u, UNREACHABLE),
                                                        (nowhere_t, UNREACHABLE)]
    assert len(errors) == 1 and errors[0][0] == nowhere_t
    assert isinstance(errors[0][1], TransportError)
    assert "nothing listens at tcp:10.9.9.9:5060" in str(errors[0][1])


def test_detached_while_in_flight_becomes_unreachable(echo):
    clock, net, a, b, da, db = pair(echo, delay=1.0)
    send(da, Transmit(b"quiet", B))
    db.close()
    clock.run_until_idle()
    assert b.received == []
    assert net.trace[-1].outcome == UNREACHABLE and net.trace[-1].time == 1.0


def test_bind_port_zero_and_duplicates(echo):
    net = LoopbackNetwork(VirtualClock())
    p1 = net.bind(Address("udp", "10.0.0.1", 0))
    p2 = net.bind(Address("udp", "10.0.0.1", 0))
    assert p1.local.port != p2.local.port and p1.local.port >= 40000
    net.bind(Address("udp", "10.0.0.1", 5060))
    with pytest.raises(ValueError, match="udp:10.0.0.1:5060 is already attached"):
        net.bind(Address("udp", "10.0.0.1", 5060))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"loss": 1.5}, "loss must be between 0 and 1"),
     ({"loss": -0.1}, "loss must be between 0 and 1"),
     ({"delay": -1.0}, "must not be negative"),
     ({"jitter": -1.0}, "must not be negative")],
)
def test_bad_parameters_are_clear_errors(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        LoopbackNetwork(VirtualClock(), **kwargs)
    net = LoopbackNetwork(VirtualClock())
    with pytest.raises(ValueError, match=fragment):
        net.set_link(A, B, **kwargs)


def test_on_trace_hook_and_record_off(echo):
    seen = []
    clock = VirtualClock()
    net = LoopbackNetwork(clock, record=False, on_trace=seen.append)
    da = net.attach(echo(), A)
    net.attach(echo(), B)
    send(da, Transmit(b"quiet", B))
    clock.run_until_idle()
    assert net.trace == []
    assert [(r.src, r.dst, r.outcome) for r in seen] == [(A, B, DELIVERED)]


def test_long_timer_runs_in_virtual_time(echo):
    import time

    clock, net, a, b, da, db = pair(echo)
    a.deadlines = [32.0]  # Timer B
    a.tick_to = B
    da.flush()
    started = time.perf_counter()
    clock.run_until_idle()
    assert time.perf_counter() - started < 0.1
    assert a.fired == [32.0]
    assert b.received == [(b"tick", A, 32.0)]


def test_link_matching_mixes_addresses_and_hosts_most_exact_first(echo):
    clock, net, a, b, da, db = pair(echo)
    net.set_link("10.0.0.1", "10.0.0.2", delay=3.0)
    net.set_link(A, "10.0.0.2", delay=2.0)
    net.set_link(A, B, delay=1.0)
    send(da, Transmit(b"quiet-udp", B), Transmit(b"quiet-tcp", BT))
    clock.run_until_idle()
    assert [(d, t) for d, _, t in b.received] == [(b"quiet-udp", 1.0), (b"quiet-tcp", 3.0)]
    net.set_link(AT, "10.0.0.2", delay=0.5)
    send(da, Transmit(b"quiet-tcp2", BT))
    clock.run_until_idle()
    assert b.received[-1][2] == pytest.approx(3.5)


def test_start_endpoint_binds_specs_first_then_builds_the_endpoint(echo):
    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    built = []

    def make(addresses):
        built.append(addresses)
        return echo(addresses)

    d1 = net.start_endpoint(["udp:10.0.0.1:0", Address("tcp", "10.0.0.1", 5060)], make)
    d2 = net.start_endpoint(["udp:10.0.0.2:5062"], make)
    a_udp, a_tcp = d1.local_addresses
    assert a_udp.transport == "udp" and a_udp.port >= 40000
    assert a_tcp == Address("tcp", "10.0.0.1", 5060)
    assert built == [[a_udp, a_tcp], [Address("udp", "10.0.0.2", 5062)]]
    assert d1.endpoint.local == [a_udp, a_tcp]
    send(d2, Transmit(b"quiet", a_udp))
    clock.run_until_idle()
    assert d1.endpoint.received == [(b"quiet", Address("udp", "10.0.0.2", 5062), 0.0)]
    errors = []
    d6 = net.start_endpoint(["udp:[2001:db8::6]:0"], make,
                            on_error=lambda d, e: errors.append(str(e)))
    send(d6, Transmit(b"quiet", a_udp))  # an IPv6-only endpoint cannot reach IPv4
    assert errors == [f"no udp transport for {a_udp} (5 bytes not sent)"]


def test_start_endpoint_failure_releases_the_addresses(echo):
    net = LoopbackNetwork(VirtualClock())

    def broken(addresses):
        raise RuntimeError("bad config")

    with pytest.raises(RuntimeError, match="bad config"):
        net.start_endpoint(["udp:10.0.0.1:5060"], broken)
    net.start_endpoint(["udp:10.0.0.1:5060"], echo)  # free again
    with pytest.raises(ValueError, match="unknown transport 'sctp'"):
        net.start_endpoint(["sctp:10.0.0.1:5060"], echo)
