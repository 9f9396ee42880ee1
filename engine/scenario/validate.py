"""Check the shape of a scenario file before anything is built; one clear error for the first problem.

Rules: steps are checked first, by hand, because "unknown step 'sned' (did you
mean 'send'?)" says more than a schema error; then the whole file is checked
against the scenario JSON Schema (``schema.py``), and the first problem in file
order becomes one ``ScenarioError`` at the line and column of the offending
value (or key), worded in scenario terms (``steps[2].expect.status``), with a
"did you mean" hint where one helps.

Theory of operation: the validator is built from the registry's vocabulary
(cached for the built-in registry); jsonschema reports every error, sorted
here by source position, and for ``anyOf`` errors the deepest branch that got
furthest is the one worth showing.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from sipflow.runtime.registry import Registry
from sipflow.tables.duration import DURATION_PATTERN
from sipflow.tables.validate import kind_of, path_text
from sipflow.tables.yamlio import position_of, where, where_key

from .schema import ADDRESS, CAMEL, METHOD, PARTICIPANT, STEP_KINDS, build_scenario_schema


class ScenarioError(Exception):
    """A scenario file that cannot be used; ``str()`` is ``file:line:col: message``."""

    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        self.file = file
        self.line = line
        self.col = col
        self.message = message
        super().__init__(f"{file}:{line}:{col}: {message}")


def check_shape(data: dict[str, Any], file: str, registry: Registry | None = None) -> None:
    """Raise ``ScenarioError`` for the first step of an unknown kind or schema violation.

    ``registry`` names the commands and events allowed (default: the built-in one).
    """
    validator, commands = _default_validator() if registry is None else _make_validator(registry)
    _check_steps(data, file, commands)
    errors = sorted(validator.iter_errors(data), key=lambda e: position_of(data, list(e.absolute_path)))
    if errors:
        raise _schema_message(_deepest(errors[0]), data, file)


@lru_cache(maxsize=1)
def _default_validator() -> tuple[Draft202012Validator, frozenset[str]]:
    from sipflow.runtime.builtins import default_registry

    return _make_validator(default_registry())


def _make_validator(registry: Registry) -> tuple[Draft202012Validator, frozenset[str]]:
    commands = frozenset(e.name for e in registry.events_of_kind("command"))
    return Draft202012Validator(build_scenario_schema(registry)), commands




def _schema_message(err: ValidationError, data: Any, file: str) -> ScenarioError:
    path = list(err.absolute_path)
    place = path_text(path)
    line, col = position_of(data, path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            kline, kcol = where_key(err.instance, extra[0], (line, col))
            close = difflib.get_close_matches(str(extra[0]), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            return ScenarioError(file, kline, kcol, f"unexpected key {extra[0]!r} in {place} ({hint})")
    if err.validator == "propertyNames":
        return ScenarioError(file, line, col, f"{place}: a key is not a valid name ({err.message})")
    if err.validator == "required":
        missing = [k for k in err.validator_value
                   if not isinstance(err.instance, dict) or k not in err.instance]
        return ScenarioError(file, line, col, f"{place} is missing {', '.join(map(repr, missing))}")
    if err.validator == "oneOf" and path and path[0] == "participants":
        return ScenarioError(file, line, col, f"{place} must be either a table "
                             f"(table: NAME, parameters: ...) or a scripted peer (peer: true)")
    if err.validator in ("type", "pattern", "const", "enum", "anyOf", "minimum", "maximum"):
        return ScenarioError(file, line, col, f"{place} has a bad value {kind_of(err.instance)}: "
                             f"{_describe(err)}")
    if err.validator == "minItems":
        return ScenarioError(file, line, col, f"{place} must not be an empty list")
    if err.validator == "minProperties":
        return ScenarioError(file, line, col, f"{place} must not be empty")
    return ScenarioError(file, line, col, f"{place}: {err.message}")


_PATTERNS = {
    ADDRESS: "udp:HOST:PORT or tcp:HOST:PORT",
    DURATION_PATTERN: "a duration such as 180s, 500ms or 2m",
    PARTICIPANT: "a lower_snake_case participant name",
    CAMEL: "a CamelCase name",
    METHOD: "a SIP method name",
}


def _describe(err: ValidationError) -> str:
    schema = err.schema
    if err.validator == "pattern":
        return f"expected {_PATTERNS.get(schema.get('pattern'), 'text matching ' + str(schema.get('pattern')))}"
    if err.validator == "type":
        return f"expected {schema.get('type')}"
    if err.validator in ("minimum", "maximum"):
        return f"the {err.validator} is {err.validator_value}"
    if err.validator == "anyOf":
        branches = schema.get("anyOf", [])
        if any(b.get("pattern") == DURATION_PATTERN for b in branches):
            return f"expected {_PATTERNS[DURATION_PATTERN]}"
        consts = [b["const"] for b in branches if "const" in b]
        if consts:
            close = difflib.get_close_matches(str(err.instance), consts, n=1)
            return f"did you mean {close[0]!r}?" if close else f"one of {', '.join(consts)}"
        description = schema.get("description")
        return f"expected {description}" if description else err.message
    return err.message


def _check_steps(data: dict[str, Any], file: str, commands: frozenset[str]) -> None:
    """Every step must be one mapping with one known key (clearer than the schema's words)."""
    steps = data.get("steps")
    if not isinstance(steps, list):
        return
    kinds = (*STEP_KINDS, *sorted(commands))
    for index, step in enumerate(steps):
        line, col = where(steps, index)
        if not isinstance(step, dict):
            raise ScenarioError(file, line, col, f"steps[{index}] must be a mapping such as "
                                f"'send: {{...}}', not {kind_of(step)}")
        if len(step) != 1:
            keys = ", ".join(map(str, step)) or "nothing"
            raise ScenarioError(file, line, col, f"steps[{index}] must have exactly one key "
                                f"(send, expect, wait, disconnect or a command), found: {keys}")
        (key,) = step
        if key not in kinds:
            kline, kcol = where_key(step, key, (line, col))
            close = difflib.get_close_matches(str(key), kinds, n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"a step is send, expect, wait, disconnect or a command: {', '.join(sorted(commands))}"
            raise ScenarioError(file, kline, kcol, f"unknown step {key!r} ({hint})")


def _deepest(err: ValidationError) -> ValidationError:
    """For ``anyOf``/``oneOf`` errors, the most specific sub-error when one branch came close."""
    if err.validator in ("anyOf",) and err.context:
        deeper = [e for e in err.context if len(e.absolute_path) > len(err.absolute_path)]
        if deeper:
            return _deepest(max(deeper, key=lambda e: len(e.absolute_path)))
    return err
