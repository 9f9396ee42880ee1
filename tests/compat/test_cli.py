"""``sipflow compat``: formats, ``--check`` exit codes and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sipflow.cli import compat as cli_compat
from sipflow.cli.main import app
from sipflow.compat import COLUMNS, build_matrix
from sipflow.runtime.builtins import SIP_METHODS
from sipflow.tables.loader import TableLoadError

runner = CliRunner()


@pytest.fixture
def no_gaps(monkeypatch, complete_publish):
    monkeypatch.setattr(cli_compat, "build_matrix", lambda: build_matrix(**complete_publish))


@pytest.fixture
def some_gaps(monkeypatch, complete_publish):
    inputs = dict(complete_publish, methods=["PUBLISH", "BYE"])
    monkeypatch.setattr(cli_compat, "build_matrix", lambda: build_matrix(**inputs))


def test_default_is_a_markdown_table_of_the_fourteen_methods_exit_0():
    result = runner.invoke(app, ["compat"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == list(SIP_METHODS)


def test_json_is_a_list_of_rows_with_gaps():
    result = runner.invoke(app, ["compat", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["method"] for d in data] == list(SIP_METHODS)
    assert all(set(d) == {"method", *COLUMNS, "gaps"} for d in data)


def test_check_exits_0_without_gaps(no_gaps):
    result = runner.invoke(app, ["compat", "--check"])
    assert result.exit_code == 0, result.output
    assert result.output == "compat: no gap in 1 methods\n"


def test_check_exits_1_and_prints_the_gaps(some_gaps):
    result = runner.invoke(app, ["compat", "--check"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1].startswith("compat: ") and "in 1 of 2 methods (BYE)" in lines[-1]
    assert lines[:-1] and all(line.startswith("BYE: ") for line in lines[:-1])
    as_json = runner.invoke(app, ["compat", "--check", "--format", "json"])
    assert as_json.exit_code == 1
    assert [d["gaps"] == [] for d in json.loads(as_json.stdout)] == [True, False]


def test_without_check_gaps_still_exit_0(some_gaps):
    result = runner.invoke(app, ["compat"])
    assert result.exit_code == 0
    assert "- BYE: " in result.output


def test_unknown_format_is_exit_2_with_one_line():
    result = runner.invoke(app, ["compat", "--format", "xml"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "sipflow compat: unknown format 'xml': choose md or json"]


def test_tables_that_do_not_load_are_exit_2_with_one_line(monkeypatch):
    def broken():
        raise TableLoadError("state_tables/uas_call.yaml", 3, 1, "something is wrong")

    monkeypatch.setattr(cli_compat, "build_matrix", broken)
    result = runner.invoke(app, ["compat"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "sipflow compat: a shipped table does not load: "
        "state_tables/uas_call.yaml:3:1: something is wrong"]


def test_json_notes_go_to_stderr(monkeypatch, complete_publish):
    from sipflow.compat import BackendInfo

    inputs = dict(complete_publish, backends=[BackendInfo("odd", None, "backend 'odd': no capabilities")])
    monkeypatch.setattr(cli_compat, "build_matrix", lambda: build_matrix(**inputs))
    result = runner.invoke(app, ["compat", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["method"] == "PUBLISH"
    assert result.stderr == "sipflow compat: note: backend 'odd': no capabilities\n"
