"""Fixtures for the runtime tests: tables built in code, a recording registry, a virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from sipflow.clock import VirtualClock
from sipflow.runtime.builtins import default_registry
from sipflow.runtime.registry import ParamSpec, Registry
from sipflow.runtime.runtime import Runtime
from sipflow.tables.model import (
    ActionCall,
    GuardCall,
    ParamRef,
    Row,
    Source,
    StateDef,
    StateTimer,
    Table,
)

FILE = "test_table.yaml"


def _value(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"param"}:
        return ParamRef(v["param"])
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    return v


def _guard(entry: Any, line: int) -> GuardCall:
    negate = False
    if isinstance(entry, dict) and "not" in entry:
        negate, entry = True, entry["not"]
    if isinstance(entry, str):
        return GuardCall(entry, {}, negate, Source(FILE, line, 5))
    (name, params), = entry.items()
    if not isinstance(params, dict) or set(params) == {"param"}:
        params = {"value": params}
    return GuardCall(name, _value(params), negate, Source(FILE, line, 5))


def _action(entry: Any, line: int) -> ActionCall:
    if isinstance(entry, str):
        return ActionCall(entry, {}, Source(FILE, line, 9))
    (name, params), = entry.items()
    return ActionCall(name, _value(params), Source(FILE, line, 9))


def build_table(spec: dict[str, Any]) -> Table:
    """A ``Table`` from a dict shaped like the YAML; row N (0-based) is on line 100 + N."""
    states = {}
    for i, (name, sdef) in enumerate(spec["states"].items()):
        sdef = sdef or {}
        timers = tuple(StateTimer(t, _value(d) if isinstance(d, dict) else float(d), Source(FILE, 50 + i, 3))
                       for t, d in (sdef.get("timers") or {}).items())
        states[name] = StateDef(name, Source(FILE, 50 + i, 3), bool(sdef.get("final")), timers)
    rows = []
    for n, r in enumerate(spec["transitions"]):
        line = 100 + n
        sources = r["from"] if isinstance(r["from"], list) else [r["from"]]
        rows.append(Row(tuple(sources), r["on"], tuple(_guard(g, line) for g in r.get("if", [])),
                        tuple(_action(a, line) for a in r.get("do", [])), r.get("to"),
                        tuple(r.get("publish", [])), Source(FILE, line, 5)))
    return Table(spec.get("table", "t"), spec.get("role", "UA"), spec.get("initial", "Idle"), states,
                 rows, Source(FILE, 1, 1), starts_on=tuple(spec.get("starts_on", ())),
                 parameters=dict(spec.get("parameters", {})), files=(FILE,))


class Recorder:
    """Collects what the recording actions saw, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []


def recording_registry(rec: Recorder) -> Registry:
    reg = default_registry().copy()
    reg.add_event("Go", "command", "test event")
    reg.add_event("Next", "command", "test event")
    reg.add_event("Poke", "command", "test event")

    @reg.action("Note", "record a tag", (ParamSpec("tag", "str", "what to record", required=True),))
    def note(ctx: Any, tag: Any) -> None:
        rec.calls.append(("note", tag, ctx.session.state, ctx.event.name))

    @reg.action("Count", "record an int", (ParamSpec("n", "int", "a number", required=True),))
    def count(ctx: Any, n: int) -> None:
        rec.calls.append(("count", n))

    @reg.action("Raise", "raise an event for the session", (ParamSpec("event", "str", "event", required=True),))
    def raise_(ctx: Any, event: str) -> None:
        rec.calls.append(("raise", event))
        ctx.raise_event(event, {"by": ctx.event.name})

    @reg.action("Boom", "an action that fails")
    def boom(ctx: Any) -> None:
        rec.calls.append(("boom",))
        raise ValueError("boom")

    @reg.action("Shout", "publish an application event", (ParamSpec("name", "str", "event", required=True),))
    def shout(ctx: Any, name: str) -> None:
        ctx.publish(name, {"from": "action"})

    @reg.guard("flag", "the event data has this key set", (ParamSpec("value", "str", "key", required=True),),
               scalar="value")
    def flag(ctx: Any, value: str) -> bool:
        rec.calls.append(("guard", value))
        return bool(ctx.event.data.get(value))

    @reg.guard("broken", "a guard that fails")
    def broken(ctx: Any) -> bool:
        raise RuntimeError("broken guard")

    return reg


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(rec: Recorder) -> Registry:
    return recording_registry(rec)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_runtime(registry: Registry, clock: VirtualClock):
    """A runtime over tables built in code. Lint is off: these tables exercise engine
    semantics, some on purpose (duplicate rows to show precedence); test_lint.py covers
    the runtime's refusal of tables that fail lint."""

    def make(*specs: dict[str, Any], **kwargs: Any) -> Runtime:
        kwargs.setdefault("lint", False)
        return Runtime([build_table(s) for s in specs], registry, clock, **kwargs)

    return make


@pytest.fixture
def build():
    """``build(spec) -> Table`` (see ``build_table``)."""
    return build_table
