"""Lint state tables: every problem at once, each with ``file:line:col``, a rule id and a hint.

Rules (the catalogue with ids is ``rules.RULES``; the README lists it):

* ``lint_paths`` loads each path (shipped name, file or directory; none means the
  shipped tables), reports load problems (``E-INPUT``, ``E-YAML``, ``E-DUPLICATE-KEY``,
  ``E-SCHEMA``, ``E-UNKNOWN-FRAGMENT``), lints every table that loaded, then checks the
  tables against each other (``E-STARTS-ON-CONFLICT``).
* ``lint_table`` runs the semantic checks on one ``Table`` (also one built in code):
  names and parameters (``lint_names``), competing rows (``lint_rows``), the state
  graph and timers (``lint_graph``), unhandled requests (``lint_requests``).
* A table whose shape is wrong is not linted further: the schema errors come first.
* ``deliverable``: the request events the backend delivers. Default
  (``default_deliverable``): the request events that the backends registered under
  ``sipflow.backends`` deliver (their ``capabilities.events``, read without building a
  backend; the union over backends), or every request event of the registry when no
  backend is registered or readable. So ``W-UNHANDLED-REQUEST`` never asks for a row
  that no backend can reach.

Exit status (``LintReport.exit_code``): 2 when any input was unusable, else 1 when
there are errors (or warnings with ``strict``), else 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sipflow.runtime.registry import Registry

from .diagnostics import Diagnostic, error
from .lint_context import LintContext
from .lint_graph import check_graph, check_starts_on, check_timers
from .lint_names import check_guard_domains, check_names, check_unused_parameters
from .lint_requests import check_requests
from .lint_rows import check_rows
from .loader import TableLoadError, expand_paths, load_checked, resolve, shipped_table_names
from .model import Table

__all__ = ["Diagnostic", "LintReport", "default_deliverable", "lint_paths", "lint_table", "lint_tables"]

CHECKS = (check_names, check_guard_domains, check_unused_parameters, check_rows, check_graph, check_timers,
          check_starts_on, check_requests)


@dataclass
class LintReport:
    """The outcome of ``lint_paths``: diagnostics in file order, and the tables that loaded."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    unusable: bool = False

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def exit_code(self, strict: bool = False) -> int:
        """2 unusable input, 1 errors (or warnings when ``strict``), 0 otherwise."""
        if self.unusable:
            return 2
        if self.errors or (strict and self.warnings):
            return 1
        return 0


def _registry(registry: Registry | None) -> Registry:
    if registry is None:
        from sipflow.runtime.builtins import default_registry

        return default_registry()
    return registry


def default_deliverable(registry: Registry | None = None,
                        backends: Iterable[Any] | None = None) -> frozenset[str]:
    """The request events the registered backends deliver (see the module rules).

    ``backends``: ``BackendInfo`` records (``name``, ``capabilities`` or None); default:
    ``sipflow.compat.backend_capabilities()``, the entry points of ``sipflow.backends``.
    """
    requests = frozenset(e.name for e in _registry(registry).events_of_kind("request"))
    if backends is None:
        from sipflow.compat import backend_capabilities

        backends = backend_capabilities()
    delivered: set[str] = set()
    readable = False
    for info in backends:
        if info.capabilities is not None:
            readable = True
            delivered.update(info.capabilities.events)
    return frozenset(delivered & requests) if readable else requests


def lint_table(table: Table, registry: Registry | None = None,
               deliverable: Iterable[str] | None = None) -> list[Diagnostic]:
    """Every semantic problem of one table, sorted by position (``deliverable``: see the
    module rules; default ``default_deliverable(registry)``)."""
    reg = _registry(registry)
    if deliverable is None:
        deliverable = default_deliverable(reg)
    ctx = LintContext(table, reg, frozenset(deliverable))
    for check in CHECKS:
        check(ctx)
    return _unique(ctx.found)


def lint_tables(tables: Iterable[Table]) -> list[Diagnostic]:
    """Problems between tables: two tables that start on the same event."""
    first: dict[str, Table] = {}
    found = []
    for table in tables:
        for n, event in enumerate(table.starts_on):
            other = first.setdefault(event, table)
            if other is table:
                continue
            where = table.locations.get(f"starts_on.{n}") or table.source
            found.append(error(where.file, where.line, where.col, "E-STARTS-ON-CONFLICT",
                               f"table {table.name!r} starts on {event}, and so does {other.name!r} "
                               f"({other.source.file})", "an event may open sessions of one table only"))
    return found


def lint_paths(paths: Iterable[str | Path], registry: Registry | None = None,
               deliverable: Iterable[str] | None = None) -> LintReport:
    """Load and lint every table named by ``paths`` (empty: the shipped tables)."""
    reg = _registry(registry)
    if deliverable is None:
        deliverable = default_deliverable(reg)  # once, not per table
    report = LintReport()
    items = list(paths) or list(shipped_table_names())
    expanded: list[str | Path] = []
    for item in items:
        try:
            expanded.extend(expand_paths([item]))
        except TableLoadError as exc:
            report.diagnostics.append(error(exc.file, exc.line, exc.col, "E-INPUT", exc.message, exc.hint,
                                            unusable=True))
    found: list[Diagnostic] = []
    seen: set[str] = set()
    for item in expanded:
        key = _identity(item)
        if key in seen:
            continue  # the same file named twice (e.g. by name and by path)
        seen.add(key)
        result = load_checked(item, reg)
        found.extend(result.diagnostics)
        if result.table is not None:
            report.tables.append(result.table)
            found.extend(lint_table(result.table, reg, deliverable))
    found.extend(lint_tables(report.tables))
    report.diagnostics.extend(_unique(found))
    report.unusable = any(d.unusable for d in report.diagnostics)
    return report


def _identity(item: str | Path) -> str:
    try:
        path, _ = resolve(item)
        return str(path.resolve())
    except (TableLoadError, OSError):
        return str(item)


def _unique(found: list[Diagnostic]) -> list[Diagnostic]:
    """Drop repeats (a fragment's problem reported through two tables), keep file order."""
    files: dict[str, int] = {}
    for d in found:
        files.setdefault(d.file, len(files))
    unique = {(d.file, d.line, d.col, d.rule, d.message): d for d in found}
    return sorted(unique.values(), key=lambda d: (files[d.file], d.line, d.col, d.rule))
