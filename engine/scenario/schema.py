"""The JSON Schema of a scenario file, generated from the registry.

Rules: one generator, two uses. ``build_scenario_schema(registry)`` is the
published schema (``schemas/scenario.schema.json``, written by ``sipflow
schema``): application commands (``MakeCall``, ``HangUp`` …) and application
events (``CallEstablished`` …) are listed by name with their descriptions, so
an editor with the YAML language server completes them. The scenario loader
validates every file with the same schema before it builds anything, then
checks what a schema cannot: that participants, tables and states exist.
"""

from __future__ import annotations

from typing import Any

from sipflow.runtime.registry import Registry
from sipflow.tables.duration import DURATION_PATTERN

SCHEMA_ID = "https://sipflow.dev/schemas/scenario.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

PARTICIPANT = r"^[a-z][a-z0-9_]*$"
CAMEL = r"^[A-Z][A-Za-z0-9]*$"
METHOD = r"^[A-Za-z][A-Za-z0-9.!%*_+`'~-]*$"
ADDRESS = r"^(udp|tcp):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$"
STEP_KINDS = ("send", "expect", "wait", "disconnect")
"""The step keys besides application commands (which are named by the registry)."""

MATCHER_HELP = ("exact text, 'regex:PATTERN' (found anywhere), 'absent', 'present' "
                "or 'exact:TEXT'")


def _duration() -> dict[str, Any]:
    return {"anyOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "pattern": DURATION_PATTERN}],
            "description": "seconds, or a string such as 180s, 500ms, 2m"}


def _name_ref(description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": PARTICIPANT, "description": description}


def _matchers() -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"type": "string", "minLength": 1},
            "additionalProperties": {"type": ["string", "number", "boolean"],
                                     "description": MATCHER_HELP},
            "description": "header name: matcher"}


def _message_filter(description: str, *, within: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "from": _name_ref("the participant that sends it (omit: anyone)"),
        "to": _name_ref("the participant that receives it (omit: anyone)"),
        "method": {"type": "string", "pattern": METHOD,
                   "description": "a request's method, or with status the method it answers"},
        "status": {"type": "integer", "minimum": 100, "maximum": 699,
                   "description": "a response's status code"},
        "headers": _matchers(),
        "body": {"type": ["string", "number"], "description": MATCHER_HELP},
    }
    if within:
        properties["within"] = {**_duration(),
                                "description": "how much virtual time it may take (default 5s)"}
        properties["not_before"] = {**_duration(),
                                    "description": "it must not come sooner than this after the "
                                                   "step begins (default 0s)"}
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "description": description}


def _send() -> dict[str, Any]:
    scalar = {"type": ["string", "number", "null"]}
    return {
        "type": "object",
        "required": ["from", "to"],
        "additionalProperties": False,
        "description": "the scripted peer `from` sends a request (method), a response (status) "
                       "or raw bytes (raw) to `to`; Via, Call-ID, CSeq, tags, Contact and "
                       "Content-Length are filled in",
        "properties": {
            "from": _name_ref("the scripted peer that sends"),
            "to": _name_ref("the participant it is sent to"),
            "method": {"type": "string", "pattern": METHOD,
                       "description": "send this request; with status: answer the last request "
                                      "of this method"},
            "status": {"type": "integer", "minimum": 100, "maximum": 699,
                       "description": "send a response to the last request received from `to`"},
            "reason": {"type": "string", "description": "the reason phrase (default: the usual)"},
            "headers": {"type": "object", "propertyNames": {"type": "string", "minLength": 1},
                        "additionalProperties": scalar,
                        "description": "header name: value (replaces the generated one; "
                                       "null removes it)"},
            "body": {"type": "string",
                     "description": "the body; 'sdp' is a small audio offer/answer"},
            "new_dialog": {"type": "boolean",
                           "description": "start a new dialog (Call-ID, tag, CSeq) even when one "
                                          "with `to` is open"},
            "raw": {"type": "string",
                    "description": "bytes sent exactly as written (LF becomes CRLF unless the "
                                   "text has CR already); for malformed messages"},
        },
    }


