"""Compiling a table: one shared machine, precedence, guards, sources and versions."""

from __future__ import annotations

import pytest

from sipflow.runtime.compiler import CompileError, compile_table

SIMPLE = {
    "table": "simple",
    "states": {"Idle": {}, "A": {}, "B": {}, "Done": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "Go", "do": [{"Note": {"tag": "named-1"}}], "to": "A"},
        {"from": "Any", "on": "Go", "do": [{"Note": {"tag": "any"}}], "to": "B"},
        {"from": "Idle", "on": "Go", "do": [{"Note": {"tag": "named-2"}}], "to": "B"},
        {"from": ["A", "B"], "on": "Next", "to": "Done"},
    ],
}


def test_one_shared_machine_without_models(build, registry, make_runtime):
    rt = make_runtime(SIMPLE)
    compiled = rt.tables["simple"]
    machine = compiled.machine
    sessions = [rt.start_session("simple") for _ in range(3)]
    for s in sessions:
        assert rt.dispatch(s, "Go")
    assert machine.models == []
    assert not hasattr(sessions[0], "trigger")
    assert {s.state for s in sessions} == {"A"}
    assert all(s.table is compiled for s in sessions)
    # no to_<state> helpers, and the machine's transitions carry callables, not names
    assert not any(name.startswith("to_") for name in machine.events)
    for event in machine.events.values():
        for transitions in event.transitions.values():
            for t in transitions:
                assert all(callable(cb) for cb in t.before + t.after)
                assert all(callable(c.func) for c in t.conditions)


def test_named_rows_come_before_any_rows_whatever_the_file_order(registry, make_runtime, rec):
    rt = make_runtime(SIMPLE)
    s = rt.start_session("simple")
    assert rt.dispatch(s, "Go")
    assert rec.calls == [("note", "named-1", "Idle", "Go")]
    assert s.state == "A"
    order = [r.row.source.line for r in rt.tables["simple"].rows_for("Idle", "Go")]
    assert order == [100, 102, 101]
    # in A only the Any row applies
    rec.calls.clear()
    s2 = rt.start_session("simple")
    rt.dispatch(s2, "Go")
    rt.dispatch(s2, "Go")
    assert rec.calls[-1] == ("note", "any", "A", "Go")
    assert s2.state == "B"


def test_any_never_includes_final_states(build, registry):
    compiled = compile_table(build(SIMPLE), registry, lint=False)
    assert not compiled.handles("Done", "Go")
    assert compiled.handles("A", "Go") and compiled.handles("B", "Go")
    assert not compiled.handles("Idle", "Next")


GUARDED = {
    "table": "guarded",
    "states": {"Idle": {}, "Both": {}, "NotX": {}, "Other": {}, "End": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "Go", "if": [{"flag": "x"}, {"flag": "y"}], "to": "Both"},
        {"from": "Idle", "on": "Go", "if": [{"not": {"flag": "x"}}], "to": "NotX"},
        {"from": "Idle", "on": "Go", "to": "Other"},
        {"from": ["Both", "NotX", "Other"], "on": "Next", "to": "End"},
    ],
}


@pytest.mark.parametrize(("data", "expected"), [
    ({"x": True, "y": True}, "Both"),
    ({"x": True}, "Other"),          # first row needs both; second is "not x"
    ({"y": True}, "NotX"),
    ({}, "NotX"),
])
def test_guards_all_must_hold_and_not_negates(make_runtime, data, expected):
    rt = make_runtime(GUARDED)
    s = rt.start_session("guarded")
    assert rt.dispatch(s, "Go", data)
    assert s.state == expected


def test_guards_stop_at_the_first_that_fails(make_runtime, rec):
    rt = make_runtime(GUARDED)
    s = rt.start_session("guarded")
    rt.dispatch(s, "Go", {"y": True})
    # row 1 evaluates flag x (false) and never asks for y; row 2 reuses x's result
    assert [c for c in rec.calls if c[0] == "guard"] == [("guard", "x")]


