"""``sipflow.app.load.CallGenerator`` over the real runtime and ``uac_call`` table, in virtual time.

The far end is a scripted backend (``Callee``): it answers every INVITE with
180 then a final response after ``answer`` seconds, and every BYE with 200,
by delivering backend events through the one ``VirtualClock``. So these
tests check pacing, concurrency, hold time, counting and the timeout of the
generator itself, deterministically and in milliseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from sipflow.app.load import CallGenerator, LoadConfig, call_params, write_report
from sipflow.backends.base import BackendEvent
from sipflow.clock import VirtualClock
from sipflow.runtime.runtime import Runtime

REASONS = {180: "Ringing", 200: "OK", 486: "Busy Here", 487: "Request Terminated"}


class Callee:
    """A scripted far end: every INVITE gets 180, then ``final`` after ``answer`` s."""

    def __init__(self, clock: VirtualClock, answer: float = 0.05, final: int = 200,
                 byes: bool = True) -> None:
        self.clock = clock
        self.answer = answer
        self.final = final
        self.byes = byes
        self.runtime: Runtime | None = None
        self.ids = itertools.count(1)
        self.invites: list[float] = []
        self.live = 0
        self.most_live = 0
        self.sent: list[str] = []

    def _later(self, delay: float, key: Any, name: str, code: int, method: str) -> None:
        data = {"code": code, "reason": REASONS.get(code, ""), "method": method}

        def fire() -> None:
            assert self.runtime is not None
            self.runtime.deliver(BackendEvent(key, name, data))

        self.clock.call_at(self.clock.now() + delay, fire)

    def perform(self, handle: Any, action: str, params: Mapping[str, Any]) -> Any:
        self.sent.append(action)
        if action == "SendINVITE":
            key = f"call-{next(self.ids)}"
            self.invites.append(self.clock.now())
            self.live += 1
            self.most_live = max(self.most_live, self.live)
            self._later(0.01, key, "Dialog180Ringing", 180, "INVITE")
            if self.final == 200:
                self._later(self.answer, key, "Dialog200OK", 200, "INVITE")
            elif self.final:
                self._later(self.answer, key, "Dialog4xxFailure", self.final, "INVITE")
            return key
        if action == "SendBYE":
            self.live -= 1
            if self.byes:
                self._later(0.002, handle, "Dialog200OK", 200, "BYE")
        if action == "SendCANCEL":
            self.live -= 1
            self._later(0.002, handle, "Dialog200OK", 200, "CANCEL")
            self._later(0.004, handle, "Dialog4xxFailure", 487, "INVITE")
        if action == "SendSIPResponse" or action == "SendACK":
            return None
        return None


def make(clock: VirtualClock, callee: Callee, **kwargs: Any) -> CallGenerator:
    runtime = Runtime(["uac_call"], None, clock, callee)
    callee.runtime = runtime
    gen = CallGenerator(runtime, clock, call_params={"target": "sip:bob@127.0.0.1"}, **kwargs)
    return gen


def run(clock: VirtualClock, gen: CallGenerator, limit: float = 1000.0) -> None:
    gen.start()
    while not gen.done and clock.now() < limit:
        clock.advance(0.01)
    assert gen.done


def test_every_call_passes_at_the_rate() -> None:
    clock = VirtualClock()
    callee = Callee(clock)
    done: list[bool] = []
    gen = make(clock, callee, count=200, rate=50.0, concurrency=100,
               on_done=lambda: done.append(True))
    run(clock, gen)
    stats = gen.stats
    assert (stats.started, stats.established, stats.passed, stats.failed) == (200, 200, 200, 0)
    assert stats.all_passed and done == [True]
    # paced at 50 calls/s: the INVITEs span 199/50 s
    assert callee.invites[-1] - callee.invites[0] == pytest.approx(199 / 50, abs=0.02)
    assert stats.percentiles()[50] == pytest.approx(0.05, abs=0.011)
    assert callee.sent.count("SendBYE") == 200 and callee.sent.count("SendACK") == 200
    assert not gen.runtime.sessions


def test_concurrency_limits_calls_in_progress() -> None:
    clock = VirtualClock()
    callee = Callee(clock, answer=0.5)
    gen = make(clock, callee, count=30, concurrency=5, duration=1.0)
    run(clock, gen)
    assert callee.most_live == 5
    assert gen.stats.passed == 30
    # 6 waves of 5 calls, each ~0.5 s setup + 1 s hold
    assert 6 * 1.5 <= gen.stats.elapsed() < 6 * 1.5 + 0.5


def test_duration_holds_each_call() -> None:
    clock = VirtualClock()
    callee = Callee(clock)
    gen = make(clock, callee, count=1, duration=3.0)
    gen.start()
    clock.advance(3.0)
    assert "SendBYE" not in callee.sent and not gen.done
    clock.advance(0.1)
    assert "SendBYE" in callee.sent
    clock.advance(0.1)
    assert gen.done and gen.stats.passed == 1


def test_rejected_calls_fail_with_the_reason() -> None:
    clock = VirtualClock()
    gen = make(clock, Callee(clock, final=486), count=10, rate=100.0)
    run(clock, gen)
    assert gen.stats.failed == 10 and gen.stats.passed == 0
    assert gen.stats.failures == {"486 Busy Here": 10}
    assert gen.stats.established == 0 and len(gen.stats.setup_times) == 0


def test_timeout_fails_running_and_unplaced_calls() -> None:
    clock = VirtualClock()
    callee = Callee(clock, final=0)   # never answers
    gen = make(clock, callee, count=10, rate=2.0, timeout=2.0)
    run(clock, gen)
    assert gen.stats.failed == 10
    # calls 0..4 were placed in the first 2 s (due at 0, .5, 1, 1.5, 2 -> the timer at 2 wins)
    assert gen.stats.failures["timeout"] + gen.stats.failures["not started (timeout)"] == 10
    assert gen.stats.failures["timeout"] == gen.placed
    assert callee.sent.count("SendCANCEL") == gen.placed
    assert gen.stats.elapsed() == pytest.approx(2.0)


def test_config_defaults_and_params() -> None:
    config = LoadConfig(uri="sip:bob@127.0.0.1:5080", count=100, rate=50.0, duration=2.0,
                        params={"no_answer": "5s"}, auth=("alice", "pw"))
    assert config.run_timeout() == pytest.approx(2.0 + 2.0 + 40.0)
    assert call_params(config) == {"no_answer": "5s", "target": "sip:bob@127.0.0.1:5080",
                                   "auth_user": "alice", "auth_password": "pw"}


def test_text_and_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import json

    clock = VirtualClock()
    gen = make(clock, Callee(clock, final=486), count=2)
    run(clock, gen)
    out = io.StringIO()
    write_report(gen.stats, False, out)
    assert out.getvalue().splitlines() == [
        "2 failed: 486 Busy Here", "0 passed, 2 failed; setup p50 -, p95 -, p99 -"]
    out = io.StringIO()
    write_report(gen.stats, True, out)
    report = json.loads(out.getvalue())
    assert report["failed"] == 2 and report["failures"] == {"486 Busy Here": 2}


def test_stop_hangs_up_running_calls_and_fails_the_rest() -> None:
    clock = VirtualClock()
    callee = Callee(clock, final=0)   # rings forever
    done: list[bool] = []
    gen = make(clock, callee, count=8, rate=4.0, on_done=lambda: done.append(True))
    gen.start()
    clock.advance(0.6)                # calls due at 0, .25 and .5 s are ringing
    gen.stop("interrupted")
    assert gen.done and done == [True]
    assert gen.stats.failures == {"interrupted": 3, "not started (interrupted)": 5}
    clock.advance(0.1)
    assert callee.sent.count("SendCANCEL") == 3
    gen.stop("again")                 # a second stop changes nothing
    assert gen.stats.failed == 8


def test_setup_times_come_from_the_stopwatch() -> None:
    clock = VirtualClock()
    ticks = iter([10.0, 10.0123])
    gen = make(clock, Callee(clock, answer=0.5), count=1, stopwatch=lambda: next(ticks))
    run(clock, gen)
    assert len(gen.stats.setup_times) == 1
    assert gen.stats.percentiles()[50] == pytest.approx(0.0123, rel=5e-4)
