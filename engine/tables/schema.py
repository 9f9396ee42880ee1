"""The JSON Schema of a state table, generated from the registry.

Rules: one generator, two uses. ``build_schema(registry)`` is the published
schema (``schemas/state-table.schema.json``, draft 2020-12): every event,
action, guard and application event is listed by name with its one-line
description, so an editor with the YAML language server completes and explains
names as you type, and action and guard parameters are typed per ``ParamSpec``.
``structural_schema()`` is the same shape with names only checked for spelling
(CamelCase): the loader validates with it and leaves unknown names to lint,
which reports them with rule ids and "did you mean" hints instead of a generic
schema error.

The root dispatches on the ``fragment`` key: a file with ``fragment:`` is a
fragment (rows only), any other file a table.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sipflow.runtime.builtins import SIP_METHODS
from sipflow.runtime.registry import ParamSpec, Registry

from .duration import DURATION_PATTERN

SCHEMA_ID = "https://sipflow.dev/schemas/state-table.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ROLES = ("UAC", "UAS", "UA")
"""UAC starts sessions (calls, registrations, subscriptions); UAS answers them; UA both."""

CAMEL = r"^[A-Z][A-Za-z0-9]*$"
SNAKE = r"^[a-z][a-z0-9_]*$"
TIMER = r"^Timer[A-Z][A-Za-z0-9]*$"

REF = {"$ref": "#/$defs/paramRef"}


def _names(items: dict[str, Any], pattern: str, what: str) -> dict[str, Any]:
    """A name from the registry (``anyOf`` of ``const`` + ``description`` for hover)."""
    if not items:
        return {"type": "string", "pattern": pattern, "description": what}
    return {"anyOf": [{"const": name, "description": spec.description}
                      for name, spec in sorted(items.items())]}


def _param_value(spec: ParamSpec) -> dict[str, Any]:
    """The JSON Schema of one action/guard parameter, ``{param: NAME}`` always allowed."""
    code = {"type": "integer", "minimum": 100, "maximum": 699}
    by_type: dict[str, dict[str, Any]] = {
        "str": {"type": "string"},
        "int": {"type": "integer"},
        "float": {"type": "number"},
        "bool": {"type": "boolean"},
        "duration": {"$ref": "#/$defs/duration"},
        "codes": {"anyOf": [code, {"type": "array", "items": code, "minItems": 1}]},
        "method": {"enum": list(SIP_METHODS)},
        "enum": {"enum": list(spec.choices)},
        "mapping": {"type": "object", "propertyNames": {"type": "string"}},
    }
    value = dict(by_type[spec.type])
    return {"anyOf": [value, REF], "description": spec.description}


def _params_object(params: tuple[ParamSpec, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: _param_value(p) for p in params},
        "additionalProperties": False,
    }
    required = [p.name for p in params if p.required]
    if required:
        schema["required"] = required
    return schema


def _actions(registry: Registry | None) -> dict[str, Any]:
    if registry is None:
        return {"anyOf": [
            {"type": "string", "pattern": CAMEL},
            {"type": "object", "minProperties": 1, "maxProperties": 1,
             "propertyNames": {"pattern": CAMEL},
             "additionalProperties": {"type": ["object", "null"]}},
        ]}
    bare = [{"const": name, "description": spec.description}
            for name, spec in sorted(registry.actions.items())]
    with_params = [{
        "type": "object", "required": [name], "additionalProperties": False,
        "properties": {name: {"anyOf": [_params_object(spec.params)]
                              + ([] if any(p.required for p in spec.params) else [{"type": "null"}]),
                              "description": spec.description}},
    } for name, spec in sorted(registry.actions.items())]
    return {"anyOf": bare + with_params}


def _guards(registry: Registry | None) -> dict[str, Any]:
    negation = {"type": "object", "required": ["not"], "additionalProperties": False,
                "properties": {"not": {"$ref": "#/$defs/guard"}},
                "description": "the guard must not hold"}
    if registry is None:
        return {"anyOf": [
            {"type": "string", "pattern": SNAKE},
            negation,
            {"type": "object", "minProperties": 1, "maxProperties": 1,
             "propertyNames": {"pattern": SNAKE, "not": {"const": "not"}}},
        ]}
    choices: list[dict[str, Any]] = [negation]
    for name, spec in sorted(registry.guards.items()):
        required = [p for p in spec.params if p.required]
        if not required:
            choices.append({"const": name, "description": spec.description})
        if not spec.params:
            continue
        forms: list[dict[str, Any]] = [_params_object(spec.params)]
        if spec.scalar:
            scalar = next(p for p in spec.params if p.name == spec.scalar)
            forms.insert(0, _param_value(scalar))
        choices.append({"type": "object", "required": [name], "additionalProperties": False,
                        "properties": {name: {"anyOf": forms, "description": spec.description}}})
    return {"anyOf": choices}


def _events(registry: Registry | None) -> dict[str, Any]:
    timer = {"type": "string", "pattern": TIMER,
             "description": "a state timer: Timer<Name> fires when timers: {<Name>: ...} expires"}
    if registry is None:
        return {"type": "string", "pattern": CAMEL}
    names = _names({k: v for k, v in registry.events.items()}, CAMEL, "an event")
    return {"anyOf": [*names["anyOf"], timer]}


def _row() -> dict[str, Any]:
    state_or_any = {"$ref": "#/$defs/stateName"}
    return {
        "type": "object",
        "description": "one transition row: in state `from`, on event `on`, if all `if` guards hold, "
                       "run `do` in order, go `to` (or stay) and `publish` application events",
        "required": ["from", "on"],
        "additionalProperties": False,
        "properties": {
            "from": {"anyOf": [state_or_any, {"type": "array", "items": state_or_any,
                                              "minItems": 1, "uniqueItems": True}],
                     "description": "the state(s) this row applies in; Any = every non-final state"},
            "on": {"$ref": "#/$defs/event"},
            "if": {"type": "array", "items": {"$ref": "#/$defs/guard"},
                   "description": "guards that must all hold"},
            "do": {"type": "array", "items": {"$ref": "#/$defs/action"},
                   "description": "actions, run in order"},
            "to": {"$ref": "#/$defs/stateName", "description": "the next state; omit to stay"},
            "publish": {"type": "array", "items": {"$ref": "#/$defs/appEvent"}, "uniqueItems": True,
                        "description": "application events to publish"},
            "description": {"type": "string"},
        },
    }


def _schema(registry: Registry | None) -> dict[str, Any]:
    scalar = {"anyOf": [{"type": ["string", "number", "boolean"]},
                        {"type": "array", "items": {"type": ["string", "number", "boolean"]}}],
              "description": "a string, number, boolean, or a list of them (e.g. codes)"}
    state = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            "final": {"type": "boolean", "description": "the session ends on entering this state"},
            "timers": {"type": "object", "propertyNames": {"type": "string", "pattern": CAMEL},
                       "additionalProperties": {"anyOf": [{"$ref": "#/$defs/duration"}, REF]},
                       "description": "Name: duration; fires Timer<Name> unless the state is left first"},
            "description": {"type": "string"},
        },
    }
    table = {
        "type": "object",
        "required": ["table", "role", "initial", "states", "transitions"],
        "additionalProperties": False,
        "properties": {
            "table": {"type": "string", "pattern": SNAKE, "description": "the table's name"},
            "role": {"enum": list(ROLES), "description": "UAC starts sessions, UAS answers, UA both"},
            "description": {"type": "string"},
            "starts_on": {"type": "array", "items": {"$ref": "#/$defs/event"}, "minItems": 1,
                          "uniqueItems": True,
                          "description": "events that open a new session of this table"},
            "parameters": {"type": "object", "propertyNames": {"type": "string", "pattern": SNAKE},
                           "additionalProperties": scalar,
                           "description": "name: default value; rows use {param: name}"},
            "include": {"type": "array", "items": {"type": "string", "pattern": SNAKE},
                        "uniqueItems": True,
                        "description": "fragments whose rows are added after this table's rows"},
            "initial": {"type": "string", "pattern": CAMEL, "description": "the first state"},
            "states": {"type": "object", "minProperties": 1,
                       "propertyNames": {"type": "string", "pattern": CAMEL},
                       "additionalProperties": state},
            "transitions": {"type": "array", "items": {"$ref": "#/$defs/row"}},
        },
    }
    fragment = {
        "type": "object",
        "required": ["fragment", "transitions"],
        "additionalProperties": False,
        "properties": {
            "fragment": {"type": "string", "pattern": SNAKE, "description": "the fragment's name"},
            "description": {"type": "string"},
            "transitions": {"type": "array", "items": {"$ref": "#/$defs/row"}},
        },
    }
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "sipflow state table",
        "description": "A sipflow state table (or a fragment of shared rows): see the README, "
                       "section 'State table format'.",
        "if": {"type": "object", "required": ["fragment"]},
        "then": {"$ref": "#/$defs/fragment"},
        "else": {"$ref": "#/$defs/table"},
        "$defs": {
            "table": table,
            "fragment": fragment,
            "row": _row(),
            "stateName": {"type": "string", "pattern": CAMEL},
            "event": _events(registry),
            "action": _actions(registry),
            "guard": _guards(registry),
            "appEvent": _names(registry.app_events if registry else {}, CAMEL, "an application event"),
            "duration": {"anyOf": [{"type": "number", "minimum": 0},
                                   {"type": "string", "pattern": DURATION_PATTERN}],
                         "description": "seconds, or a string such as 180s, 500ms, 2m"},
            "paramRef": {"type": "object", "required": ["param"], "additionalProperties": False,
                         "properties": {"param": {"type": "string", "pattern": SNAKE}},
                         "description": "the value of a table parameter"},
        },
    }


def build_schema(registry: Registry) -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) for ``registry``'s vocabulary."""
    return _schema(registry)


@lru_cache(maxsize=1)
def structural_schema() -> dict[str, Any]:
    """The shape of a table with names checked for spelling only (the loader's schema)."""
    return _schema(None)
