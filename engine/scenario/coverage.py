"""Row coverage: which rows of which tables fired across scenario runs.

Rules:

* Coverage is counted per table *file* (a shipped ``uas_call`` and an edited
  copy in another folder are two tables) and per row, in file order; a row
  included from a fragment counts separately in each table that includes it,
  because it can fire differently there.
* ``Coverage.add(result)`` adds one run's counts; ``expect_tables(names)``
  makes tables appear even when no scenario ran them (all rows unfired), so
  "every row of every default table" can be checked.
* Text form: one line per table (``uas_call  state_tables/uas_call.yaml  25/36
  rows (69.4 %)``), then each row that never fired, ``file:line`` first. JSON
  form: ``{"tables": [{"table", "file", "rows", "fired", "percent", "covered":
  [...], "uncovered": [...]}]}`` where each row is ``{"source", "label",
  "fired"}``.

Theory of operation: the runtime counts each compiled row's firings
(``CompiledTable.coverage()``); the runner copies them into ``RowCoverage``
records; this module only adds and reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sipflow.runtime.builtins import default_registry
from sipflow.tables.loader import load_table

from .runner import RowCoverage, ScenarioResult, merge_rows, row_label


class Coverage:
    """Row coverage accumulated over runs (see the module rules)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[RowCoverage]] = {}
        """Table key (``name  file``) → its rows, in file order."""

    def add(self, result: ScenarioResult) -> None:
        """Add the firing counts of one run."""
        for rows in result.coverage.values():
            self.add_rows(rows)

    def add_rows(self, rows: list[RowCoverage]) -> None:
        """Add the rows of one table (same table file: counts are summed)."""
        if not rows:
            return
        key = _key(rows)
        self.tables[key] = merge_rows(self.tables.get(key, []), rows)

    def expect_tables(self, names: Iterable[str]) -> None:
        """Make sure each table (shipped name or path) is reported, fired or not."""
        registry = default_registry()
        for name in names:
            table = load_table(name, registry)
            rows = [RowCoverage(table.name, index, row.source.short, row_label(row), 0)
                    for index, row in enumerate(table.rows)]
            self.add_rows(rows)

    def uncovered(self) -> dict[str, list[RowCoverage]]:
        """Table key → rows that never fired (tables with none are left out)."""
        out = {}
        for key, rows in self.tables.items():
            missing = [r for r in rows if r.fired == 0]
            if missing:
                out[key] = missing
        return out

    def complete(self) -> bool:
        """True when every row of every table fired at least once."""
        return not self.uncovered()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (see the module rules)."""
        tables = []
        for key, rows in sorted(self.tables.items()):
            fired = sum(1 for r in rows if r.fired)
            tables.append({
                "table": rows[0].table, "file": key.split("  ", 1)[1],
                "rows": len(rows), "fired": fired, "percent": _percent(fired, len(rows)),
                "covered": [_row(r) for r in rows if r.fired],
                "uncovered": [_row(r) for r in rows if not r.fired],
            })
        return {"tables": tables}

    def render_text(self) -> str:
        """The text form (see the module rules)."""
        lines = ["row coverage:"]
        for key, rows in sorted(self.tables.items()):
            fired = sum(1 for r in rows if r.fired)
            lines.append(f"  {key}  {fired}/{len(rows)} rows ({_percent(fired, len(rows))} %)")
            for row in rows:
                if not row.fired:
                    lines.append(f"    never fired: {row.source}  {row.label}")
        return "\n".join(lines)


def _key(rows: list[RowCoverage]) -> str:
    """``name  file`` of the table the rows belong to (the file of its first own row)."""
    return f"{rows[0].table}  {rows[0].source.rsplit(':', 1)[0]}"


def _row(row: RowCoverage) -> dict[str, Any]:
    return {"source": row.source, "label": row.label, "fired": row.fired}


def _percent(fired: int, total: int) -> float:
    return round(100.0 * fired / total, 1) if total else 100.0
