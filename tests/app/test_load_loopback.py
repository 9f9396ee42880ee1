"""``CallGenerator`` over the real SIP core: two loopback backends in virtual time.

The caller runtime (``uac_call``) and the callee runtime (``uas_call``) each
run on a ``LoopbackBackend`` of one ``LoopbackNetwork`` and one
``VirtualClock``: the same parser, transactions and timers as ``sipflow
call`` against ``sipflow serve``, minus the sockets. Hundreds of calls,
with loss and multi-second holds, take well under a second.
"""

from __future__ import annotations

import random

import pytest

from sipflow.app.load import CallGenerator
from sipflow.backends.loopback import LoopbackBackend
from sipflow.clock import VirtualClock
from sipflow.runtime.runtime import Runtime
from sipflow.transport.loopback import LoopbackNetwork

CALLEE = "udp:10.0.0.2:5060"


def pair(loss: float = 0.0, seed: int = 1, **callee_params: str):
    clock = VirtualClock()
    net = LoopbackNetwork(clock, loss=loss, delay=0.005, seed=seed)
    callee = LoopbackBackend(clock, network=net, rng=random.Random(seed))
    uas = Runtime(["uas_call"], None, clock, callee, params=callee_params)
    callee.open([CALLEE], uas.deliver)
    caller = LoopbackBackend(clock, network=net, rng=random.Random(seed + 1))
    uac = Runtime(["uac_call"], None, clock, caller)
    caller.open(["udp:10.0.0.1:5060"], uac.deliver)
    return clock, uac, uas, caller, callee


def run(clock: VirtualClock, gen: CallGenerator, limit: float = 600.0) -> None:
    gen.start()
    while not gen.done and clock.now() < limit:
        deadline = clock.next_deadline()
        if deadline is None:
            break
        clock.advance(max(deadline - clock.now(), 0.0))
    assert gen.done


@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_all_calls_pass_and_nothing_is_left(loss: float) -> None:
    clock, uac, uas, caller, callee = pair(loss=loss)
    gen = CallGenerator(uac, clock, count=200, rate=100.0, concurrency=50, duration=2.0,
                        call_params={"target": "sip:bob@10.0.0.2:5060"})
    run(clock, gen)
    stats = gen.stats
    assert (stats.passed, stats.failed) == (200, 0), stats.failures
    assert len(stats.setup_times) == 200
    # one or two 10 ms round trips (a reliable 180 waits for its PRACK); a lost
    # INVITE or 200 costs a 500 ms retransmission
    assert 0.010 <= stats.percentiles()[50] <= 0.025
    if loss:
        assert stats.percentiles()[99] >= 0.5
    # every call held 2 s: at most 50 at once means at least 200 / 50 * 2 s
    assert stats.elapsed() >= 8.0
    clock.advance(40.0)  # let every transaction timer (Timer K, J, I…) run out
    assert not uac.sessions and not uas.sessions
    assert caller.idle() and callee.idle()


def test_a_busy_callee_fails_every_call_with_its_reason() -> None:
    clock, uac, uas, _, _ = pair(answer_delay="30s")
    # the callee rings for 30 s; our no-answer timer gives up after 1 s and cancels
    gen = CallGenerator(uac, clock, count=20, rate=50.0,
                        call_params={"target": "sip:bob@10.0.0.2:5060", "no_answer": "1s"})
    run(clock, gen)
    assert gen.stats.failed == 20 and gen.stats.passed == 0
    assert gen.stats.failures == {"487 Request Terminated": 20}


def test_the_timeout_hangs_up_what_is_still_ringing() -> None:
    clock, uac, uas, _, _ = pair(answer_delay="30s")
    gen = CallGenerator(uac, clock, count=10, rate=5.0, timeout=1.0,
                        call_params={"target": "sip:bob@10.0.0.2:5060"})
    run(clock, gen)
    assert gen.stats.failures["timeout"] == gen.placed == 5  # due at 0, .2, .4, .6, .8 s
    assert gen.stats.failures["not started (timeout)"] == 5
    clock.advance(40.0)
    assert not uac.sessions and not uas.sessions  # the HangUp cancelled them
