"""Throughput of two in-memory endpoints completing INVITE/200/ACK/BYE/200
calls, in CPU seconds (``time.process_time``). A measurement, printed with
``-s``; the assertion is only a floor against pathological slowdowns (the
goal, 3,000 calls per CPU second, is reported, not enforced: shared CI
machines vary too much)."""

from __future__ import annotations

import random
import time

from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.events import HandleReleased, RequestReceived
from sipflow.sip.types import Address

A = Address("udp", "127.0.0.1", 5061)
B = Address("udp", "127.0.0.1", 5062)


def _pump(pairs) -> None:
    moved = True
    while moved:
        moved = False
        for src, ep, dst in pairs:
            for t in ep.take_transmits():
                moved = True
                dst.receive(t.data, src, 0.0)


def _answer(ep: SipEndpoint, method: str, code: int) -> int:
    answered = 0
    for e in ep.take_events():
        if type(e) is RequestReceived and e.method == method:
            ep.respond(e.request_id, code, now=0.0)
            answered += 1
    return answered


def make_pair() -> tuple[SipEndpoint, SipEndpoint]:
    return SipEndpoint(A, rng=random.Random(1)), SipEndpoint(B, rng=random.Random(2))


def run_calls(n: int, pair: tuple[SipEndpoint, SipEndpoint] | None = None) -> tuple[float, int]:
    ea, eb = pair or make_pair()
    pairs = ((A, ea, eb), (B, eb, ea))
    released = 0
    start = time.process_time()
    for _ in range(n):
        h = ea.invite("sip:u@127.0.0.1:5062", now=0.0)
        _pump(pairs)
        assert _answer(eb, "INVITE", 200) == 1
        _pump(pairs)
        ea.take_events()
        ea.request(h, "BYE", now=0.0)
        _pump(pairs)
        assert _answer(eb, "BYE", 200) == 1
        _pump(pairs)
        released += sum(isinstance(e, HandleReleased) for e in ea.take_events())
    elapsed = time.process_time() - start
    for ep in (ea, eb):
        counts = ep.counts()
        assert counts["handles"] == counts["dialogs"] == counts["requests"] == 0
    return elapsed, released


def test_calls_per_cpu_second():
    n = 500
    elapsed, released = run_calls(n)
    assert released == n
    rate = n / elapsed
    print(f"\n{rate:.0f} INVITE/200/ACK/BYE/200 calls per CPU second")
    assert rate > 100


def test_calls_leave_no_reference_cycles_for_the_garbage_collector():
    import gc

    pair = make_pair()
    run_calls(5, pair)  # warm caches
    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        run_calls(50, pair)
        assert gc.collect() == 0  # every call was freed by reference counting
    finally:
        if was:
            gc.enable()
