"""Coroutine actions: scheduled after the transition, in order per session."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sipflow.clock import AsyncioClock
from sipflow.runtime.registry import ParamSpec
from sipflow.runtime.runtime import Runtime

SPEC = {
    "table": "co",
    "states": {"Idle": {}, "A": {}, "B": {}, "Done": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "Go",
         "do": [{"Slow": {"tag": "first", "delay": 0.02}}, {"Note": {"tag": "sync"}},
                {"Slow": {"tag": "second", "delay": 0}}], "to": "A"},
        {"from": "A", "on": "Next", "do": [{"Slow": {"tag": "third", "delay": 0}}], "to": "B"},
        {"from": "B", "on": "Poke", "do": ["Fail", {"Slow": {"tag": "after-fail", "delay": 0}}]},
        {"from": "B", "on": "Go", "to": "Done"},
    ],
}


@pytest.fixture
def co_registry(registry, rec):
    @registry.action("Slow", "a coroutine action", (ParamSpec("tag", "str", "tag", required=True),
                                                    ParamSpec("delay", "float", "seconds", required=True)))
    async def slow(ctx: Any, tag: str, delay: float) -> None:
        rec.calls.append(("start", tag, ctx.session.state))
        await asyncio.sleep(delay)
        rec.calls.append(("end", tag))

    @registry.action("Fail", "a coroutine action that fails")
    async def fail(ctx: Any) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    @registry.action("Later", "a coroutine action that raises an event")
    async def later(ctx: Any) -> None:
        await asyncio.sleep(0.01)
        ctx.raise_event("Next")
        ctx.publish("Notified", {"late": True})

    return registry


async def test_coroutines_run_after_the_transition_in_order(co_registry, build, rec):
    rt = Runtime([build(SPEC)], co_registry, AsyncioClock())
    s = rt.start_session("co")
    rt.dispatch(s, "Go")
    # nothing async has started: the transition is over first
    assert rec.calls == [("note", "sync", "Idle", "Go")] and s.state == "A"
    rt.dispatch(s, "Next")
    await rt.settle()
    assert [c[:2] for c in rec.calls[1:]] == [
        ("start", "first"), ("end", "first"), ("start", "second"), ("end", "second"),
        ("start", "third"), ("end", "third")]
    # the coroutine sees the session as it is when it runs
    assert rec.calls[1] == ("start", "first", "B")
    assert rt.chains.tail(s) is None and not rt.chains.tails and not rt.chains.pending


async def test_sessions_do_not_wait_for_each_other(co_registry, build, rec):
    rt = Runtime([build(SPEC)], co_registry, AsyncioClock())
    a, b = rt.start_session("co"), rt.start_session("co")
    rt.dispatch(a, "Go")
    rt.dispatch(b, "Go")
    await rt.settle()
    starts = [c for c in rec.calls if c[0] in ("start", "end")]
    # b's "first" starts before a's "first" ends (both sleep concurrently)
    assert starts[:2] == [("start", "first", "A"), ("start", "first", "A")]


async def test_failing_coroutine_is_logged_and_the_chain_goes_on(co_registry, build, rec, caplog):
    rt = Runtime([build(SPEC)], co_registry, AsyncioClock())
    s = rt.start_session("co")
    rt.dispatch(s, "Go")
    rt.dispatch(s, "Next")
    with caplog.at_level(logging.ERROR, "sipflow.runtime"):
        rt.dispatch(s, "Poke")
        await rt.settle()
    assert "test_table.yaml:102: action Fail failed in table co" in caplog.text
    assert rec.calls[-1] == ("end", "after-fail")
    assert rt.failures["test_table.yaml:102"] == 1
    assert s.state == "B"


async def test_coroutine_can_raise_events_and_publish(co_registry, build):
    spec = {
        "table": "late",
        "states": {"Idle": {}, "A": {}, "Done": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go", "do": ["Later"], "to": "A"},
            {"from": "A", "on": "Next", "to": "Done"},
        ],
    }
    rt = Runtime([build(spec)], co_registry, AsyncioClock())
    got = []
    rt.subscribe(lambda s, n, d: got.append((n, dict(d))))
    s = rt.start_session("late")
    rt.dispatch(s, "Go")
    await rt.settle()
    assert s.ended
    assert got == [(("SessionEnded"), {"state": "Done"}), ("Notified", {"late": True})]


def test_coroutine_without_a_loop_is_a_logged_failure(co_registry, build, clock, caplog):
    rt = Runtime([build(SPEC)], co_registry, clock)
    s = rt.start_session("co")
    with caplog.at_level(logging.ERROR, "sipflow.runtime"):
        rt.dispatch(s, "Go")
    assert "needs a running asyncio loop" in caplog.text
    assert s.state == "A"


async def test_state_timers_on_the_asyncio_clock(co_registry, build, rec):
    spec = {
        "table": "rt",
        "states": {"Idle": {"timers": {"Wait": 0.01}}, "Done": {"final": True}},
        "transitions": [{"from": "Idle", "on": "TimerWait", "do": [{"Note": {"tag": "fired"}}],
                         "to": "Done"}],
    }
    rt = Runtime([build(spec)], co_registry, AsyncioClock())
    s = rt.start_session("rt")
    for _ in range(100):
        if s.ended:
            break
        await asyncio.sleep(0.005)
    assert s.ended and rec.calls == [("note", "fired", "Idle", "TimerWait")]
