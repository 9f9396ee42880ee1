"""The method matrix of ``sipflow compat``: every SIP method, proven end to end from the code.

Rules:

* One row per method of ``sipflow.runtime.builtins.SIP_METHODS`` (or the
  ``methods`` given), with the columns parsed, transaction handling, event(s),
  action(s), tables receiving it, tables sending it and interop tests. Nothing
  in this module lists what a method has: every cell is computed, at compat
  time, from live code and data —

  - *parsed* and *transaction handling*: ``sipflow.compat_probe`` runs the
    parser and two in-memory ``SipEndpoint`` objects; the registered backends
    whose ``capabilities.methods`` hold the method are named beside it;
  - *events*: the registry's events whose ``EventSpec.method`` is the method;
    *actions*: its actions whose ``ActionSpec.sends`` is the method; each
    marked with the registered backends whose ``capabilities`` deliver /
    perform it;
  - *tables*: rows whose ``on:`` is one of the method's events (receiving) or
    whose ``do:`` holds an action that sends it (sending), first row per table;
  - *interop tests*: the ``interop`` markers read from ``tests/interop/*.py``
    (``sipflow.compat_markers``; ``role="harness"`` does not count).

* Backends are read without being started or instantiated: the object an
  entry point of the group ``sipflow.backends`` loads (its factory, usually
  the backend class) must carry a class-level ``capabilities`` attribute of
  type ``Capabilities``. One that does not is named in the notes and delivers
  nothing here.
* A *gap* is a method whose request or response does not parse, that the core
  never hands to the application, or that has no event, no action, no table
  row (receiving or sending), no backend delivering one of its events, or no
  interop test (also when the tests are not available, as in an installed
  wheel: compat cannot prove what it cannot see).
* :func:`build_matrix` takes every input as a parameter whose default is the
  live one, so tests (and other tools) can build the matrix of a custom
  registry, table set, backend set or marker scan.

Theory of operation: gather the inputs once, then one :func:`_row` per method;
``to_markdown`` and ``to_json`` only format the ``Matrix``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipflow.backends.base import Capabilities, available_backends
from sipflow.compat_markers import InteropMarker, MarkerScan, collect_markers, find_interop_dir
from sipflow.compat_probe import CoreResult, ParseResult, probe_core, probe_parse
from sipflow.runtime.builtins import SIP_METHODS, default_registry
from sipflow.runtime.registry import Registry
from sipflow.tables.loader import load_tables, shipped_table_names
from sipflow.tables.model import Row, Source, Table

__all__ = [
    "LIVE", "Live", "BackendInfo", "TableRef", "NameRef", "MethodRow", "Matrix",
    "COLUMNS", "backend_capabilities", "live_markers", "build_matrix", "cells", "row_json",
    "to_markdown", "to_json",
]


class Live(enum.Enum):
    """The type of ``LIVE``."""

    DEFAULT = "live"


LIVE = Live.DEFAULT
"""Default of ``build_matrix(markers=...)``: read the checkout's ``tests/interop``."""

COLUMNS = ("parsed", "transaction", "events", "actions", "tables_receiving", "tables_sending",
           "interop_tests")
"""The matrix's columns after ``method``, as named in the JSON rows."""


# -- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BackendInfo:
    """A registered backend and what it says it can do (None, with ``problem``, when unreadable)."""

    name: str
    capabilities: Capabilities | None
    problem: str = ""


def backend_capabilities(found: Mapping[str, Any] | None = None) -> list[BackendInfo]:
    """The backends of the entry-point group ``sipflow.backends`` and their capabilities.

    ``found`` maps names to entry points (anything with ``load()``); default:
    ``available_backends()``. The loaded object must have a class-level
    ``capabilities`` (a ``Capabilities``); nothing is instantiated or started.
    """
    found = available_backends() if found is None else found
    infos = []
    for name in sorted(found):
        try:
            target = found[name].load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not raised
            infos.append(BackendInfo(name, None, f"backend {name!r} does not load: "
                                                 f"{type(exc).__name__}: {exc}"))
            continue
        caps = getattr(target, "capabilities", None)
        if isinstance(caps, Capabilities):
            infos.append(BackendInfo(name, caps))
        else:
            infos.append(BackendInfo(name, None, f"backend {name!r}: what its entry point loads has "
                                                 "no class-level 'capabilities' (a Capabilities)"))
    return infos


def live_markers() -> MarkerScan | None:
    """The interop markers of this checkout's ``tests/interop``, or None when not available."""
    folder = find_interop_dir()
    return collect_markers(folder) if folder is not None else None


