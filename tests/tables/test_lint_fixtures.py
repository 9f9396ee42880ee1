"""One fixture per lint rule: each triggers exactly its rule, once, at the line marked ``# expect``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.tables.lint import lint_paths
from sipflow.tables.rules import RULES, severity

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_for(rule: str) -> Path:
    folder = FIXTURES / rule
    return folder if folder.is_dir() else FIXTURES / f"{rule}.yaml"


def expected_place(path: Path) -> tuple[str, int]:
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    marks = [(str(f), n) for f in files
             for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1) if "# expect" in line]
    assert len(marks) == 1, f"{path} must mark exactly one line with '# expect'"
    return marks[0]


def test_every_fixture_is_a_rule() -> None:
    names = {p.stem if p.is_file() else p.name for p in FIXTURES.iterdir() if p.name != "fragments"}
    assert names == set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_fixture_triggers_exactly_its_rule(rule: str) -> None:
    path = fixture_for(rule)
    assert path.exists(), f"no fixture for {rule}"
    report = lint_paths([path])
    found = [(d.rule, d.file, d.line) for d in report.diagnostics]
    file, line = expected_place(path)
    assert found == [(rule, file, line)]
    (diag,) = report.diagnostics
    assert diag.severity == severity(rule)
    assert diag.message and diag.hint
    assert str(diag).startswith(f"{file}:{line}:{diag.col}: {rule} {diag.severity}: ")
    expected_exit = 2 if rule == "E-INPUT" else (1 if rule.startswith("E-") else 0)
    assert report.exit_code() == expected_exit
    assert report.exit_code(strict=True) == (2 if rule == "E-INPUT" else 1)


@pytest.mark.parametrize("name", ["uac_call", "uas_call"])
def test_shipped_tables_pass_strict(name: str) -> None:
    report = lint_paths([name])
    assert [str(d) for d in report.diagnostics] == []
    assert report.exit_code(strict=True) == 0


def test_no_path_means_every_shipped_table() -> None:
    report = lint_paths([])
    assert {t.name for t in report.tables} >= {"uac_call", "uas_call"}
    assert report.diagnostics == []


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = (FIXTURES / "E-UNKNOWN-EVENT.yaml").read_text()
    text = text.replace("to: Done}  # expect", "do: [SendINVTE], to: Gone, publish: [Nope]}")
    text = text.replace("initial: Idle", "parameters: {spare: 1}\ninitial: Idle")
    path = tmp_path / "many.yaml"
    path.write_text(text)
    rules = [d.rule for d in lint_paths([path]).diagnostics]
    assert rules == ["W-UNUSED-PARAM", "E-UNKNOWN-EVENT", "E-UNKNOWN-ACTION", "E-UNKNOWN-STATE",
                     "E-UNKNOWN-APP-EVENT"]


def test_readme_documents_every_rule() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("<!-- section: lint-rules -->", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert documented == set(RULES)

