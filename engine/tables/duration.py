"""Durations as tables write them: ``180s``, ``500ms``, ``2m``, ``1h`` or a plain number.

Rules: a plain number is seconds; a string is a non-negative decimal number with
an optional unit ``ms``, ``s``, ``m`` or ``h`` (no unit means seconds); the result
is always a finite ``float`` of seconds. Booleans, negative and infinite values are
refused. The syntax is the one ``sipflow.runtime.params`` accepts for ``--set``.
Both the loader (literal timer durations) and the runtime (``{param: NAME}``
values and ``--set`` overrides) parse through :func:`parse_duration`, so one
spelling means one thing everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")

DURATION_PATTERN = r"^\s*(\d+(\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$"
"""The same syntax as a JSON Schema pattern (used by ``sipflow.tables.schema``)."""


def parse_duration(value: Any) -> float:
    """Return ``value`` as float seconds; raise ``ValueError`` with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (write e.g. 180s, 500ms, 2m)")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"duration {value!r} is not a finite, non-negative number")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or ""]
    raise ValueError(f"{value!r} is not a duration (write e.g. 180s, 500ms, 2m)")


def is_duration(value: Any) -> bool:
    """True when :func:`parse_duration` accepts ``value``."""
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True
