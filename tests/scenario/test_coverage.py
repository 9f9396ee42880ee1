"""Row coverage: counts added across runs, per table file, fragment rows counted per table."""

from __future__ import annotations

from sipflow.scenario import load_scenario, run_scenario
from sipflow.scenario.coverage import Coverage
from sipflow.scenario.runner import RowCoverage
from sipflow.tables.loader import load_table


def rows(table: str, fired: list[int]) -> list[RowCoverage]:
    return [RowCoverage(table, i, f"{table}.yaml:{10 + i}", f"row {i}", n) for i, n in enumerate(fired)]


def test_counts_add_up_and_uncovered_rows_are_listed() -> None:
    coverage = Coverage()
    coverage.add_rows(rows("t", [1, 0, 0]))
    coverage.add_rows(rows("t", [0, 2, 0]))
    (key,) = coverage.tables
    assert key == "t  t.yaml"
    assert [r.fired for r in coverage.tables[key]] == [1, 2, 0]
    assert [r.source for r in coverage.uncovered()[key]] == ["t.yaml:12"]
    assert not coverage.complete()
    document = coverage.as_dict()
    (table,) = document["tables"]
    assert (table["table"], table["file"], table["rows"], table["fired"], table["percent"]) == \
        ("t", "t.yaml", 3, 2, 66.7)
    assert table["uncovered"] == [{"source": "t.yaml:12", "label": "row 2", "fired": 0}]
    text = coverage.render_text()
    assert "t  t.yaml  2/3 rows (66.7 %)" in text and "never fired: t.yaml:12  row 2" in text


def test_expected_tables_appear_unfired_with_fragment_rows_per_table() -> None:
    coverage = Coverage()
    coverage.expect_tables(["uac_call", "uas_call"])
    uac, uas = load_table("uac_call"), load_table("uas_call")
    counts = {key.split()[0]: len(found) for key, found in coverage.tables.items()}
    assert counts == {"uac_call": len(uac.rows), "uas_call": len(uas.rows)}
    assert all(r.fired == 0 for found in coverage.tables.values() for r in found)
    fragment_rows = [r for found in coverage.tables.values() for r in found
                     if "fragments/in_dialog.yaml" in r.source]
    assert len({r.table for r in fragment_rows}) == 2


def test_a_run_adds_to_the_expected_table(write, basic, uas) -> None:
    coverage = Coverage()
    coverage.expect_tables([uas])
    result = run_scenario(load_scenario(write(basic)))
    coverage.add(result)
    coverage.add(result)
    fired = {r.source.rsplit(":", 1)[1]: r.fired for r in next(iter(coverage.tables.values()))}
    assert fired["17"] == 2 and fired["18"] == 2 and fired["19"] == 0
    assert len(coverage.tables) == 1
