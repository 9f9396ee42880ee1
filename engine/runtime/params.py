"""Table parameters at run time: durations, overrides and ``{param: NAME}`` references.

Rules:

* A table declares its parameters and their defaults (``parameters:``). A
  value can be overridden for the whole runtime (the CLI's ``--set
  NAME=VALUE``) or for one session (``start_session(..., params=...)``). The
  order is session override, then runtime override, then the table default.
* An override must name a parameter the table declares; anything else is a
  ``ParamError`` naming the table and the parameter.
* Values coming from the command line are strings. ``coerce`` turns them into
  the type an action or guard parameter declares (``ParamSpec.type``), and
  ``parse_duration`` turns ``180s`` / ``500ms`` / ``2m`` / ``1h`` / a number
  into float seconds for state timers.

Theory of operation: compiling a table resolves every constant once. A value
that holds a ``ParamRef`` is kept as a small recipe (``needs_resolving``) and
``resolve`` walks it per call, looking names up through a callable supplied by
the session's context. Nothing here knows about sessions or transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sipflow.tables.duration import parse_duration as tables_duration
from sipflow.tables.model import ParamRef


class ParamError(ValueError):
    """A parameter is unknown, or its value cannot be used where it is needed."""


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from a number or a string such as ``180s``, ``500ms``, ``2m``, ``1h``, ``1.5``.

    The syntax is the loader's (``sipflow.tables.duration``); this raises
    ``ParamError`` naming ``what`` for anything else (negative, NaN, text).
    """
    try:
        return tables_duration(value)
    except ValueError as err:
        raise ParamError(f"{what}: {err}") from None


def coerce(value: Any, type_name: str | None, what: str) -> Any:
    """``value`` converted to the ``ParamSpec`` type ``type_name`` when it arrives as a string.

    Non-string values and unknown types pass through unchanged: lint has
    already checked the table's own constants.
    """
    if not isinstance(value, str) or type_name is None:
        return value
    try:
        if type_name == "int":
            return int(value)
        if type_name == "float":
            return float(value)
        if type_name == "duration":
            return parse_duration(value, what)
        if type_name == "bool":
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if type_name == "codes":
            codes = [int(part) for part in value.split(",")]
            return codes[0] if len(codes) == 1 else codes
    except ValueError:
        raise ParamError(f"{what}: {value!r} is not a valid {type_name}") from None
    return value


def needs_resolving(value: Any) -> bool:
    """True when ``value`` holds a ``ParamRef`` anywhere (lists and mappings included)."""
    if isinstance(value, ParamRef):
        return True
    if isinstance(value, list | tuple):
        return any(needs_resolving(v) for v in value)
    if isinstance(value, Mapping):
        return any(needs_resolving(v) for v in value.values())
    return False


def resolve(value: Any, lookup: Callable[[str], Any]) -> Any:
    """``value`` with every ``ParamRef`` replaced by ``lookup(name)``."""
    if isinstance(value, ParamRef):
        return lookup(value.name)
    if isinstance(value, list | tuple):
        return [resolve(v, lookup) for v in value]
    if isinstance(value, Mapping):
        return {k: resolve(v, lookup) for k, v in value.items()}
    return value


def check_overrides(table: str, declared: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Raise ``ParamError`` when ``overrides`` names a parameter the table does not declare."""
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ParamError(f"table {table!r} has no parameter {unknown[0]!r} (declared: {known})")
