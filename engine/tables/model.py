"""The in-memory form of a state table, after loading and before compiling.

The loader (``loader.py``) builds these records from YAML, each carrying the
``Source`` (file, line, column) it came from; lint (``lint.py``) checks them;
the runtime (``sipflow.runtime.compiler``) compiles them into one shared
``transitions`` machine; render draws them. Nothing here knows about YAML,
SIP or transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANY = "Any"
"""The pseudo-state of ``from: Any``: every non-final state."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where something was written: 1-based line and column."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def short(self) -> str:
        """``file:line``, as shown in coverage, render and explain."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ParamRef:
    """``{param: NAME}``: a value taken from the table's parameters at run time."""

    name: str


@dataclass(frozen=True, slots=True)
class GuardCall:
    """One entry of a row's ``if`` list: ``name``, ``{name: params}`` or ``{not: ...}``.

    A scalar parameter (``{code: 486}``) is stored as ``{"value": 486}`` unless the
    guard declares another single parameter name.
    """

    name: str
    params: dict[str, Any]
    negate: bool
    source: Source

    def label(self) -> str:
        """A short text form, for diagrams and messages: ``not code=486``."""
        args = ",".join(_fmt(v) for v in self.params.values())
        text = f"{self.name}={args}" if args else self.name
        return f"not {text}" if self.negate else text


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One entry of a row's ``do`` list: ``Name`` or ``{Name: {param: value, ...}}``."""

    name: str
    params: dict[str, Any]
    source: Source

    def label(self) -> str:
        if not self.params:
            return self.name
        args = ",".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.name}({args})"


@dataclass(frozen=True, slots=True)
class StateTimer:
    """``timers: {NoAnswer: 180s}`` on a state: fires ``TimerNoAnswer`` after ``duration``."""

    name: str
    duration: float | ParamRef
    source: Source

    @property
    def event(self) -> str:
        return f"Timer{self.name}"


@dataclass(slots=True)
class StateDef:
    name: str
    source: Source
    final: bool = False
    timers: tuple[StateTimer, ...] = ()
    description: str = ""


@dataclass(slots=True)
class Row:
    """One transition row.

    ``sources`` holds the state names of ``from`` (``("Any",)`` for ``from: Any``);
    ``target`` is None for a row without ``to`` (stay: no exit, no entry).
    ``origin`` names the fragment a row was included from, or "" for the table's own rows.
    """

    sources: tuple[str, ...]
    event: str
    guards: tuple[GuardCall, ...]
    actions: tuple[ActionCall, ...]
    target: str | None
    publish: tuple[str, ...]
    source: Source
    origin: str = ""
    locations: dict[str, Source] = field(default_factory=dict)
    """Where each part of the row was written: keys ``from``, ``on``, ``to``, ``if``, ``do``,
    ``publish`` and ``from.N`` / ``publish.N`` for list items (filled by the loader)."""

    @property
    def is_any(self) -> bool:
        return ANY in self.sources

    def label(self) -> str:
        """``event [guards] / actions``, as on a diagram edge."""
        text = self.event
        if self.guards:
            text += " [" + ", ".join(g.label() for g in self.guards) + "]"
        if self.actions:
            text += " / " + ", ".join(a.label() for a in self.actions)
        return text


@dataclass(slots=True)
class Table:
    """A whole table, with its included fragments merged in."""

    name: str
    role: str
    initial: str
    states: dict[str, StateDef]
    rows: list[Row]
    source: Source
    starts_on: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_sources: dict[str, Source] = field(default_factory=dict)
    includes: tuple[str, ...] = ()
    description: str = ""
    files: tuple[str, ...] = ()
    version: str = ""
    locations: dict[str, Source] = field(default_factory=dict)
    """Where header values were written: ``initial``, ``starts_on.N``, ``include.N``,
    ``parameters`` (filled by the loader; parameter names are in ``parameter_sources``)."""

    @property
    def final_states(self) -> list[str]:
        return [name for name, st in self.states.items() if st.final]

    def rows_for(self, state: str, event: str) -> list[Row]:
        """The rows that may fire for ``event`` in ``state``, in precedence order:
        the state's own rows in file order, then ``from: Any`` rows (never for final states)."""
        named = [r for r in self.rows if r.event == event and state in r.sources]
        if self.states.get(state) is not None and self.states[state].final:
            return named
        return named + [r for r in self.rows if r.event == event and r.is_any]


def _fmt(value: Any) -> str:
    if isinstance(value, ParamRef):
        return f"${value.name}"
    if isinstance(value, list | tuple):
        return "|".join(_fmt(v) for v in value)
    return str(value)
