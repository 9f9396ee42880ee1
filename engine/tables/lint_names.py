"""Lint checks on names and parameters: every name a table uses must exist.

Rules: events (``on``, ``starts_on``) must be registered, or be ``Timer<Name>`` for
a timer some state declares; states (``initial``, ``from``, ``to``) must be
declared; actions, guards and published application events must be registered;
``{param: NAME}`` must name a declared parameter; action and guard parameters
must be known, present when required and of the declared ``ParamSpec`` type (a
``{param: NAME}`` value is checked through the parameter's default). Unknown
names get a "did you mean" hint.
"""

from __future__ import annotations

from typing import Any

from sipflow.runtime.builtins import SIP_METHODS
from sipflow.runtime.registry import ParamSpec

from .duration import is_duration
from .lint_context import LintContext, did_you_mean
from .model import ANY, ParamRef, Source


def _type_problem(spec: ParamSpec, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec``, or None."""
    def is_code(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 699

    ok = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "duration": is_duration,
        "codes": lambda v: is_code(v) or (isinstance(v, list) and bool(v) and all(map(is_code, v))),
        "method": lambda v: v in SIP_METHODS,
        "enum": lambda v: v in spec.choices,
        "mapping": lambda v: isinstance(v, dict),
    }[spec.type](value)
    if ok:
        return None
    wanted = {
        "str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
        "duration": "a duration such as 180s", "codes": "a status code or a list of codes (100-699)",
        "method": "a SIP method name", "enum": "one of " + ", ".join(spec.choices),
        "mapping": "a mapping",
    }[spec.type]
    return f"must be {wanted}, not {value!r}"


def _check_params(ctx: LintContext, rule: str, kind: str, name: str, specs: tuple[ParamSpec, ...],
                  params: dict[str, Any], where: Source) -> None:
    by_name = {p.name: p for p in specs}
    for key, value in params.items():
        spec = by_name.get(key)
        if spec is None:
            allowed = ", ".join(by_name) or "none"
            hint = did_you_mean(key, by_name) or f"{name} takes: {allowed}"
            ctx.report(rule, where, f"{kind} {name} has no parameter {key!r}", hint)
            continue
        if isinstance(value, ParamRef):
            if value.name not in ctx.table.parameters:
                continue  # reported as E-UNKNOWN-PARAM
            problem = _type_problem(spec, ctx.table.parameters[value.name])
            if problem:
                ctx.report(rule, where, f"{kind} {name}: parameter {key!r} (from {{param: {value.name}}}) "
                           f"{problem}", f"change the default of {value.name}")
            continue
        problem = _type_problem(spec, value)
        if problem:
            ctx.report(rule, where, f"{kind} {name}: parameter {key!r} {problem}",
                       spec.description)
    for spec in specs:
        if spec.required and spec.name not in params:
            ctx.report(rule, where, f"{kind} {name} needs the parameter {spec.name!r}", spec.description)


def _param_refs(ctx: LintContext, values: dict[str, Any], where: Source) -> None:
    for value in values.values():
        if isinstance(value, ParamRef) and value.name not in ctx.table.parameters:
            ctx.report("E-UNKNOWN-PARAM", where, f"{{param: {value.name}}}: no such parameter",
                       did_you_mean(value.name, ctx.table.parameters)
                       or "declare it under parameters: with a default")


def declared_timers(ctx: LintContext) -> set[str]:
    return {t.event for s in ctx.table.states.values() for t in s.timers}


def _check_event(ctx: LintContext, event: str, where: Source, timers: set[str]) -> None:
    if event.startswith("Timer") and event not in ctx.registry.events:
        if event not in timers:
            hint = did_you_mean(event, timers) or f"declare timers: {{{event[5:]}: 10s}} on a state"
            ctx.report("E-UNKNOWN-EVENT", where, f"no state declares the timer of {event}", hint)
        return
    if event not in ctx.registry.events:
        ctx.report("E-UNKNOWN-EVENT", where, f"unknown event {event!r}",
                   did_you_mean(event, ctx.registry.events) or "see `sipflow schema` for the event names")


def _check_state(ctx: LintContext, state: str, where: Source, what: str) -> None:
    if state not in ctx.table.states:
        ctx.report("E-UNKNOWN-STATE", where, f"{what} names the undeclared state {state!r}",
                   did_you_mean(state, ctx.table.states) or "declare it under states:")


def check_names(ctx: LintContext) -> None:
    """E-UNKNOWN-* and E-ACTION-PARAM / E-GUARD-PARAM / E-PARAM-TYPE."""
    table, reg = ctx.table, ctx.registry
    timers = declared_timers(ctx)
    _check_state(ctx, table.initial, ctx.table_at("initial"), "initial")
    for n, event in enumerate(table.starts_on):
        _check_event(ctx, event, ctx.table_at(f"starts_on.{n}"), timers)
    for state in table.states.values():
        for timer in state.timers:
            if not isinstance(timer.duration, ParamRef):
                continue
            name = timer.duration.name
            if name not in table.parameters:
                ctx.report("E-UNKNOWN-PARAM", timer.source, f"{{param: {name}}}: no such parameter",
                           did_you_mean(name, table.parameters) or "declare it under parameters:")
            elif not is_duration(table.parameters[name]):
                ctx.report("E-PARAM-TYPE", timer.source,
                           f"timer {timer.name} uses {{param: {name}}}, whose default "
                           f"{table.parameters[name]!r} is not a duration", "write e.g. 180s, 500ms, 2m")
    for row in table.rows:
        _check_event(ctx, row.event, ctx.at(row, "on"), timers)
        for n, state in enumerate(row.sources):
            if state != ANY:
                where = row.locations.get(f"from.{n}") or ctx.at(row, "from")
                _check_state(ctx, state, where, "from")
        if row.target is not None:
            _check_state(ctx, row.target, ctx.at(row, "to"), "to")
        for guard in row.guards:
            _param_refs(ctx, guard.params, guard.source)
            spec = reg.guards.get(guard.name)
            if spec is None:
                ctx.report("E-UNKNOWN-GUARD", guard.source, f"unknown guard {guard.name!r}",
                           did_you_mean(guard.name, reg.guards) or "see `sipflow schema` for guard names")
                continue
            _check_params(ctx, "E-GUARD-PARAM", "guard", guard.name, spec.params, guard.params, guard.source)
            if guard.name == "param_is" and isinstance(guard.params.get("name"), str):
                pname = guard.params["name"]
                if pname not in table.parameters:
                    ctx.report("E-UNKNOWN-PARAM", guard.source, f"param_is: no parameter {pname!r}",
                               did_you_mean(pname, table.parameters) or "declare it under parameters:")
        for action in row.actions:
            _param_refs(ctx, action.params, action.source)
            aspec = reg.actions.get(action.name)
            if aspec is None:
                ctx.report("E-UNKNOWN-ACTION", action.source, f"unknown action {action.name!r}",
                           did_you_mean(action.name, reg.actions) or "see `sipflow schema` for action names")
                continue
            _check_params(ctx, "E-ACTION-PARAM", "action", action.name, aspec.params, action.params,
                          action.source)
        for n, name in enumerate(row.publish):
            if name not in reg.app_events:
                ctx.report("E-UNKNOWN-APP-EVENT", ctx.at(row, f"publish.{n}"),
                           f"unknown application event {name!r}",
                           did_you_mean(name, reg.app_events) or "see `sipflow schema` for the names")


RESPONSE_CODES: dict[str, tuple[str, frozenset[int]]] = {
    "Dialog180Ringing": ("180", frozenset({180})),
    "Dialog183SessionProgress": ("183", frozenset({183})),
    "Dialog1xxProvisional": ("101-199 except 180 and 183", frozenset(range(101, 200)) - {180, 183}),
    "Dialog200OK": ("2xx", frozenset(range(200, 300))),
    "Dialog3xxRedirect": ("3xx", frozenset(range(300, 400))),
    "DialogAuthChallenge": ("401 or 407", frozenset({401, 407})),
    "Dialog4xxFailure": ("4xx except 401 and 407", frozenset(range(400, 500)) - {401, 407}),
    "Dialog5xxFailure": ("5xx", frozenset(range(500, 600))),
    "Dialog6xxFailure": ("6xx", frozenset(range(600, 700))),
}
"""The codes each response event carries (CONTRACTS section 1)."""


def check_guard_domains(ctx: LintContext) -> None:
    """E-GUARD-NEVER-HOLDS: ``code``/``response_to`` guards that cannot hold for the event."""
    for row in ctx.table.rows:
        spec = ctx.registry.events.get(row.event)
        if spec is None:
            continue
        for guard in row.guards:
            if guard.negate or guard.name not in ("code", "response_to"):
                continue
            value = guard.params.get("value")
            if isinstance(value, ParamRef) or value is None:
                continue
            if spec.kind != "response":
                ctx.report("E-GUARD-NEVER-HOLDS", guard.source,
                           f"guard {guard.name} never holds on {row.event}: it is not a response",
                           f"{guard.name} tests responses (Dialog200OK, Dialog4xxFailure, ...)")
                continue
            if guard.name != "code" or row.event not in RESPONSE_CODES:
                continue
            codes = value if isinstance(value, list) else [value]
            if not all(isinstance(c, int) for c in codes):
                continue  # E-GUARD-PARAM
            words, allowed = RESPONSE_CODES[row.event]
            if not set(codes) & allowed:
                ctx.report("E-GUARD-NEVER-HOLDS", guard.source,
                           f"{guard.label()} never holds on {row.event} ({words})",
                           "use the event of that response class, e.g. Dialog5xxFailure for 503")


def used_parameters(ctx: LintContext) -> set[str]:
    """Parameters referred to by ``{param: NAME}`` anywhere, or by ``param_is``."""
    used: set[str] = set()
    for state in ctx.table.states.values():
        used.update(t.duration.name for t in state.timers if isinstance(t.duration, ParamRef))
    for row in ctx.table.rows:
        for call in (*row.guards, *row.actions):
            used.update(v.name for v in call.params.values() if isinstance(v, ParamRef))
        for guard in row.guards:
            if guard.name == "param_is" and isinstance(guard.params.get("name"), str):
                used.add(guard.params["name"])
    return used


def check_unused_parameters(ctx: LintContext) -> None:
    """W-UNUSED-PARAM."""
    used = used_parameters(ctx)
    for name in ctx.table.parameters:
        if name not in used:
            where = ctx.table.parameter_sources.get(name) or ctx.table.source
            ctx.report("W-UNUSED-PARAM", where, f"parameter {name!r} is declared but never used",
                       "remove it, or refer to it with {param: " + name + "}")
