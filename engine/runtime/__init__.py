"""The engine runtime: the registry, compiled tables, sessions, timers and the application API.

Importing ``sipflow.runtime`` stays cheap (the registry is imported by the
table loader): the names below are loaded on first use.

* ``compile_table(table, registry) -> CompiledTable`` — once per table.
* ``Runtime(tables, registry, clock, backend=None, *, params, rng)`` —
  ``start_session``, ``dispatch``, ``deliver``, ``subscribe``; ``sessions``
  (a read-only ``LiveSessions`` view); ``rng`` (``random.Random``, what
  ``GlareBackoff`` draws from: seed it for a reproducible run).
* ``Session``, ``Context``, ``Event`` — what actions and guards see.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compile_table": "compiler", "CompiledTable": "compiler", "CompiledRow": "compiler",
    "CompileError": "compiler", "TableRefused": "compiler",
    "Runtime": "runtime", "SESSION_ENDED": "runtime", "UnknownTable": "runtime",
    "LiveSessions": "runtime",
    "Session": "session", "Context": "context", "Event": "context",
    "ParamError": "params", "parse_duration": "params",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sipflow.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sipflow.runtime.{module}"), name)
