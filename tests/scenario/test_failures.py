"""``ScenarioResult.failures``: rows whose action raised during a run are counted, even when the
wire looked right and the scenario passed (the silent defects issue 12 found in the tables)."""

from __future__ import annotations

import json
from pathlib import Path

from sipflow.scenario import load_scenario, run_scenario
from sipflow.scenario.runner import ScenarioResult

INFO_ROW = "  - {from: Active, on: DialogINFO, do: [{SendSIPResponse: {code: 200}}]}\n"
BROKEN_ROW = ("  - {from: Active, on: DialogINFO, do: [{SendSIPResponse: {code: 200}}, "
              "{SendSIPResponse: {code: 487, request: invite}}]}\n")

SCENARIO = """\
scenario: info
participants:
  caller: {{peer: true}}
  bob: {{table: {table}}}
steps:
  - send: {{from: caller, to: bob, method: INVITE, body: sdp}}
  - expect: {{from: bob, to: caller, status: 180}}
  - expect: {{from: bob, to: caller, status: 200, method: INVITE}}
  - send: {{from: caller, to: bob, method: ACK}}
  - send: {{from: caller, to: bob, method: INFO, body: hello, headers: {{Content-Type: text/plain}}}}
  - expect: {{from: bob, to: caller, status: 200, method: INFO}}
  - send: {{from: caller, to: bob, method: BYE}}
  - expect: {{from: bob, to: caller, status: 200, method: BYE}}
"""


def run_with(tmp_path: Path, uas: str, row: str) -> tuple[ScenarioResult, Path]:
    """simple_uas with its INFO row replaced by ``row``, and a call that sends one INFO."""
    text = Path(uas).read_text(encoding="utf-8")
    assert INFO_ROW in text
    table = tmp_path / "uas.yaml"
    table.write_text(text.replace(INFO_ROW, row), encoding="utf-8")
    scenario = tmp_path / "info.scenario.yaml"
    scenario.write_text(SCENARIO.format(table=table), encoding="utf-8")
    return run_scenario(load_scenario(scenario)), table


def test_a_clean_run_has_no_failures(tmp_path: Path, uas: str) -> None:
    result, _ = run_with(tmp_path, uas, INFO_ROW)
    assert result.passed, result.report()
    assert result.failures == {} and result.errors == []


def test_an_action_that_raises_is_counted_against_its_row(tmp_path: Path, uas: str) -> None:
    result, table = run_with(tmp_path, uas, BROKEN_ROW)
    assert result.passed, result.report()      # the 200 to the INFO went out: the wire looks fine
    line = table.read_text(encoding="utf-8").splitlines().index(BROKEN_ROW.rstrip("\n")) + 1
    ((where, count),) = result.failures.items()
    assert where.endswith(f"uas.yaml:{line}") and count == 1
    (error,) = result.errors
    assert "action SendSIPResponse failed" in error and "no INVITE" in error
    assert "error logged:" in result.report()
    assert json.loads(json.dumps(result.as_dict()))["failures"] == {where: 1}
