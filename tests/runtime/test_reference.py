"""The compiled engine agrees with a direct reading of the table model (property test).

The reference below interprets ``Table.rows_for`` (precedence), the guards
(all must hold, ``not`` negates), actions, ``publish`` and ``to`` in the most
obvious way, one event at a time. The runtime runs the same shipped tables
through the shared ``transitions`` machine. For random event sequences both
must produce the same states, the same backend actions with the same
parameters, and the same published events.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.clock import VirtualClock
from sipflow.runtime.builtins import default_registry
from sipflow.runtime.compiler import compile_table
from sipflow.runtime.params import coerce, resolve
from sipflow.runtime.registry import Registry
from sipflow.runtime.runtime import SESSION_ENDED, Runtime
from sipflow.tables.loader import load_table
from sipflow.tables.model import ANY, ActionCall, GuardCall, Row, Source, StateDef, Table

LOG: list[Any] = []


def _recorder(name: str) -> Any:
    def record(ctx: Any, **params: Any) -> None:
        LOG.append(("perform", name, params))

    return record


def recording_registry() -> Registry:
    """The built-in names; every action only records its name and parameters."""
    reg = default_registry()
    for name, spec in list(reg.actions.items()):
        reg.actions[name] = dataclasses.replace(spec, func=_recorder(name))
    return reg


REGISTRY = recording_registry()
TABLES = {name: load_table(name, REGISTRY) for name in ("uac_call", "uas_call")}
COMPILED = {name: compile_table(table, REGISTRY) for name, table in TABLES.items()}
EVENTS = sorted({row.event for t in TABLES.values() for row in t.rows} | {"DialogREGISTER", "Hold"})

event_data = st.fixed_dictionaries({
    "has_sdp": st.booleans(),
    "reliable": st.booleans(),
    "in_dialog": st.booleans(),
    "method": st.sampled_from(["INVITE", "CANCEL", "BYE", "UPDATE"]),
    "code": st.sampled_from([180, 183, 200, 302, 401, 486, 487, 503, 603]),
})
sequences = st.lists(st.tuples(st.sampled_from(EVENTS), event_data), max_size=25)


class FakeCtx:
    def __init__(self, table: Table, data: dict[str, Any]) -> None:
        self.table = table
        self.event = type("E", (), {"data": data, "name": "", "message": None})()

    def param(self, name: str) -> Any:
        return self.table.parameters[name]


def reference(table: Table, events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    state, out = table.initial, []
    final = set(table.final_states)
    for name, data in events:
        if state in final:
            out.append(("ignored", name, state))
            continue
        ctx = FakeCtx(table, data)
        for row in table.rows_for(state, name):
            held = all(bool(REGISTRY.guards[g.name].func(ctx, **g.params)) is not g.negate
                       for g in row.guards)
            if not held:
                continue
            for action in row.actions:
                types = {p.name: p.type for p in REGISTRY.actions[action.name].params}
                params = {k: coerce(resolve(v, ctx.param), types.get(k), k) for k, v in action.params.items()}
                out.append(("perform", action.name, params))
            out.extend(("publish", p) for p in row.publish)
            state = row.target or state
            out.append(("state", name, state))
            break
        else:
            out.append(("unhandled", name, state))
    return out


def engine(table: Table, events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    LOG.clear()
    rt = Runtime([COMPILED[table.name]], REGISTRY, VirtualClock())
    rt.subscribe(lambda s, n, d: n != SESSION_ENDED and LOG.append(("publish", n)))
    session = rt.start_session(table.name, handle="k")
    for name, data in events:
        if session.ended:
            assert rt.dispatch(session, name, data) is False
            LOG.append(("ignored", name, session.state))
        elif rt.dispatch(session, name, data):
            LOG.append(("state", name, session.state))
        else:
            LOG.append(("unhandled", name, session.state))
    assert not rt.failures
    return list(LOG)


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=150, deadline=None)
@given(events=sequences)
def test_engine_matches_the_table_model(name, events):
    table = TABLES[name]
    assert engine(table, events) == reference(table, events)


def test_reference_is_not_vacuous():
    """A known sequence: the reference and the engine both answer, ring, connect and hang up."""
    table = TABLES["uas_call"]
    events = [("DialogINVITE", {}), ("Answer", {}), ("DialogACK", {}), ("DialogBYE", {})]
    out = engine(table, events)
    assert out == reference(table, events)
    assert ("publish", "CallEstablished") in out and out[-1] == ("state", "DialogBYE", "Terminated")


# -- random tables: precedence, Any, guards and stay rows in every combination -----------------
STATES = ["S0", "S1", "S2", "End"]
GUARDS = ["has_sdp", "reliable_provisional", "in_dialog"]
COMMANDS = ["Answer", "HangUp"]


SOURCES = st.one_of(st.just((ANY,)),
                    st.lists(st.sampled_from(STATES), min_size=1, max_size=3, unique=True).map(tuple))
GUARD_LISTS = st.lists(st.tuples(st.sampled_from(GUARDS), st.booleans()), max_size=2)
ACTION_LISTS = st.lists(st.sampled_from(["SendINFO", "SendBYE"]), max_size=2)
TARGETS = st.one_of(st.none(), st.sampled_from(STATES))
PUBLISH = st.lists(st.sampled_from(["Ringing", "CallEnded"]), max_size=1)
RAW_ROWS = st.lists(st.tuples(SOURCES, st.sampled_from(COMMANDS), GUARD_LISTS, ACTION_LISTS, TARGETS, PUBLISH),
                    min_size=1, max_size=14)


def table_from(raw: list[tuple[Any, ...]]) -> Table:
    rows = []
    for n, (sources, event, guards, actions, target, publish) in enumerate(raw):
        src = Source("random.yaml", 10 + n, 3)
        rows.append(Row(sources, event, tuple(GuardCall(g, {}, neg, src) for g, neg in guards),
                        tuple(ActionCall(a, {"body": f"row{n}"}, src) for a in actions),
                        target, tuple(publish), src))
    states = {s: StateDef(s, Source("random.yaml", 2, 3), final=(s == "End")) for s in STATES}
    return Table("random", "UA", "S0", states, rows, Source("random.yaml", 1, 1))


random_tables = RAW_ROWS.map(table_from)


command_data = st.fixed_dictionaries({g: st.booleans() for g in ("has_sdp", "reliable", "in_dialog")})


@settings(max_examples=120, deadline=None)
@given(table=random_tables, events=st.lists(st.tuples(st.sampled_from(COMMANDS), command_data), max_size=12))
def test_engine_matches_the_model_on_random_tables(table, events):
    compiled = compile_table(table, REGISTRY, lint=False)
    COMPILED[table.name] = compiled
    assert engine(table, events) == reference(table, events)
