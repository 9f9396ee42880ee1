"""Bad input never crashes the loader or lint: mutated tables and random bytes (hypothesis)."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipflow.runtime.builtins import default_registry
from sipflow.tables.lint import lint_table
from sipflow.tables.loader import load_checked
from sipflow.tables.yamlio import YamlInputError, parse

BASE: dict[str, Any] = {
    "table": "fuzz", "role": "UAC", "starts_on": ["MakeCall"], "parameters": {"wait": "2s", "code": 486},
    "initial": "Idle",
    "states": {"Idle": {}, "Calling": {"timers": {"Wait": {"param": "wait"}}}, "Done": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "MakeCall", "do": ["SendINVITE"], "to": "Calling"},
        {"from": ["Calling"], "on": "Dialog4xxFailure", "if": [{"code": [486, 600]}, {"not": "has_sdp"}],
         "do": [{"SendSIPResponse": {"code": {"param": "code"}}}], "to": "Done", "publish": ["CallFailed"]},
        {"from": "Any", "on": "TimerWait", "to": "Done"},
    ],
}
WORDS = ["Idle", "Any", "MakeCall", "not", "param", "code", "SendBYE", "180s", "from", "on", "to",
         "if", "do", "final", "timers", "wait", "TimerWait", "Done", "value", "response_to"]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


PATHS = _paths(BASE)[1:]
scalars = (st.none() | st.booleans() | st.integers(-5, 1000) | st.text(max_size=6)
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(WORDS))
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=4), inner, max_size=3),
                    max_leaves=8)
REGISTRY = default_registry()
WORKDIR = Path(tempfile.mkdtemp(prefix="sipflow-fuzz-"))


def _replace(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def _check(text: str) -> None:
    path = WORKDIR / "t.yaml"
    path.write_text(text)
    result = load_checked(path, REGISTRY)
    diagnostics = list(result.diagnostics)
    if result.table is not None:
        diagnostics += lint_table(result.table, REGISTRY)
    for diag in diagnostics:
        assert str(diag).startswith(f"{path}:{diag.line}:{diag.col}: {diag.rule} ")
        assert diag.line >= 1 and diag.col >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=3))
def test_mutated_tables_never_crash(mutations: list[tuple[tuple, Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in mutations:
        try:
            data = _replace(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue
    _check(json.dumps(data))  # JSON is YAML 1.2


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_parse_or_fail_cleanly(raw: bytes) -> None:
    try:
        parse(raw, "f.yaml")
    except YamlInputError as exc:
        assert exc.diagnostics and all(str(d).startswith("f.yaml:") for d in exc.diagnostics)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]:,-&*!|>'\"#%@` \n\tab1")), max_size=80))
def test_yaml_punctuation_soup_fails_cleanly(text: str) -> None:
    _check(text)


def test_base_table_is_clean() -> None:
    path = WORKDIR / "base.yaml"
    path.write_text(json.dumps(BASE))
    result = load_checked(path, REGISTRY)
    assert result.table is not None
    assert [str(d) for d in lint_table(result.table, REGISTRY)] == [
        str(d) for d in lint_table(result.table, REGISTRY) if d.rule == "W-UNHANDLED-REQUEST"]
