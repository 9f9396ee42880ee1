"""Check parsed YAML against the structural JSON Schema; one diagnostic per problem.

Rules: every schema violation becomes one ``E-SCHEMA`` diagnostic at the line
and column of the offending value (or key, for an unexpected key), with a
message that names the place in table terms (``transitions[2].on``) rather than
JSON Schema terms, and a hint (often "did you mean ...?"). Names are checked for
spelling only here; whether they exist is lint's business.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .diagnostics import Diagnostic, error
from .duration import DURATION_PATTERN
from .schema import CAMEL, SNAKE, TIMER, structural_schema
from .yamlio import position_of, where_key, where_node

_PATTERNS = {
    CAMEL: "a CamelCase name (letters and digits, first letter upper case)",
    SNAKE: "a lower_snake_case name",
    TIMER: "Timer<Name>",
    DURATION_PATTERN: "a duration such as 180s, 500ms or 2m",
}
_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "true or false", "null": "nothing"}


@lru_cache(maxsize=2)
def _validator(kind: str) -> Draft202012Validator:
    root = structural_schema()
    return Draft202012Validator({"$defs": root["$defs"], "$ref": f"#/$defs/{kind}"})


def path_text(path: Iterable[Any]) -> str:
    """``transitions[2].do[0]`` for the JSON path ``("transitions", 2, "do", 0)``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"


def kind_of(value: Any) -> str:
    """What a YAML value is, in words: ``a list``, ``the number 7``, ``'text'``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"{str(value)!r}"


def _walk(data: Any, path: list[Any]) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


_REFS = {"#/$defs/duration": "a duration such as 180s", "#/$defs/paramRef": "{param: NAME}",
         "#/$defs/guard": "a guard", "#/$defs/action": "an action", "#/$defs/row": "a row",
         "#/$defs/event": "an event name", "#/$defs/stateName": "a state name",
         "#/$defs/appEvent": "an application event name"}


def _schema_words(schema: Any) -> str:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _REFS.get(schema["$ref"], "a valid value")
        if "anyOf" in schema:
            return " or ".join(dict.fromkeys(_schema_words(s) for s in schema["anyOf"]))
        if "pattern" in schema:
            return _PATTERNS.get(schema["pattern"], f"text matching {schema['pattern']}")
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            return " or ".join(_TYPES.get(t, t) for t in types)
    return "a valid value"


def _one(err: ValidationError, data: Any, file: str) -> list[Diagnostic]:
    err = best_match([err]) if err.context else err
    path = list(err.absolute_path)
    where_text = path_text(path)
    line, col = position_of(data, path)
    hint = "see 'State table format' in the README"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        out = []
        for key in err.instance:
            if key in allowed:
                continue
            kline, kcol = where_key(err.instance, key, (line, col))
            close = difflib.get_close_matches(str(key), allowed, n=1)
            khint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
            if not allowed:
                khint = "no keys are allowed here"
            out.append(error(file, kline, kcol, "E-SCHEMA", f"unexpected key {key!r} in {where_text}",
                             khint))
        if out:
            return out
    if "propertyNames" in err.absolute_schema_path:
        parent = _walk(data, path)
        kline, kcol = where_key(parent, err.instance, (line, col))
        message = f"key {err.instance!r} in {where_text} must be {_schema_words(err.schema)}"
        return [error(file, kline, kcol, "E-SCHEMA", message, hint)]
    if err.validator == "required":
        missing = [k for k in err.validator_value if not isinstance(err.instance, dict) or k not in err.instance]
        message = f"{where_text} is missing {', '.join(repr(k) for k in missing)}"
    elif err.validator == "type":
        message = f"{where_text} must be {_schema_words(err.schema)}, not {kind_of(err.instance)}"
    elif err.validator == "pattern":
        message = f"{where_text} must be {_schema_words(err.schema)}, not {kind_of(err.instance)}"
    elif err.validator in ("enum", "const"):
        choices = err.validator_value if err.validator == "enum" else [err.validator_value]
        message = f"{where_text} must be one of {', '.join(map(str, choices))}, not {kind_of(err.instance)}"
    elif err.validator == "anyOf":
        message = f"{where_text} must be {_schema_words(err.schema)}, not {kind_of(err.instance)}"
    elif err.validator == "minProperties":
        message = f"{where_text} must not be empty"
    elif err.validator == "maxProperties":
        message = f"{where_text} must have exactly one key, e.g. {{Name: {{param: value}}}}"
    elif err.validator == "minItems":
        message = f"{where_text} must not be an empty list"
    elif err.validator == "uniqueItems":
        message = f"{where_text} lists an item twice"
    elif err.validator == "minimum":
        message = f"{where_text} must be at least {err.validator_value}, not {err.instance}"
    else:
        message = f"{where_text}: {err.message}"
    return [error(file, line, col, "E-SCHEMA", message, hint)]


def validate(data: Any, file: str, kind: str) -> list[Diagnostic]:
    """E-SCHEMA diagnostics for ``data`` as a ``table`` or a ``fragment``, in file order."""
    if not isinstance(data, dict):
        what = "state table" if kind == "table" else "fragment"
        line, col = where_node(data)
        return [error(file, line, col, "E-SCHEMA",
                      f"the file must be a mapping (a {what}), not {kind_of(data)}",
                      "start with 'table: name', 'role:', 'initial:', 'states:' and 'transitions:'")]
    found: list[Diagnostic] = []
    for err in _validator(kind).iter_errors(data):
        found.extend(_one(err, data, file))
    unique = {(d.line, d.col, d.message): d for d in found}
    return sorted(unique.values(), key=lambda d: (d.line, d.col))
