"""``sipflow lint``: output formats, exit codes, and bad input (one line, never a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipflow.cli.main import app
from sipflow.tables import loader
from sipflow.tables.loader import TableLoadError, load_table

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "W-UNUSED-STATE.yaml"  # only a warning


def run(*args: str):
    return CliRunner().invoke(app, ["lint", *args])


def test_shipped_tables_strict_exit_0() -> None:
    result = run("--strict")
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_summary_line() -> None:
    from sipflow.cli.lint import summary
    from sipflow.tables.lint import lint_paths

    clean = summary(lint_paths(["uac_call", "uas_call"]))
    assert clean == "ok: 2 tables, no problems"
    assert summary(lint_paths([FIXTURES / "E-STARTS-ON-CONFLICT"])) == "1 error, 0 warnings (2 tables checked)"


def test_text_output_one_line_per_problem_exit_1() -> None:
    result = run(str(FIXTURES / "E-UNKNOWN-EVENT.yaml"), str(FIXTURES / "E-UNKNOWN-STATE.yaml"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    # both fixtures also start on MakeCall: linted together, that is a conflict too
    assert [line.split()[1] for line in lines] == ["E-UNKNOWN-EVENT", "E-STARTS-ON-CONFLICT",
                                                  "E-UNKNOWN-STATE"]
    assert lines[0].startswith(f"{FIXTURES / 'E-UNKNOWN-EVENT.yaml'}:11:22: E-UNKNOWN-EVENT error: ")
    assert lines[0].endswith("(did you mean 'HangUp'?)")


def test_warnings_exit_0_unless_strict() -> None:
    assert run(str(GOOD)).exit_code == 0
    assert run(str(GOOD), "--strict").exit_code == 1


def test_json_output_is_a_list_of_records() -> None:
    result = run("--format", "json", str(GOOD))
    records = json.loads(result.stdout)
    assert records == [{
        "file": str(GOOD), "line": 8, "col": 3, "rule": "W-UNUSED-STATE", "severity": "warning",
        "message": "state 'Spare' is declared but no row uses it",
        "hint": "remove it, or add rows to and from it",
    }]


def test_json_output_clean_is_empty_list() -> None:
    result = run("--format", "json", "uac_call")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_unknown_format_exit_2() -> None:
    result = run("--format", "xml")
    assert result.exit_code == 2 and "unknown format" in result.output


def test_directory_lints_its_tables() -> None:
    result = run(str(FIXTURES / "E-STARTS-ON-CONFLICT"))
    assert result.exit_code == 1
    assert "E-STARTS-ON-CONFLICT" in result.stdout


# -- bad input: one clear line naming file and line, documented exit code, no traceback ----
def one_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.stdout.splitlines()
    for needle in needles:
        assert needle in line
    return line


def test_broken_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("table: x\nstates: [a, b\ninitial: A\n")
    one_line(run(str(path)), 1, f"{path}:", "E-YAML")


def test_unknown_name_exit_2() -> None:
    line = one_line(run("no_such_table"), 2, "no_such_table:1:1: E-INPUT", "no shipped table")
    assert "uac_call" in line


def test_alias_bomb_exit_2() -> None:
    one_line(run(str(FIXTURES / "E-INPUT.yaml")), 2, "E-INPUT.yaml:10:1: E-INPUT", "aliases")


def test_expanding_alias_bomb_under_alias_cap_exit_2(tmp_path: Path) -> None:
    lines = ["a: &a [" + ", ".join(["x"] * 12) + "]"]
    for prev, name in zip("abcd", "bcde", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 12) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")  # 48 aliases, 12**5 nodes
    one_line(run(str(path)), 2, f"{path}:", "E-INPUT", "alias bomb")


def test_fifty_megabyte_file_exit_2_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: instant
    one_line(run(str(path)), 2, f"{path}:1:1: E-INPUT", "limit")


def test_binary_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"table: x\nabc\x00\x01\x02")
    one_line(run(str(path)), 2, f"{path}:2:1: E-INPUT", "binary")


def test_not_utf8_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"table: x\ndescription: caf\xe9\n")
    one_line(run(str(path)), 2, f"{path}:2:1: E-INPUT", "UTF-8")


def test_not_a_table_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "prose.yaml"
    path.write_text("Just some prose, not a table at all.\n")
    one_line(run(str(path)), 1, f"{path}:1:1: E-SCHEMA", "mapping")


def test_empty_file_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    one_line(run(str(path)), 1, f"{path}:1:1: E-SCHEMA")


def test_missing_path_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    one_line(run(str(path)), 2, f"{path}:1:1: E-INPUT", "no such file")


def test_unreadable_directory_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "t.yaml").write_text("table: t\n")
    folder.chmod(0)
    try:
        if os.access(folder, os.R_OK):  # root reads anything: simulate the permission error
            real = os.scandir

            def deny(path):  # type: ignore[no-untyped-def]
                if Path(path) == folder:
                    raise PermissionError(13, "Permission denied", str(path))
                return real(path)

            monkeypatch.setattr(loader.os, "scandir", deny)
        one_line(run(str(folder)), 2, f"{folder}:1:1: E-INPUT", "Permission denied")
    finally:
        folder.chmod(0o755)


def test_unreadable_file_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("table: t\n")
    real_open = Path.open

    def deny(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    one_line(run(str(path)), 2, f"{path}:1:1: E-INPUT", "Permission denied")


def test_directory_given_to_load_table_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(TableLoadError) as info:
        load_table(tmp_path / "")
    assert "directory" in str(info.value)


def test_real_process_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x00" * 64)
    proc = subprocess.run([sys.executable, "-c", "from sipflow.cli.main import run; run()", "lint",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip().startswith(f"{path}:1:1: E-INPUT error: binary file")


def test_json_for_unusable_input_exit_2(tmp_path: Path) -> None:
    result = run("--format", "json", str(tmp_path / "gone.yaml"))
    assert result.exit_code == 2
    (record,) = json.loads(result.stdout)
    assert record["rule"] == "E-INPUT" and record["file"] == str(tmp_path / "gone.yaml")
    assert set(record) == {"file", "line", "col", "rule", "severity", "message", "hint"}


def test_fragment_files_are_checked_for_shape_only(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("fragment: good\ntransitions:\n  - {from: Any, on: DialogOPTIONS}\n")
    assert run(str(good), "--strict").exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("fragment: bad\ntransitions:\n  - {from: Any, on: DialogOPTIONS, too: X}\n")
    one_line(run(str(bad)), 1, f"{bad}:3:36: E-SCHEMA", "'too'", "did you mean 'to'?")


def test_broken_fragment_is_reported_in_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "fragments").mkdir()
    fragment = tmp_path / "fragments" / "shared.yaml"
    fragment.write_text("fragment: shared\ntransitions: [\n")
    table = tmp_path / "t.yaml"
    table.write_text((FIXTURES / "W-UNUSED-STATE.yaml").read_text().replace(
        "initial:", "include: [shared]\ninitial:"))
    line = one_line(run(str(table)), 1, "E-YAML")
    assert line.startswith(f"{fragment}:")


def test_same_table_named_twice_is_linted_once() -> None:
    from sipflow.tables.loader import resolve

    path, _ = resolve("uac_call")
    result = run("--strict", "uac_call", str(path), "uac_call")
    assert result.exit_code == 0 and result.output == ""


def test_bare_directory_name_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.yaml").write_text((FIXTURES / "W-UNUSED-STATE.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    result = run("tables")
    assert result.exit_code == 0
    assert result.stdout.startswith("tables/t.yaml:8:3: W-UNUSED-STATE")
    assert run("uac_call", "--strict").exit_code == 0  # a name that is no local path is shipped
