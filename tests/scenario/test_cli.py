"""``sipflow simulate``: exit codes, N passed M failed, JSON, ladders, coverage, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sipflow.cli.main import app


def simulate(*args: str):
    return CliRunner().invoke(app, ["simulate", *args])


def test_passing_scenario_exits_0(write, basic) -> None:
    result = simulate(str(write(basic)))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "PASS basic"
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_one_failure_exits_1_and_shows_expected_got_and_ladder(write, basic) -> None:
    good = write(basic, "good")
    bad = write(basic.replace("status: 180}", "status: 183}"), "bad")
    result = simulate(str(good), str(bad))
    assert result.exit_code == 1, result.output
    assert f"FAIL basic: {bad}:7: expected 183 from bob to caller, got 180 Ringing (INVITE)" \
        in result.output
    assert "ladder so far:" in result.output
    assert result.output.splitlines()[-1] == "1 passed, 1 failed"


def test_directory_runs_its_scenarios(tmp_path: Path, write, basic) -> None:
    write(basic, "one")
    write(basic.replace("scenario: basic", "scenario: other"), "two")
    (tmp_path / "not_a_scenario.yaml").write_text("x: 1\n")
    result = simulate(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "PASS basic" in result.output and "PASS other" in result.output
    assert result.output.splitlines()[-1] == "2 passed, 0 failed"


def test_unusable_file_exits_2_with_one_line_per_file(write, basic) -> None:
    good = write(basic, "good")
    bad = write(basic.replace("  - send: {from: caller, to: bob, method: ACK}",
                              "  - sendd: {from: caller, to: bob, method: ACK}"), "bad")
    not_yaml = write("steps: [\n", "broken")
    result = simulate(str(good), str(bad), str(not_yaml))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 2, result.output
    assert lines[0].startswith(f"{bad}:9:") and "unknown step 'sendd'" in lines[0]
    assert lines[1].startswith(f"{not_yaml}:2:") and "invalid YAML" in lines[1]
    assert "PASS" not in result.output and "Traceback" not in result.output


def test_table_refused_by_lint_is_unusable(tmp_path: Path, write, basic, uas) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(Path(uas).read_text().replace("to: Answered}", "to: Nowhere}", 1))
    result = simulate(str(write(basic.replace(uas, str(broken)))))
    assert result.exit_code == 2
    assert "fails lint" in result.output and "Nowhere" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_usage_errors_exit_2() -> None:
    assert simulate("--format", "xml", "x").exit_code == 2
    result = simulate("--ladder", "svg", "x")
    assert result.exit_code == 2 and "unknown ladder format 'svg'" in result.output
    result = simulate("no_such_scenario")
    assert result.exit_code == 2 and "no shipped scenario named 'no_such_scenario'" in result.output


def test_json_output(write, basic) -> None:
    good = write(basic, "good")
    bad = write(basic.replace("status: 180}", "status: 183}"), "bad")
    result = simulate(str(good), str(bad), "--format", "json", "--ladder", "mermaid", "--coverage")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert (document["passed"], document["failed"]) == (1, 1)
    first, second = document["results"]
    assert first["passed"] and first["failure"] is None and first["messages"] == 6
    assert first["ladder"].startswith("sequenceDiagram")
    assert second["failure"]["line"] == 7 and "expected 183" in second["failure"]["message"]
    (table,) = document["coverage"]["tables"]
    assert table["table"] == "simple_uas" and table["rows"] == 11
    assert table["fired"] == len(table["covered"]) and table["fired"] + len(table["uncovered"]) == 11
    assert {"source", "label", "fired"} <= set(table["uncovered"][0])


def test_coverage_text_lists_rows_that_never_fired(write, basic, uas) -> None:
    result = simulate(str(write(basic)), "--coverage")
    assert result.exit_code == 0
    assert f"simple_uas  {uas}  4/11 rows (36.4 %)" in result.output
    never = [line for line in result.output.splitlines() if "never fired:" in line]
    assert len(never) == 7
    assert any(f"{uas}:19  Ringing --Answer" in line for line in never)
    assert not any(f"{uas}:18  Ringing --TimerAnswer" in line for line in never)


def test_ladders_in_each_format(write, basic, tmp_path: Path) -> None:
    path = str(write(basic))
    text = simulate(path, "--ladder", "text").output
    assert "INVITE sip:bob@10.0.0.2" in text and "[Idle → Ringing]" in text
    mermaid = simulate(path, "--ladder", "mermaid").output
    assert "sequenceDiagram" in mermaid and "INVITE sip:bob@10.0.0.2" in mermaid
    out = tmp_path / "ladders"
    result = simulate(path, "--ladder", "html", "-o", str(out))
    assert result.exit_code == 0
    page = (out / "basic.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert f"wrote {out / 'basic.html'}" in result.output
