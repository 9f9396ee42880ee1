"""The shipped scenarios: each passes (this is where the suite runs them, once), and together
they fire every row of every default table."""

from __future__ import annotations

from functools import cache

import pytest

from sipflow.scenario import load_scenario, run_scenario, shipped_scenario_names
from sipflow.scenario.coverage import Coverage
from sipflow.scenario.runner import ScenarioResult
from sipflow.tables.loader import shipped_table_names


@cache
def result(name: str) -> ScenarioResult:
    """Each shipped scenario runs once per test session, whichever test asks first."""
    return run_scenario(load_scenario(name))


def test_there_are_shipped_scenarios() -> None:
    assert len(shipped_scenario_names()) >= 3


@pytest.mark.parametrize("name", shipped_scenario_names())
def test_shipped_scenario_passes(name: str) -> None:
    outcome = result(name)
    assert outcome.passed, outcome.report()


@pytest.mark.parametrize("name", shipped_scenario_names())
def test_no_row_of_a_shipped_scenario_raises(name: str) -> None:
    """A scenario may pass on the wire while a row's action raised (the backend refused it and
    the core did the work, or nothing did): that is a defect of the table, never silent."""
    outcome = result(name)
    assert outcome.failures == {}, outcome.report()
    assert outcome.errors == [], outcome.report()


def test_every_row_of_every_default_table_fires() -> None:
    """Issue 13: a row either fires in a shipped scenario, or it is dead and goes."""
    coverage = Coverage()
    coverage.expect_tables(shipped_table_names())
    for name in shipped_scenario_names():
        coverage.add(result(name))
    missing = coverage.uncovered()
    lines = [f"{row.table}: {row.source}  {row.label}" for rows in missing.values() for row in rows]
    assert not lines, (f"{len(lines)} rows of the default tables have no scenario in "
                       f"state_tables/scenarios/:\n" + "\n".join(lines))


def test_a_shipped_scenario_catches_a_changed_table(tmp_path) -> None:
    """Not vacuous: change one value in a copy of uas_call and uas_ringing fails on it."""
    from pathlib import Path

    from sipflow.scenario.loader import shipped_dir
    from sipflow.tables.loader import resolve

    table, _ = resolve("uas_call")
    text = Path(table).read_text(encoding="utf-8")
    assert "  reject_code: 486 " in text
    (tmp_path / "uas_call.yaml").write_text(text.replace("  reject_code: 486 ", "  reject_code: 603 "))
    scenario = (shipped_dir() / "uas_ringing.scenario.yaml").read_text(encoding="utf-8")
    assert "{table: uas_call," in scenario
    copy = tmp_path / "ringing.scenario.yaml"
    copy.write_text(scenario.replace("{table: uas_call,", "{table: uas_call.yaml,"))
    outcome = run_scenario(load_scenario(copy))
    assert not outcome.passed
    assert "status: expected 486, got 603 Decline" in outcome.report()