def _command(registry: Registry, name: str) -> dict[str, Any]:
    spec = registry.events[name]
    return {
        "description": spec.description,
        "anyOf": [
            _name_ref("the table participant that gets the command"),
            {"type": "object", "required": ["participant"],
             "properties": {"participant": _name_ref("the table participant")},
             "additionalProperties": {"type": ["string", "number", "boolean"]},
             "description": "participant, plus the command's data (MakeCall: to; "
                            "SendDTMF: digits)"},
        ],
    }


def _names(items: dict[str, Any]) -> dict[str, Any]:
    if not items:
        return {"type": "string", "pattern": CAMEL}
    return {"anyOf": [{"const": name, "description": spec.description}
                      for name, spec in sorted(items.items())]}


def _per_participant(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"type": "string", "pattern": PARTICIPANT},
            "additionalProperties": {"type": "array", "items": item, "minItems": 1,
                                     "description": description}}


def build_scenario_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``*.scenario.yaml`` for ``registry``'s vocabulary."""
    commands = sorted(e.name for e in registry.events_of_kind("command"))
    step_properties: dict[str, Any] = {
        "send": {"$ref": "#/$defs/send"},
        "expect": {"$ref": "#/$defs/expect"},
        "wait": {**_duration(), "description": "let this much virtual time pass"},
        "disconnect": _name_ref("a scripted peer leaves the network: messages to it are lost "
                                "(TCP senders see a refused connection)"),
    }
    for name in commands:
        step_properties[name] = _command(registry, name)
    participant = {
        "type": "object",
        "additionalProperties": False,
        "description": "a state table (table, parameters) or a scripted peer (peer: true)",
        "properties": {
            "table": {"type": "string", "minLength": 1,
                      "description": "a shipped table name (uas_call) or a path to a .yaml file, "
                                     "relative to the scenario file"},
            "parameters": {"type": "object",
                           "propertyNames": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
                           "additionalProperties": {"type": ["string", "number", "boolean"]},
                           "description": "table parameters for this participant"},
            "peer": {"const": True, "description": "a scripted peer: it sends what `send` says"},
            "address": {"type": "string", "pattern": ADDRESS,
                        "description": "udp:HOST:PORT or tcp:HOST:PORT on the loopback network "
                                       "(default: udp:10.0.0.N:5060)"},
        },
        "oneOf": [{"required": ["table"], "not": {"required": ["peer"]}},
                  {"required": ["peer"], "not": {"anyOf": [{"required": ["table"]},
                                                           {"required": ["parameters"]}]}}],
    }
    states = _per_participant({"type": "string", "pattern": CAMEL},
                              "states the participant must enter, in this order")
    published = _per_participant({"$ref": "#/$defs/appEvent"},
                                 "application events the participant must publish, in this order")
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "sipflow scenario",
        "description": "A sipflow scenario (*.scenario.yaml): participants, steps and assertions, "
                       "run by `sipflow simulate` in virtual time. See the README, section "
                       "'Change a call flow'.",
        "type": "object",
        "required": ["participants", "steps"],
        "additionalProperties": False,
        "properties": {
            "scenario": {"type": "string", "minLength": 1, "description": "the scenario's name"},
            "description": {"type": "string"},
            "settle": {**_duration(),
                       "description": "virtual time to let pass after the last step "
                                      "(default 40s)"},
            "participants": {"type": "object", "minProperties": 1,
                             "propertyNames": {"type": "string", "pattern": PARTICIPANT},
                             "additionalProperties": {"$ref": "#/$defs/participant"}},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "assert": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "states": states,
                    "published": published,
                    "never_sent": {"type": "array", "items": {"$ref": "#/$defs/filter"},
                                   "description": "messages that must never be sent"},
                },
            },
        },
        "$defs": {
            "participant": participant,
            "step": {"type": "object", "minProperties": 1, "maxProperties": 1,
                     "additionalProperties": False, "properties": step_properties,
                     "description": "send, expect, wait, disconnect, or an application command"},
            "send": _send(),
            "expect": _message_filter("the next message between `from` and `to` must match",
                                      within=True),
            "filter": _message_filter("a message that must never be sent", within=False),
            "appEvent": _names(registry.app_events),
        },
    }