def test_no_row_when_every_guard_fails(make_runtime):
    spec = {
        "table": "g",
        "states": {"Idle": {}, "End": {"final": True}},
        "transitions": [{"from": "Idle", "on": "Go", "if": [{"flag": "x"}], "to": "End"}],
    }
    rt = make_runtime(spec)
    s = rt.start_session("g")
    assert rt.dispatch(s, "Go", {}) is False
    assert s.state == "Idle"
    assert rt.unhandled[("g", "Idle", "Go")] == 1


def test_rows_keep_source_and_version_and_count_firings(build, registry, make_runtime):
    compiled = compile_table(build(SIMPLE), registry, lint=False)
    assert all(r.version == compiled.version and len(compiled.version) >= 8 for r in compiled.rows)
    assert [str(r.source.short) for r in compiled.rows] == [f"test_table.yaml:{100 + i}" for i in range(4)]
    rt = make_runtime(SIMPLE)
    for _ in range(5):
        s = rt.start_session("simple")
        rt.dispatch(s, "Go")
        rt.dispatch(s, "Next")
    fired = {r.source.line: n for r, n in rt.tables["simple"].coverage()}
    assert fired == {100: 5, 101: 0, 102: 0, 103: 5}


def test_version_follows_content(build, registry):
    a = compile_table(build(SIMPLE), registry, lint=False).version
    assert compile_table(build(SIMPLE), registry, lint=False).version == a
    changed = dict(SIMPLE, transitions=SIMPLE["transitions"][:-1] + [
        {"from": ["A", "B"], "on": "Poke", "to": "Done"}])
    assert compile_table(build(changed), registry, lint=False).version != a
    table = build(SIMPLE)
    table.version = "abc123"
    assert compile_table(table, registry, lint=False).version == "abc123"


@pytest.mark.parametrize(("row", "message"), [
    ({"from": "Idle", "on": "Go", "do": ["Nope"], "to": "End"}, "test_table.yaml:100:9: unknown action 'Nope'"),
    ({"from": "Idle", "on": "Go", "if": ["nope"], "to": "End"}, "test_table.yaml:100:5: unknown guard 'nope'"),
    ({"from": "Idle", "on": "Go", "to": "Nowhere"}, "test_table.yaml:100:5: unknown state 'Nowhere' in to"),
    ({"from": "Elsewhere", "on": "Go", "to": "End"}, "test_table.yaml:100:5: unknown state 'Elsewhere' in from"),
])
def test_names_that_cannot_be_bound_are_refused_with_file_and_line(build, registry, row, message):
    spec = {"table": "bad", "states": {"Idle": {}, "End": {"final": True}}, "transitions": [row]}
    with pytest.raises(CompileError) as err:
        compile_table(build(spec), registry, lint=False)
    assert str(err.value) == message


def test_lookup_gives_rows_in_precedence_and_nothing_for_unknown_pairs(build, registry):
    compiled = compile_table(build(SIMPLE), registry, lint=False)
    assert [r.source.line for r in compiled.lookup("Idle", "Go")] == [100, 102, 101]
    assert [r.source.line for r in compiled.lookup("B", "Go")] == [101]
    assert compiled.lookup("Done", "Go") == () and compiled.lookup("Idle", "Nope") == ()
    assert compiled.rows_for("A", "Next") == compiled.lookup("A", "Next")
    assert compiled.triggers[("A", "Next")] is compiled.machine.events["Next"]


def test_sessions_never_build_machines(make_runtime, monkeypatch):
    from transitions import Machine

    rt = make_runtime(SIMPLE)
    built = []
    original = Machine.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Machine, "__init__", counting)
    for _ in range(50):
        s = rt.start_session("simple")
        rt.dispatch(s, "Go")
        rt.dispatch(s, "Next")
        assert s.ended
    assert built == [] and rt.tables["simple"].machine.models == []
