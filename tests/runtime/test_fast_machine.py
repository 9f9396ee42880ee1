"""``TableMachine`` (``FastEvent``/``FastTransition``) behaves exactly like a plain ``Machine``.

Random machines — rows with and without ``dest``, conditions and ``unless``,
``prepare``/``before``/``after``, state entry and exit, final states,
machine-wide ``before_state_change``/``after_state_change``/``on_final``,
callbacks as callables or as model method names, callbacks that raise — are
built twice, once with transitions' own classes and once with ours, both
shared by several models (``model=None``, the session as the model), and fed
the same events: the order of every callback, each trigger's result or
exception, and every model's state must be the same.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transitions import Machine, MachineError, State

from sipflow.runtime.compiler import FastEvent, FastTransition, TableMachine

from .test_compiler import SIMPLE

STATES = ["A", "B", "C", "Done"]
EVENTS = ["go", "poke", "stop"]


class Boom(Exception):
    """Raised by a callback on purpose."""


class Model:
    """A session-like model that records what happens to it."""

    __slots__ = ("state", "log", "flags")

    def __init__(self, initial: str, log: list[Any], flags: dict[str, bool]) -> None:
        self.state = initial
        self.log = log
        self.flags = flags

    def named(self, event_data: Any) -> None:
        """A callback given to transitions by name (resolved on the model)."""
        self.log.append(("named", event_data.event.name, event_data.state.name))

    def named_cond(self, event_data: Any) -> bool:
        self.log.append(("named_cond", event_data.event.name))
        return self.flags["n"]


def recorder(log: list[Any], tag: str, raises: bool = False) -> Any:
    def callback(event_data: Any) -> None:
        log.append((tag, event_data.event.name, event_data.state.name,
                    event_data.transition.source if event_data.transition else None, event_data.model.state))
        if raises:
            raise Boom(tag)

    return callback


def condition(log: list[Any], tag: str, flag: str) -> Any:
    def check(event_data: Any) -> bool:
        log.append((tag, event_data.event.name, event_data.args, event_data.kwargs))
        return event_data.model.flags[flag]

    return check


ROWS = st.lists(st.fixed_dictionaries({
    "trigger": st.sampled_from(EVENTS),
    "source": st.lists(st.sampled_from(STATES[:3]), min_size=1, max_size=3, unique=True),
    "dest": st.one_of(st.none(), st.sampled_from(STATES)),
    "conditions": st.lists(st.sampled_from(["x", "y", "named"]), max_size=2),
    "unless": st.lists(st.sampled_from(["x", "y"]), max_size=1),
    "prepare": st.booleans(),
    "before": st.sampled_from(["none", "callable", "named", "raises"]),
    "after": st.booleans(),
}), min_size=1, max_size=10)
MACHINE_WIDE = st.fixed_dictionaries({"before_state_change": st.booleans(), "after_state_change": st.booleans(),
                                      "on_final": st.booleans(), "enter_exit": st.booleans()})
STEPS = st.lists(st.tuples(st.integers(0, 1), st.sampled_from(EVENTS), st.booleans(), st.booleans(),
                           st.booleans()), max_size=15)


def build(cls: type[Machine], rows: list[dict[str, Any]], wide: dict[str, bool], log: list[Any]) -> Machine:
    states = []
    for name in STATES:
        if wide["enter_exit"]:
            states.append(State(name, on_enter=[recorder(log, f"enter {name}")],
                                on_exit=[recorder(log, f"exit {name}")], final=name == "Done"))
        else:
            states.append(State(name, final=name == "Done"))
    machine = cls(model=None, states=states, initial="A", auto_transitions=False, send_event=True,
                  ignore_invalid_triggers=False, name="m",
                  before_state_change=[recorder(log, "bsc")] if wide["before_state_change"] else [],
                  after_state_change=[recorder(log, "asc")] if wide["after_state_change"] else [],
                  on_final=[recorder(log, "final")] if wide["on_final"] else [])
    for n, row in enumerate(rows):
        conds = [("named_cond" if c == "named" else condition(log, f"c{n}{c}", c)) for c in row["conditions"]]
        before = {"none": [], "callable": [recorder(log, f"before{n}")], "named": ["named"],
                  "raises": [recorder(log, f"before{n}", raises=True)]}[row["before"]]
        machine.add_transition(row["trigger"], row["source"], row["dest"], conditions=conds,
                               unless=[condition(log, f"u{n}{c}", c) for c in row["unless"]],
                               prepare=[recorder(log, f"prepare{n}")] if row["prepare"] else [],
                               before=before, after=[recorder(log, f"after{n}")] if row["after"] else [])
    return machine


def run(cls: type[Machine], rows: list[dict[str, Any]], wide: dict[str, bool],
        steps: list[tuple[int, str, bool, bool, bool]]) -> tuple[list[Any], list[str]]:
    log: list[Any] = []
    machine = build(cls, rows, wide, log)
    models = [Model("A", log, {}), Model("A", log, {})]
    for which, event, x, y, n in steps:
        model = models[which]
        model.flags.update(x=x, y=y, n=n)
        try:
            log.append(("result", machine.events[event].trigger(model, "arg", key=which)
                        if event in machine.events else "no event"))
        except MachineError as exc:
            log.append(("MachineError", str(exc)))
        except Boom as exc:
            log.append(("Boom", str(exc)))
        log.append(("state", which, model.state))
    return log, [m.state for m in models]


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, wide=MACHINE_WIDE, steps=STEPS)
def test_fast_classes_match_transitions(rows, wide, steps):
    assert run(TableMachine, rows, wide, steps) == run(Machine, rows, wide, steps)


def test_the_comparison_sees_callbacks_and_state_changes():
    rows = [{"trigger": "go", "source": ["A"], "dest": "B", "conditions": ["x", "named"], "unless": ["y"],
             "prepare": True, "before": "named", "after": True},
            {"trigger": "go", "source": ["A"], "dest": "Done", "conditions": [], "unless": [],
             "prepare": False, "before": "raises", "after": False}]
    wide = dict.fromkeys(["before_state_change", "after_state_change", "on_final", "enter_exit"], True)
    steps = [(0, "go", True, False, True), (1, "go", True, True, True), (0, "go", False, False, False)]
    log, states = run(TableMachine, rows, wide, steps)
    assert states == ["B", "A"]
    tags = [entry[0] for entry in log]
    assert tags[:11] == ["prepare0", "c0x", "named_cond", "u0y", "bsc", "named", "exit A", "enter B",
                         "after0", "asc", "result"]
    assert ("Boom", "before1") in log  # model 1: row 0 refused by unless, row 1's before raised
    assert ("MachineError", "\"m: Can't trigger event go from state B!\"") in log  # no row from B


def test_compiled_tables_use_the_fast_classes_and_log_nothing(make_runtime, caplog):
    rt = make_runtime(SIMPLE)
    compiled = rt.tables["simple"]
    assert isinstance(compiled.machine, TableMachine)
    assert all(isinstance(e, FastEvent) for e in compiled.machine.events.values())
    assert all(isinstance(t, FastTransition)
               for e in compiled.machine.events.values() for ts in e.transitions.values() for t in ts)
    session = rt.start_session("simple")
    with caplog.at_level(logging.DEBUG, logger="transitions"):
        assert rt.dispatch(session, "Go") and rt.dispatch(session, "Next")
    assert session.state == "Done"
    assert [r for r in caplog.records if r.name.startswith("transitions")] == []


def test_plain_transitions_would_have_logged(caplog):
    """The previous test is not vacuous: the same kind of call through transitions' classes logs."""
    machine = Machine(model=None, states=["A", "B"], initial="A", auto_transitions=False, send_event=True)
    machine.add_transition("go", "A", "B")
    with caplog.at_level(logging.DEBUG, logger="transitions"):
        assert machine.events["go"].trigger(Model("A", [], {}))
    assert any(r.name.startswith("transitions") for r in caplog.records)


