"""The loader: shipped names and paths, the model it builds, sources, includes, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.runtime.builtins import default_registry
from sipflow.tables.loader import (
    TableLoadError,
    load_checked,
    load_table,
    load_tables,
    shipped_table_names,
)
from sipflow.tables.model import ParamRef

MINIMAL = """\
table: tiny
role: UA
starts_on: [MakeCall]
parameters: {wait: 2m, code: 486}
initial: Idle
states:
  Idle: {}
  Waiting:
    timers: {Give: {param: wait}, Short: 500ms, Plain: 3}
  Done: {final: true}
transitions:
  - {from: Idle, on: MakeCall, do: [SendINVITE], to: Waiting}
  - from: [Waiting]
    on: Dialog4xxFailure
    if: [{code: [486, 600]}, {not: {response_to: BYE}}, has_sdp]
    do: [{SendSIPResponse: {code: {param: code}, reason: Busy}}]
    to: Done
    publish: [CallFailed]
  - {from: Any, on: TimerGive, to: Done}
  - {from: Waiting, on: TimerShort}
  - {from: Waiting, on: TimerPlain, to: Done}
"""


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_names_include_the_default_call_tables() -> None:
    names = shipped_table_names()
    assert "uac_call" in names and "uas_call" in names
    assert all("/" not in n and not n.endswith(".yaml") for n in names)


@pytest.mark.parametrize("name", ["uac_call", "uas_call"])
def test_shipped_tables_load_with_fragment_rows_last(name: str) -> None:
    table = load_table(name)
    assert table.name == name
    assert table.includes == ("in_dialog",)
    origins = [r.origin for r in table.rows]
    first_fragment = origins.index("in_dialog")
    assert all(o == "" for o in origins[:first_fragment])
    assert all(o == "in_dialog" for o in origins[first_fragment:])
    assert table.files[0].endswith(f"{name}.yaml")
    assert table.files[1].endswith("in_dialog.yaml")
    assert len(table.version) == 12
    assert table.final_states == ["Terminated"]


def test_model_fields_and_sources(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    table = load_table(path)
    assert (table.name, table.role, table.initial) == ("tiny", "UA", "Idle")
    assert table.starts_on == ("MakeCall",)
    assert table.parameters == {"wait": "2m", "code": 486}
    assert table.parameter_sources["code"].line == 4
    timers = {t.name: t for t in table.states["Waiting"].timers}
    assert timers["Give"].duration == ParamRef("wait")
    assert timers["Short"].duration == pytest.approx(0.5)
    assert timers["Plain"].duration == 3.0 and isinstance(timers["Plain"].duration, float)
    assert timers["Give"].source.line == 9
    assert table.states["Done"].final and table.states["Done"].source.line == 10
    row = table.rows[1]
    assert row.source.line == 13 and row.source.file == str(path)
    assert row.locations["on"].line == 14 and row.locations["from.0"].line == 13
    assert row.sources == ("Waiting",) and row.target == "Done"
    code, not_bye, sdp = row.guards
    assert (code.name, code.params, code.negate) == ("code", {"value": [486, 600]}, False)
    assert (not_bye.name, not_bye.params, not_bye.negate) == ("response_to", {"value": "BYE"}, True)
    assert (sdp.name, sdp.params) == ("has_sdp", {})
    assert code.source.line == 15 and code.source.col > 1
    (action,) = row.actions
    assert action.name == "SendSIPResponse"
    assert action.params == {"code": ParamRef("code"), "reason": "Busy"}
    assert type(action.params["reason"]) is str
    assert row.publish == ("CallFailed",)
    assert table.rows[2].is_any and table.rows[3].target is None


def test_plain_values_not_round_trip_types(tmp_path: Path) -> None:
    table = load_table(write(tmp_path, MINIMAL))
    values = [table.parameters["code"], *table.rows[1].guards[0].params["value"]]
    assert all(type(v) is int for v in values)


def test_version_changes_with_content_and_fragments(tmp_path: Path) -> None:
    a = load_table(write(tmp_path, MINIMAL))
    b = load_table(write(tmp_path, MINIMAL + "  # a comment\n", "u.yaml"))
    assert a.version != b.version
    assert load_table(write(tmp_path, MINIMAL, "v.yaml")).version == a.version


def test_local_fragment_wins_over_shipped(tmp_path: Path) -> None:
    write(tmp_path, "fragment: in_dialog\ntransitions:\n  - {from: Any, on: DialogINFO}\n",
          "fragments/in_dialog.yaml")
    table = load_table(write(tmp_path, MINIMAL.replace("initial:", "include: [in_dialog]\ninitial:")))
    fragment_rows = [r for r in table.rows if r.origin]
    assert [r.event for r in fragment_rows] == ["DialogINFO"]
    assert fragment_rows[0].source.file.endswith("fragments/in_dialog.yaml")
    assert fragment_rows[0].source.line == 3


def test_shipped_fragment_used_when_no_local_one(tmp_path: Path) -> None:
    table = load_table(write(tmp_path, MINIMAL.replace("initial:", "include: [in_dialog]\ninitial:")))
    assert any(r.origin == "in_dialog" and r.event == "DialogBYE" for r in table.rows)


def test_unknown_shipped_name_is_one_clear_error() -> None:
    with pytest.raises(TableLoadError) as info:
        load_table("no_such_table")
    assert str(info.value).startswith("no_such_table:1:1: no shipped table named 'no_such_table'")
    assert "uac_call" in str(info.value)


def test_load_error_carries_position(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("on: MakeCall,", "on: MakeCall, bogus: 1,"))
    with pytest.raises(TableLoadError) as info:
        load_table(path)
    err = info.value
    assert (err.file, err.line, err.rule) == (str(path), 12, "E-SCHEMA")
    assert "bogus" in err.message
    assert str(err).startswith(f"{path}:12:{err.col}: ")


def test_load_checked_reports_every_schema_problem(tmp_path: Path) -> None:
    text = MINIMAL.replace("role: UA", "role: Bob").replace("to: Waiting}", "to: waiting}")
    result = load_checked(write(tmp_path, text))
    assert result.table is None
    assert [(d.rule, d.line) for d in result.diagnostics] == [("E-SCHEMA", 2), ("E-SCHEMA", 12)]


def test_load_tables_expands_directories_skipping_fragments_and_scenarios(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "b.yaml")
    write(tmp_path, MINIMAL.replace("table: tiny", "table: other"), "a.yaml")
    write(tmp_path, "fragment: f\ntransitions: []\n", "fragments/f.yaml")
    write(tmp_path, "not: a table\n", "x.scenario.yaml")
    write(tmp_path, "ignored", "notes.txt")
    tables = load_tables([tmp_path])
    assert [t.name for t in tables] == ["other", "tiny"]


def test_scalar_guard_argument_uses_registered_parameter_name(tmp_path: Path) -> None:
    from sipflow.runtime.registry import ParamSpec

    registry = default_registry()

    @registry.guard("max_forwards_below", "test guard", (ParamSpec("limit", "int", "x", required=True),),
                    scalar="limit")
    def _guard(ctx: object, limit: int) -> bool:
        return True

    text = MINIMAL.replace("has_sdp]", "{max_forwards_below: 5}]")
    row = load_table(write(tmp_path, text), registry).rows[1]
    assert row.guards[2].params == {"limit": 5}


@pytest.mark.parametrize("name", ["uac_call", "uas_call"])
def test_every_recorded_position_points_at_its_text(name: str) -> None:
    table = load_table(name)
    lines = {f: Path(f).read_text().splitlines() for f in table.files}

    def text_at(src) -> str:  # type: ignore[no-untyped-def]
        return lines[src.file][src.line - 1][src.col - 1:]

    for row in table.rows:
        assert text_at(row.locations["on"]).startswith(row.event)
        if row.target:
            assert text_at(row.locations["to"]).startswith(row.target)
        for guard in row.guards:
            assert guard.name in text_at(guard.source).split("}")[0] + "}"
        for action in row.actions:
            assert text_at(action.source).lstrip("{").startswith(action.name)
    for state in table.states.values():
        assert text_at(state.source).startswith(f"{state.name}:")
        for timer in state.timers:
            assert text_at(timer.source).startswith(f"{timer.name}:")
    for param, src in table.parameter_sources.items():
        assert text_at(src).startswith(f"{param}:")
    assert text_at(table.locations["initial"]).startswith(table.initial)
