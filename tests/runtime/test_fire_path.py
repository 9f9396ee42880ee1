"""``CompiledTable.fire`` (no machine) does exactly what the table's machine does.

Random tables — named-state and ``Any`` rows, guards shared between rows,
negated, broken, rows with and without ``to`` (to their own state too),
states with timers, a final state, actions that record, raise events or fail —
run twice with the same events and clock steps: once by the runtime's own
path (``CompiledTable.fire``) and once through the machine (a machine-wide
``after_state_change`` hook, as the scenario observer adds, sends every event
through ``FastEvent``). What the actions and guards saw, the states, the row
counts, the failures and the unhandled events must be the same.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.clock import VirtualClock

from .conftest import Recorder, build_table, recording_registry

STATES = ["A", "B", "C"]
EVENTS = ["Go", "Next", "Poke", "TimerT"]
GUARDS = [{"flag": "x"}, {"flag": "y"}, {"not": {"flag": "x"}}, {"not": {"flag": "y"}}, "broken"]
ACTIONS = [{"Note": {"tag": "n"}}, {"Raise": {"event": "Poke"}}, "Boom", {"Count": {"n": 1}}]

ROWS = st.lists(st.fixed_dictionaries({
    "from": st.one_of(st.just("Any"), st.lists(st.sampled_from(STATES), min_size=1, max_size=2, unique=True)),
    "on": st.sampled_from(EVENTS),
    "if": st.lists(st.sampled_from(GUARDS), max_size=3),
    "do": st.lists(st.sampled_from(ACTIONS), max_size=2),
    "to": st.one_of(st.none(), st.sampled_from([*STATES, "Done"])),
}), min_size=1, max_size=12)
TIMED = st.sets(st.sampled_from(STATES))
FEED = st.lists(st.one_of(
    st.tuples(st.sampled_from(EVENTS[:3]), st.fixed_dictionaries({}, optional={"x": st.booleans(),
                                                                                 "y": st.booleans()})),
    st.just(("tick", {}))), max_size=25)


def _run(spec: dict[str, Any], feed: list[tuple[str, dict[str, Any]]], hooked: bool) -> Any:
    from sipflow.runtime.runtime import Runtime

    rec = Recorder()
    clock = VirtualClock()
    rt = Runtime([build_table(spec)], recording_registry(rec), clock, lint=False)
    table = rt.tables["t"]
    seen: list[Any] = []
    if hooked:
        table.machine.after_state_change = [lambda event_data: seen.append(event_data.event.name)]
    session = rt.start_session("t")
    results = []
    for name, data in feed:
        if name == "tick":
            clock.advance(1.0)
        else:
            results.append(rt.dispatch(session, name, data))
        rec.calls.append(("state", session.state, session.ended, bool(session.timers)))
    return (rec.calls, results, [n for _, n in table.coverage()], dict(rt.failures),
            dict(rt.unhandled), hooked and seen)


@settings(max_examples=100, deadline=None)
@given(ROWS, TIMED, FEED)
def test_fire_matches_the_machine(rows, timed, feed):
    for row in rows:  # a Poke row raising Poke would loop for ever, on either path
        if row["on"] == "Poke":
            row["do"] = [a for a in row["do"] if a != {"Raise": {"event": "Poke"}}]
    states: dict[str, Any] = {s: ({"timers": {"T": 0.5}} if s in timed else {}) for s in STATES}
    states["Done"] = {"final": True}
    spec = {"table": "t", "initial": "A", "states": states, "transitions": rows}
    direct = _run(spec, feed, hooked=False)
    machine = _run(spec, feed, hooked=True)
    assert direct[:5] == machine[:5]


def test_the_hooked_run_goes_through_the_machine():
    spec = {"table": "t", "initial": "A", "states": {"A": {}, "B": {}, "Done": {"final": True}},
            "transitions": [{"from": "A", "on": "Go", "if": [{"flag": "x"}], "to": "B"},
                            {"from": "A", "on": "Go", "to": "Done"}]}
    direct = _run(spec, [("Go", {"x": True})], hooked=False)
    machine = _run(spec, [("Go", {"x": True})], hooked=True)
    assert direct[:5] == machine[:5]
    assert machine[5] == ["Go"] and direct[5] is False


def test_a_shared_guard_is_called_once_an_event_and_again_for_the_next():
    rec = Recorder()
    spec = {"table": "t", "initial": "A", "states": {"A": {}, "B": {}, "Done": {"final": True}},
            "transitions": [{"from": "A", "on": "Go", "if": [{"flag": "x"}, {"flag": "y"}], "to": "B"},
                            {"from": "A", "on": "Go", "if": [{"not": {"flag": "x"}}], "to": "B"},
                            {"from": "A", "on": "Go", "if": [{"flag": "x"}, {"not": {"flag": "y"}}]}]}
    from sipflow.runtime.runtime import Runtime

    rt = Runtime([build_table(spec)], recording_registry(rec), VirtualClock(), lint=False)
    session = rt.start_session("t")
    assert rt.dispatch(session, "Go", {"x": True}) and session.state == "A"
    assert rec.calls == [("guard", "x"), ("guard", "y")]  # row 3 reuses both
    assert rt.dispatch(session, "Go", {"x": True, "y": True}) and session.state == "B"
    assert rec.calls[2:] == [("guard", "x"), ("guard", "y")]


def test_a_broken_guard_is_tried_and_counted_for_each_row():
    spec = {"table": "t", "initial": "A", "states": {"A": {}, "B": {}, "Done": {"final": True}},
            "transitions": [{"from": "A", "on": "Go", "if": ["broken"], "to": "B"},
                            {"from": "A", "on": "Go", "if": ["broken"], "to": "Done"}]}
    for hooked in (False, True):
        calls, results, fired, failures, unhandled, _ = _run(spec, [("Go", {})], hooked)
        assert results == [False] and fired == [0, 0]
        assert failures == {"test_table.yaml:100": 1, "test_table.yaml:101": 1}
