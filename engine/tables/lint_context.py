"""What every lint check needs: the table, the registry and a way to report.

Rules: a check is a function ``check(ctx) -> None`` that calls ``ctx.report``; it
never raises for bad tables. Positions come from the model's ``Source`` records
(``Row.locations`` when the loader filled them, else the row's own source), so
tables built in code are linted too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sipflow.runtime.registry import Registry

from .diagnostics import Diagnostic
from .model import Row, Source, Table
from .rules import RULES, severity


@dataclass
class LintContext:
    """One table under lint, and the diagnostics found so far."""

    table: Table
    registry: Registry
    deliverable: frozenset[str]
    found: list[Diagnostic] = field(default_factory=list)

    def report(self, rule: str, where: Source, message: str, hint: str = "") -> None:
        assert rule in RULES, rule
        self.found.append(Diagnostic(where.file, where.line, where.col, rule, severity(rule),
                                     message, hint))

    # -- helpers shared by checks --------------------------------------------------
    @staticmethod
    def at(row: Row, key: str) -> Source:
        """Where part ``key`` of ``row`` was written (the row's start if unknown)."""
        return row.locations.get(key) or row.source

    def table_at(self, key: str) -> Source:
        return self.table.locations.get(key) or self.table.source

    def states_of(self, row: Row) -> list[str]:
        """The declared states a row applies in (``Any``: every non-final state)."""
        if row.is_any:
            return [n for n, s in self.table.states.items() if not s.final]
        return [s for s in row.sources if s in self.table.states]

    def rows_for(self, state: str, event: str) -> list[Row]:
        return self.table.rows_for(state, event)

    @property
    def request_events(self) -> frozenset[str]:
        """Every request event of the registry (``DialogINVITE`` … ``DialogPUBLISH``)."""
        return frozenset(e.name for e in self.registry.events_of_kind("request"))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``did you mean 'X'?`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""