@pytest.mark.parametrize("setting", ["prepare_event", "finalize_event", "on_exception"])
def test_machine_wide_event_callbacks_take_transitions_own_path(setting):
    log: list[Any] = []
    machine = TableMachine(model=None, states=["A", "B"], initial="A", auto_transitions=False, send_event=True,
                           **{setting: [recorder(log, setting)]})
    machine.add_transition("go", "A", "B", before=[recorder(log, "before", raises=True)])
    model = Model("A", log, {})
    if setting == "on_exception":
        assert machine.events["go"].trigger(model) is False  # the exception went to on_exception
    else:
        with pytest.raises(Boom):
            machine.events["go"].trigger(model)
    assert setting in [entry[0] for entry in log]


def test_a_queued_table_machine_still_queues():
    log: list[Any] = []
    machine = TableMachine(model=None, states=["A", "B", "C"], initial="A", auto_transitions=False,
                           send_event=True, queued=True)
    model = Model("A", log, {})

    def chain(event_data: Any) -> None:
        log.append(("queued", machine.events["next"].trigger(model)))
        log.append(("still", model.state))

    machine.add_transition("go", "A", "B", after=[chain])
    machine.add_transition("next", "B", "C")
    assert machine.events["go"].trigger(model) is True
    assert log == [("queued", True), ("still", "B")] and model.state == "C"


def test_callbacks_set_on_a_compiled_machine_later_are_called(make_runtime):
    """What the scenario observer does: machine-wide lists assigned after compiling take effect."""
    rt = make_runtime(SIMPLE)
    machine = rt.tables["simple"].machine
    log: list[Any] = []
    machine.before_state_change = [recorder(log, "bsc")]
    machine.after_state_change = [recorder(log, "asc")]
    session = rt.start_session("simple")
    assert rt.dispatch(session, "Go") and rt.dispatch(session, "Next")
    assert [(tag, event, state) for tag, event, state, _, _ in log] == [
        ("bsc", "Go", "Idle"), ("asc", "Go", "A"), ("bsc", "Next", "A"), ("asc", "Next", "Done")]
    machine.prepare_event = [recorder(log, "prepare_event")]  # now transitions' own path
    other = rt.start_session("simple")
    assert rt.dispatch(other, "Go") and other.state == "A"
    assert log[-3][0] == "prepare_event"


class LoudState(State):
    """A ``State`` subclass that does more than its callbacks on entry and exit."""

    def enter(self, event_data: Any) -> None:
        event_data.model.log.append(("loud enter", self.name))
        super().enter(event_data)

    def exit(self, event_data: Any) -> None:
        event_data.model.log.append(("loud exit", self.name))
        super().exit(event_data)


@pytest.mark.parametrize("cls", [Machine, TableMachine])
def test_state_subclasses_keep_their_enter_and_exit(cls):
    log: list[Any] = []
    machine = cls(model=None, states=[LoudState("A", on_exit=[recorder(log, "exit A")]), State("B")],
                  initial="A", auto_transitions=False, send_event=True)
    machine.add_transition("go", "A", "B")
    model = Model("A", log, {})
    assert machine.events["go"].trigger(model) and model.state == "B"
    assert [entry[0] for entry in log] == ["loud exit", "exit A"]