# -- the matrix -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NameRef:
    """An event or action name, and the backends that deliver / perform it."""

    name: str
    backends: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableRef:
    """The first row of ``table`` that receives (or sends) the method, and how many there are."""

    table: str
    file: str
    line: int
    origin: str
    rows: int

    def text(self) -> str:
        """``uas_call:29``, or ``uas_call via in_dialog:40`` for a fragment's row."""
        if self.origin:
            return f"{self.table} via {self.origin}:{self.line}"
        return f"{self.table}:{self.line}"


@dataclass
class MethodRow:
    """One method's row of the matrix."""

    method: str
    parsed: ParseResult
    transaction: CoreResult
    transaction_backends: tuple[str, ...]
    """Registered backends whose ``capabilities.methods`` hold the method."""
    events: list[NameRef]
    actions: list[NameRef]
    tables_receiving: list[TableRef]
    tables_sending: list[TableRef]
    interop_tests: list[InteropMarker] | None
    """None when the tests are not available (installed wheel)."""
    gaps: list[str] = field(default_factory=list)


@dataclass
class Matrix:
    """Every row, the names of the registered backends, and notes about unreadable inputs."""

    rows: list[MethodRow]
    backends: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def gaps(self) -> list[tuple[str, str]]:
        """``(method, gap)`` for every gap, in row order."""
        return [(row.method, gap) for row in self.rows for gap in row.gaps]


def build_matrix(
    methods: Iterable[str] | None = None,
    registry: Registry | None = None,
    tables: list[Table] | None = None,
    backends: list[BackendInfo] | None = None,
    markers: MarkerScan | None | Live = LIVE,
) -> Matrix:
    """Build the matrix; every input defaults to the live one.

    ``methods`` (default ``SIP_METHODS``); ``registry`` (``default_registry()``);
    ``tables`` (the shipped tables, loaded with ``registry``; may raise
    ``TableLoadError``); ``backends`` (``backend_capabilities()``); ``markers``
    (``LIVE``: the checkout's interop tests; None: tests not available).
    """
    methods = tuple(methods) if methods is not None else SIP_METHODS
    registry = registry if registry is not None else default_registry()
    tables = tables if tables is not None else load_tables(shipped_table_names(), registry)
    backends = backends if backends is not None else backend_capabilities()
    scan = live_markers() if markers is LIVE else markers
    notes = [b.problem for b in backends if b.problem]
    if scan is not None:
        notes += scan.problems
        notes += [f"{m.file}:{m.line}: the interop marker of {m.test} names {m.method}, "
                  "which is not a method of this matrix" for m in scan.markers
                  if m.method not in methods and m.counts]
    usable = [b for b in backends if b.capabilities is not None]
    rows = [_row(m, registry, tables, usable, scan, bool(backends)) for m in methods]
    return Matrix(rows, [b.name for b in backends], notes)


def _row(method: str, registry: Registry, tables: list[Table], backends: list[BackendInfo],
         scan: MarkerScan | None, registered: bool) -> MethodRow:
    """One method's row; ``backends`` are the readable ones, ``registered`` whether any is."""
    events = [NameRef(e.name, tuple(b.name for b in backends if e.name in _caps(b).events))
              for e in registry.events.values() if e.method == method]
    actions = [NameRef(a.name, tuple(b.name for b in backends if a.name in _caps(b).actions))
               for a in registry.actions.values() if a.sends == method]
    event_names = {e.name for e in events}
    action_names = {a.name for a in actions}
    receiving = _refs(tables, _receives(event_names))
    sending = _refs(tables, _sends(action_names))
    tests = None if scan is None else [m for m in scan.markers if m.method == method and m.counts]
    runs = tuple(b.name for b in backends if method in _caps(b).methods)
    row = MethodRow(method, probe_parse(method), probe_core(method, SIP_METHODS), runs, events,
                    actions, receiving, sending, tests)
    row.gaps = _gaps(row, registered)
    return row


def _caps(backend: BackendInfo) -> Capabilities:
    assert backend.capabilities is not None
    return backend.capabilities


def _receives(events: set[str]) -> Callable[[Row], Source | None]:
    """Where a row's ``on:`` names one of ``events``, or None."""
    def where(row: Row) -> Source | None:
        return row.locations.get("on", row.source) if row.event in events else None
    return where


def _sends(actions: set[str]) -> Callable[[Row], Source | None]:
    """Where a row's ``do:`` first names one of ``actions``, or None."""
    def where(row: Row) -> Source | None:
        return next((a.source for a in row.actions if a.name in actions), None)
    return where


def _refs(tables: list[Table], where: Callable[[Row], Source | None]) -> list[TableRef]:
    """Per table, where the first matching row matches (and how many rows match)."""
    refs = []
    for table in tables:
        found = [(row, src) for row in table.rows if (src := where(row)) is not None]
        if found:
            row, src = found[0]
            refs.append(TableRef(table.name, src.file, src.line, row.origin, len(found)))
    return refs


