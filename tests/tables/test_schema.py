"""The generated JSON Schema: committed file current, valid draft 2020-12, agrees with the tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML
from typer.testing import CliRunner

from sipflow.cli.main import app
from sipflow.cli.schema import SCHEMAS, default_dir, render_schema
from sipflow.runtime.builtins import default_registry
from sipflow.tables.loader import fragment_path, shipped_table_names
from sipflow.tables.schema import SCHEMA_ID, build_schema, structural_schema

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SHIPPED = Path(__file__).resolve().parents[2] / "state_tables"


def published() -> dict:
    return build_schema(default_registry())


def test_committed_schema_is_current() -> None:
    committed = REPO_SCHEMAS / "state-table.schema.json"
    assert committed.exists(), "run `sipflow schema` and commit schemas/state-table.schema.json"
    assert committed.read_text(encoding="utf-8") == render_schema(published()), (
        "schemas/state-table.schema.json is stale: run `sipflow schema` and commit it")


def test_schema_is_valid_2020_12_with_id() -> None:
    schema = published()
    Draft202012Validator.check_schema(schema)
    Draft202012Validator.check_schema(structural_schema())
    assert schema["$id"] == SCHEMA_ID
    assert schema["$schema"].endswith("2020-12/schema")


def test_names_come_from_the_registry_with_descriptions() -> None:
    registry = default_registry()
    schema = published()
    events = {c["const"]: c["description"] for c in schema["$defs"]["event"]["anyOf"] if "const" in c}
    assert set(events) == set(registry.events)
    assert events["DialogBYE"] == registry.events["DialogBYE"].description
    actions = {c["const"] for c in schema["$defs"]["action"]["anyOf"] if "const" in c}
    assert actions == set(registry.actions)
    apps = {c["const"] for c in schema["$defs"]["appEvent"]["anyOf"]}
    assert apps == set(registry.app_events)


def _yaml(path: Path) -> object:
    return YAML(typ="safe").load(path.read_text())


@pytest.mark.parametrize("name", shipped_table_names())
def test_shipped_tables_validate_against_published_schema(name: str) -> None:
    validator = Draft202012Validator(published())
    assert list(validator.iter_errors(_yaml(SHIPPED / f"{name}.yaml"))) == []


def test_shipped_fragment_validates_and_tables_point_at_the_schema() -> None:
    validator = Draft202012Validator(published())
    fragment = fragment_path("in_dialog", SHIPPED / "uac_call.yaml")
    assert fragment is not None
    assert list(validator.iter_errors(_yaml(fragment))) == []
    for name in shipped_table_names():
        first = (SHIPPED / f"{name}.yaml").read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/state-table.schema.json"


@pytest.mark.parametrize("bad", [
    {"from": "Idle", "on": "NoSuchEvent"},
    {"from": "Idle", "on": "HangUp", "do": [{"SendSIPResponse": {"code": "486"}}]},
    {"from": "Idle", "on": "HangUp", "do": [{"SendSIPResponse": {"reason": "x"}}]},
    {"from": "Idle", "on": "HangUp", "do": [{"SendBYE": {"bogus": 1}}]},
    {"from": "Idle", "on": "HangUp", "if": [{"code": 99}]},
    {"from": "Idle", "on": "HangUp", "publish": ["NotAnAppEvent"]},
])
def test_published_schema_rejects_bad_names_and_parameters(bad: dict) -> None:
    table = {"table": "t", "role": "UA", "initial": "Idle", "states": {"Idle": None},
             "transitions": [bad]}
    assert list(Draft202012Validator(published()).iter_errors(table))


def test_published_schema_accepts_param_refs_and_timer_events() -> None:
    table = {"table": "t", "role": "UA", "initial": "Idle", "parameters": {"c": 486},
             "states": {"Idle": {"timers": {"Wait": "2m"}}},
             "transitions": [{"from": "Idle", "on": "TimerWait", "if": [{"not": {"code": [486, 600]}}],
                              "do": [{"SendSIPResponse": {"code": {"param": "c"}}}]}]}
    assert list(Draft202012Validator(published()).iter_errors(table)) == []


def test_cli_writes_every_schema_to_a_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schema", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for name, build in SCHEMAS.items():
        written = tmp_path / "out" / name
        assert json.loads(written.read_text()) == build(default_registry())
        assert str(written) in result.output
    assert json.loads((tmp_path / "out" / "state-table.schema.json").read_text()) == published()


def test_cli_unwritable_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["schema", "-o", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1 and "cannot write" in result.output


def test_default_folder_is_the_package_schemas() -> None:
    assert (default_dir() / "__init__.py").exists()


def test_published_and_structural_schemas_agree_on_empty_action_params() -> None:
    table = {"table": "t", "role": "UA", "initial": "Idle", "states": {"Idle": None},
             "transitions": [{"from": "Idle", "on": "HangUp", "do": [{"SendBYE": None}, {"SendBYE": {}}]}]}
    assert list(Draft202012Validator(published()).iter_errors(table)) == []
    assert list(Draft202012Validator(structural_schema()).iter_errors(table)) == []
    table["transitions"][0]["do"] = [{"SendSIPResponse": None}]  # code is required
    assert list(Draft202012Validator(published()).iter_errors(table))
