"""Event loop selection: uvloop when importable, the standard asyncio loop otherwise.

Rules:

- ``new_event_loop()`` returns a uvloop loop when uvloop imports (it is a
  dependency on Linux) and ``prefer_uvloop`` is true, else a standard loop.
- ``install()`` makes that choice the default for ``asyncio.run`` and
  ``asyncio.new_event_loop`` (an event-loop policy) and says which it chose.
- ``run(main)`` runs one coroutine on a new loop of that choice without
  touching the global policy.
- Everything in ``sipflow.transport`` works on both loops; the tests run on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

try:  # pragma: no cover - depends on the platform
    import uvloop as _uvloop
except ImportError:  # pragma: no cover
    _uvloop = None  # type: ignore[assignment]


def uvloop_available() -> bool:
    """True when uvloop can be imported."""
    return _uvloop is not None


def new_event_loop(prefer_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop when available and preferred, else the standard one."""
    if prefer_uvloop and _uvloop is not None:
        return _uvloop.new_event_loop()
    return asyncio.new_event_loop()


def install(prefer_uvloop: bool = True) -> str:
    """Make ``new_event_loop``'s choice the process default; returns ``"uvloop"`` or ``"asyncio"``."""
    if prefer_uvloop and _uvloop is not None:
        asyncio.set_event_loop_policy(_uvloop.EventLoopPolicy())
        return "uvloop"
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    return "asyncio"


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``"uvloop"`` or ``"asyncio"``: which implementation ``loop`` is."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], *, prefer_uvloop: bool = True) -> T:
    """Run ``main`` to completion on a new loop chosen as ``new_event_loop`` does."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(prefer_uvloop)) as runner:
        return runner.run(main)
