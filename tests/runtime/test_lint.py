"""The runtime refuses a table that fails lint, with lint's own lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.clock import VirtualClock
from sipflow.runtime.builtins import default_registry
from sipflow.runtime.compiler import TableRefused, compile_table
from sipflow.runtime.runtime import Runtime
from sipflow.tables.loader import load_table, shipped_table_names

lint_table = pytest.importorskip("sipflow.tables.lint").lint_table

GOOD = """\
table: echo
role: UAS
starts_on: [DialogMESSAGE]
initial: Idle
states:
  Idle: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: DialogMESSAGE, do: [{SendSIPResponse: {code: 200}}], to: Done, publish: [MessageReceived]}
"""

BAD = """\
table: broken
role: UAS
starts_on: [DialogOPTIONS]
initial: Idle
states:
  Idle: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: DialogOPTIONS, do: [SendNothing], to: Done}
  - {from: Idle, on: DialogOPTIONS, do: [{SendSIPResponse: {code: 200}}], to: Done}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_shipped_tables_compile_with_lint():
    names = shipped_table_names()
    assert {"uac_call", "uas_call"} <= set(names)
    rt = Runtime(names, None, VirtualClock())
    assert set(rt.tables) == set(names)
    assert all(t.version == t.table.version != "" for t in rt.tables.values())


def test_a_table_that_fails_lint_is_refused_with_lints_lines(tmp_path):
    path = write(tmp_path, "broken", BAD)
    registry = default_registry()
    expected = [str(d) for d in lint_table(load_table(path, registry), registry) if d.severity == "error"]
    assert expected, "the fixture must have lint errors"
    with pytest.raises(TableRefused) as err:
        Runtime([path], registry, VirtualClock())
    assert str(err.value).splitlines() == expected
    assert any("SendNothing" in line and ":9:" in line for line in expected)


def test_the_same_table_compiles_without_lint_only_when_names_bind(tmp_path):
    path = write(tmp_path, "broken", BAD.replace("SendNothing", "SendACK"))
    table = load_table(path)
    with pytest.raises(TableRefused):
        compile_table(table, default_registry())
    compiled = compile_table(table, default_registry(), lint=False)
    assert len(compiled.rows_for("Idle", "DialogOPTIONS")) == 2


def test_a_clean_table_from_a_directory_runs(tmp_path):
    write(tmp_path, "echo", GOOD)
    rt = Runtime([tmp_path], None, VirtualClock())
    got = []
    rt.subscribe(lambda s, n, d: got.append(n))

    class Backend:
        def perform(self, handle, action, params):
            got.append((handle, action, dict(params)))

    rt.backend = Backend()
    assert rt.deliver("m1", "DialogMESSAGE", {"in_dialog": False})
    assert got == [("m1", "SendSIPResponse", {"code": 200}), "MessageReceived", "SessionEnded"]
    assert rt.tables["echo"].rows[0].source.short.endswith("echo.yaml:9")


def test_two_tables_starting_on_the_same_event_are_refused(tmp_path):
    write(tmp_path, "echo", GOOD)
    write(tmp_path, "echo2", GOOD.replace("table: echo", "table: echo2"))
    with pytest.raises(TableRefused, match="E-STARTS-ON-CONFLICT"):
        Runtime([tmp_path], None, VirtualClock())