def _gaps(row: MethodRow, any_backend: bool) -> list[str]:
    m = row.method
    gaps = []
    if not row.parsed.ok:
        gaps.append(f"parsed: {row.parsed.text}")
    if not row.transaction.accepted:
        gaps.append(f"transaction: the SIP core hands no {m} to the application in any context")
    if not row.events:
        gaps.append(f"event: no registered event has method {m}")
    if not row.actions:
        gaps.append(f"action: no registered action sends {m}")
    if not row.tables_receiving and not row.tables_sending:
        gaps.append(f"tables: no table row receives or sends {m}")
    if not any_backend:
        gaps.append("backend: no backend is registered (entry-point group sipflow.backends)")
    elif row.events and not any(e.backends for e in row.events):
        names = ", ".join(e.name for e in row.events)
        gaps.append(f"backend: no registered backend delivers {names}")
    if row.interop_tests is None:
        gaps.append("interop: tests not available (not running from a checkout)")
    elif not row.interop_tests:
        gaps.append(f"interop: no test carries @pytest.mark.interop(method=\"{m}\")")
    return gaps


# -- output ---------------------------------------------------------------------------------
HEADERS = ("Method", "Parsed", "Transaction handling", "Event(s)", "Action(s)",
           "Tables receiving", "Tables sending", "Interop tests")


def _names(refs: list[NameRef], any_backend: bool) -> str:
    if not refs:
        return "none"
    if not any_backend:
        return ", ".join(r.name for r in refs) + " (no backend registered)"
    return ", ".join(f"{r.name} [{', '.join(r.backends) or 'no backend'}]" for r in refs)


def _tests(tests: list[InteropMarker] | None) -> str:
    if tests is None:
        return "tests not available"
    if not tests:
        return "none"
    return ", ".join(f"{Path(t.file).name}::{t.test} ({t.role})" for t in tests)


def cells(row: MethodRow, any_backend: bool) -> tuple[str, ...]:
    """The text of each column of ``row``, as the Markdown table shows it."""
    return (
        row.method,
        row.parsed.text,
        row.transaction.text(f"[{', '.join(row.transaction_backends)}]"
                             if row.transaction_backends else ""),
        _names(row.events, any_backend),
        _names(row.actions, any_backend),
        ", ".join(r.text() for r in row.tables_receiving) or "none",
        ", ".join(r.text() for r in row.tables_sending) or "none",
        _tests(row.interop_tests),
    )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(matrix: Matrix) -> str:
    """A Markdown table (one row per method), then the gaps and notes as lists."""
    any_backend = bool(matrix.backends)
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in matrix.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in cells(row, any_backend)) + " |")
    with_gaps = [row for row in matrix.rows if row.gaps]
    lines.append("")
    lines.append(f"{len(matrix.rows) - len(with_gaps)} of {len(matrix.rows)} methods without a gap."
                 + (" Gaps:" if with_gaps else ""))
    for method, gap in matrix.gaps:
        lines.append(f"- {method}: {gap}")
    if matrix.notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"- {note}" for note in matrix.notes]
    return "\n".join(lines) + "\n"


def row_json(row: MethodRow) -> dict[str, Any]:
    """One row as plain JSON data: the columns' structured values, their text, and ``gaps``."""
    outcomes = {o.context: {"sent": o.sent, "server_txn": o.server_txn, "client_txn": o.client_txn,
                            "core_responses": list(o.core_statuses), "application": o.app,
                            "text": o.text(), **({"note": o.note} if o.note else {})}
                for o in row.transaction.outcomes}
    default = row.transaction.default_allow
    return {
        "method": row.method,
        "parsed": {"ok": row.parsed.ok, "text": row.parsed.text},
        "transaction": {"kind": row.transaction.kind, "text": row.transaction.text(),
                        "backends": list(row.transaction_backends),
                        "contexts": outcomes,
                        "default_allow": default.text() if default is not None else None},
        "events": [{"name": e.name, "backends": list(e.backends)} for e in row.events],
        "actions": [{"name": a.name, "backends": list(a.backends)} for a in row.actions],
        "tables_receiving": [_table_json(r) for r in row.tables_receiving],
        "tables_sending": [_table_json(r) for r in row.tables_sending],
        "interop_tests": None if row.interop_tests is None else [
            {"test": t.where, "role": t.role, "line": t.line} for t in row.interop_tests],
        "gaps": list(row.gaps),
    }


def _table_json(ref: TableRef) -> dict[str, Any]:
    return {"table": ref.table, "file": ref.file, "line": ref.line, "origin": ref.origin or None,
            "rows": ref.rows}


def to_json(matrix: Matrix) -> str:
    """The rows as a JSON list (2-space indented, final newline)."""
    return json.dumps([row_json(r) for r in matrix.rows], indent=2) + "\n"
