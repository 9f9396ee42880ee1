"""The registry: every event, action, guard and application event a table may name.

Tables never contain code. A table names events (``on:``), guards (``if:``),
actions (``do:``) and application events (``publish:``); each name must be
registered here, with typed parameters and a one-line description. The JSON
Schema of a state table (``sipflow schema``), lint, the compiler, render and
``sipflow compat`` all read this registry, so a name exists in exactly one
place.

Calling conventions (the runtime provides ``ctx``, see ``sipflow.runtime.context``):

* an action is ``func(ctx, **params) -> None`` or a coroutine function with the
  same signature (the runtime runs coroutine actions after the transition, in
  order, per session);
* a guard is ``func(ctx, **params) -> bool`` and must not have side effects.

``ParamSpec.type`` is one of ``str``, ``int``, ``float``, ``bool``,
``duration`` (a number of seconds or a string such as ``180s``, ``500ms``,
``2m``), ``codes`` (an int or a list of ints), ``method`` (a SIP method name),
``enum`` (one of ``choices``) or ``mapping`` (a string-keyed mapping).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PARAM_TYPES = ("str", "int", "float", "bool", "duration", "codes", "method", "enum", "mapping")

EVENT_KINDS = ("request", "response", "backend", "timer", "command")
"""request: a SIP request received; response: a response to the session's own request;
backend: other things the backend reports (timeouts, transport errors);
timer: a state timer (``Timer<Name>``, derived from the table); command: the application."""

TIMER_EVENT = re.compile(r"^Timer[A-Z][A-Za-z0-9]*$")
NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: str
    description: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name!r}: unknown type {self.type!r}")


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    kind: str
    description: str
    data: tuple[str, ...] = ()
    method: str | None = None
    """For request events: the SIP method that raises it (compat reads this)."""


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    description: str
    func: Callable[..., Any]
    params: tuple[ParamSpec, ...] = ()
    sends: str | None = None
    """The SIP method this action sends (``SendBYE`` → ``BYE``; ``SendSIPResponse`` → ``response``)."""


@dataclass(frozen=True, slots=True)
class GuardSpec:
    name: str
    description: str
    func: Callable[..., bool]
    params: tuple[ParamSpec, ...] = ()
    scalar: str | None = None
    """The parameter a scalar argument fills: ``{code: 486}`` means ``code(value=486)``."""


@dataclass(frozen=True, slots=True)
class AppEventSpec:
    name: str
    description: str


@dataclass
class Registry:
    """Names a table may use. ``default_registry()`` holds the built-in vocabulary."""

    events: dict[str, EventSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    guards: dict[str, GuardSpec] = field(default_factory=dict)
    app_events: dict[str, AppEventSpec] = field(default_factory=dict)

    # -- registration ---------------------------------------------------------
    def add_event(self, name: str, kind: str, description: str, data: Iterable[str] = (),
                  method: str | None = None) -> EventSpec:
        if kind not in EVENT_KINDS or kind == "timer":
            raise ValueError(f"event {name!r}: kind must be one of request, response, backend, command")
        _check_name("event", name, self.events)
        spec = EventSpec(name, kind, description, tuple(data), method)
        self.events[name] = spec
        return spec

    def action(self, name: str, description: str, params: Iterable[ParamSpec] = (),
               sends: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register ``func(ctx, **params)`` as the action ``name``."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_action(ActionSpec(name, description, func, tuple(params), sends))
            return func

        return register

    def add_action(self, spec: ActionSpec) -> None:
        _check_name("action", spec.name, self.actions)
        self.actions[spec.name] = spec

    def guard(self, name: str, description: str, params: Iterable[ParamSpec] = (),
              scalar: str | None = None) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
        """Decorator: register ``func(ctx, **params) -> bool`` as the guard ``name``."""

        def register(func: Callable[..., bool]) -> Callable[..., bool]:
            if name in self.guards:
                raise ValueError(f"guard {name!r} is registered twice")
            self.guards[name] = GuardSpec(name, description, func, tuple(params), scalar)
            return func

        return register

    def add_app_event(self, name: str, description: str) -> None:
        _check_name("application event", name, self.app_events)
        self.app_events[name] = AppEventSpec(name, description)

    # -- queries --------------------------------------------------------------
    def knows_event(self, name: str) -> bool:
        """A registered event, or a state timer event ``Timer<Name>``."""
        return name in self.events or bool(TIMER_EVENT.match(name))

    def events_of_kind(self, kind: str) -> list[EventSpec]:
        return [e for e in self.events.values() if e.kind == kind]

    def copy(self) -> Registry:
        """A registry that starts with these names and can be extended on its own."""
        return Registry(dict(self.events), dict(self.actions), dict(self.guards), dict(self.app_events))


def _check_name(what: str, name: str, existing: dict[str, Any]) -> None:
    if not NAME.match(name):
        raise ValueError(f"{what} name {name!r} must be CamelCase letters and digits")
    if name in existing:
        raise ValueError(f"{what} {name!r} is registered twice")
