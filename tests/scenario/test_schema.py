"""The scenario JSON Schema: committed file not stale, registry vocabulary listed, files validate."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from sipflow.cli.schema import SCHEMAS, render_schema
from sipflow.runtime.builtins import default_registry
from sipflow.scenario.loader import shipped_dir
from sipflow.scenario.schema import build_scenario_schema

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "scenario.schema.json"


def schema() -> dict:
    return build_scenario_schema(default_registry())


def test_sipflow_schema_writes_it() -> None:
    assert SCHEMAS["scenario.schema.json"] is build_scenario_schema


def test_committed_schema_is_not_stale() -> None:
    assert COMMITTED.exists(), "run `sipflow schema` and commit schemas/scenario.schema.json"
    assert COMMITTED.read_text(encoding="utf-8") == render_schema(schema()), (
        "schemas/scenario.schema.json is stale: run `sipflow schema` and commit it")


def test_commands_and_events_come_from_the_registry() -> None:
    registry = default_registry()
    steps = schema()["$defs"]["step"]["properties"]
    commands = {e.name for e in registry.events_of_kind("command")}
    assert commands <= set(steps) and {"send", "expect", "wait"} <= set(steps)
    events = {c["const"] for c in schema()["$defs"]["appEvent"]["anyOf"]}
    assert events == set(registry.app_events)
    Draft202012Validator.check_schema(schema())


def test_shipped_scenarios_validate() -> None:
    validator = Draft202012Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))
    files = sorted(shipped_dir().glob("*.scenario.yaml"))
    assert files
    for path in files:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], f"{path.name}: {errors}"


def test_schema_refuses_what_the_loader_refuses() -> None:
    validator = Draft202012Validator(schema())
    good = {"participants": {"bob": {"table": "uas_call"}, "caller": {"peer": True}},
            "steps": [{"send": {"from": "caller", "to": "bob", "method": "INVITE"}},
                      {"expect": {"from": "bob", "status": 180, "within": "2s"}},
                      {"Answer": "bob"}, {"wait": "1s"}]}
    assert list(validator.iter_errors(good)) == []
    for bad_step in ({"sned": {}}, {"wait": "soon"}, {"expect": {"status": 99}},
                     {"send": {"from": "caller"}}, {"wait": 1, "Answer": "bob"}):
        assert list(validator.iter_errors(dict(good, steps=[bad_step]))), bad_step
    both = {"table": "uas_call", "peer": True}
    assert list(validator.iter_errors(dict(good, participants={"bob": both})))
