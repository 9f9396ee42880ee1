"""State timers on the one clock, in virtual time."""

from __future__ import annotations

import time

TIMED = {
    "table": "timed",
    "parameters": {"no_answer": "180s"},
    "states": {
        "Idle": {},
        "Calling": {"timers": {"NoAnswer": {"param": "no_answer"}, "Tick": 10}},
        "Other": {},
        "Done": {"final": True},
    },
    "transitions": [
        {"from": "Idle", "on": "Go", "to": "Calling"},
        {"from": "Calling", "on": "Poke", "do": [{"Note": {"tag": "stay"}}]},           # stay row
        {"from": "Calling", "on": "Next", "to": "Calling"},                           # re-entry
        {"from": "Calling", "on": "TimerTick", "do": [{"Note": {"tag": "tick"}}]},
        {"from": "Calling", "on": "TimerNoAnswer", "do": [{"Note": {"tag": "no-answer"}}], "to": "Done"},
        {"from": "Calling", "on": "DialogBYE", "to": "Other"},
        {"from": "Other", "on": "Go", "to": "Done"},
    ],
}


def notes(rec):
    return [c[1] for c in rec.calls if c[0] == "note"]


def test_180_seconds_in_virtual_time(make_runtime, clock, rec):
    rt = make_runtime(TIMED)
    s = rt.start_session("timed")
    rt.dispatch(s, "Go")
    started = time.perf_counter()
    clock.advance(179.999)
    assert notes(rec) == ["tick"] and s.state == "Calling"
    clock.advance(0.001)
    assert time.perf_counter() - started < 0.1
    assert notes(rec) == ["tick", "no-answer"]
    assert s.ended and clock.now() == 180.0
    assert clock.next_deadline() is None


def test_stay_row_keeps_timers_running(make_runtime, clock, rec):
    rt = make_runtime(TIMED)
    s = rt.start_session("timed")
    rt.dispatch(s, "Go")
    clock.advance(100)
    rt.dispatch(s, "Poke")
    clock.advance(80)
    assert notes(rec) == ["tick", "stay", "no-answer"] and s.ended


def test_reentering_a_state_restarts_its_timers(make_runtime, clock, rec):
    rt = make_runtime(TIMED)
    s = rt.start_session("timed")
    rt.dispatch(s, "Go")
    clock.advance(100)
    rt.dispatch(s, "Next")          # exit and entry: both timers start again
    clock.advance(179)
    assert s.state == "Calling"
    clock.advance(1)
    assert s.ended
    assert notes(rec) == ["tick", "tick", "no-answer"]


def test_leaving_the_state_cancels_its_timers(make_runtime, clock, rec):
    rt = make_runtime(TIMED)
    s = rt.start_session("timed")
    rt.dispatch(s, "Go")
    rt.dispatch(s, "DialogBYE")
    assert s.state == "Other" and s.timers is None
    assert clock.run_until_idle() == 0
    assert notes(rec) == []


def test_timer_duration_from_session_and_runtime_overrides(make_runtime, clock):
    rt = make_runtime(TIMED, params={"no_answer": "2m"})
    a = rt.start_session("timed")
    b = rt.start_session("timed", params={"no_answer": 5})
    rt.dispatch(a, "Go")
    rt.dispatch(b, "Go")
    clock.advance(5)
    assert b.ended and not a.ended
    clock.advance(115)
    assert a.ended


def test_timers_of_the_initial_state_start_with_the_session(make_runtime, clock, rec):
    spec = {
        "table": "init",
        "states": {"Idle": {"timers": {"Wait": 0.5}}, "Done": {"final": True}},
        "transitions": [{"from": "Idle", "on": "TimerWait", "do": [{"Note": {"tag": "w"}}], "to": "Done"}],
    }
    rt = make_runtime(spec)
    s = rt.start_session("init")
    clock.advance(0.5)
    assert s.ended and notes(rec) == ["w"]


def test_a_zero_timer_never_preempts_queued_events(make_runtime, clock, rec):
    """A zero-length timer started during a transition fires through the queue, after it."""
    spec = {
        "table": "zero",
        "states": {"Idle": {}, "A": {"timers": {"Now": 0}}, "B": {}, "Done": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go", "do": [{"Raise": {"event": "Poke"}}], "to": "A"},
            {"from": "A", "on": "Poke", "do": [{"Note": {"tag": "poke"}}], "to": "B"},
            {"from": "A", "on": "TimerNow", "do": [{"Note": {"tag": "timer"}}], "to": "Done"},
            {"from": "B", "on": "Go", "to": "Done"},
        ],
    }
    rt = make_runtime(spec)
    s = rt.start_session("zero")
    rt.dispatch(s, "Go")
    clock.run_until_idle()
    # Poke was queued first and left A, so the timer was cancelled before it could fire
    assert notes(rec) == ["poke"] and s.state == "B"


def test_many_sessions_share_one_clock(make_runtime, clock):
    rt = make_runtime(TIMED)
    sessions = [rt.start_session("timed", params={"no_answer": 1 + i % 7}) for i in range(700)]
    for s in sessions:
        rt.dispatch(s, "Go")
    clock.advance(3)
    assert sum(s.ended for s in sessions) == 300
    clock.advance(4)
    assert all(s.ended for s in sessions) and not rt.sessions


def test_a_running_timer_is_its_own_clock_callback(make_runtime, clock, rec):
    import sys

    from sipflow.runtime.timers import RunningTimer

    rt = make_runtime(TIMED)
    s = rt.start_session("timed")
    rt.dispatch(s, "Go")
    entries = list(s.timers)
    assert [e.timer.name for e in entries] == ["NoAnswer", "Tick"]
    for entry in entries:
        assert isinstance(entry, RunningTimer) and entry.handle.callback is entry
        assert entry.session is s and sys.getsizeof(entry) <= 64  # no closure beside it
    entries[1]()  # what the clock does when Tick is due
    assert notes(rec) == ["tick"] and s.timers == [entries[0]]
    entries[1]()  # a timer no longer running never fires again
    assert notes(rec) == ["tick"]
