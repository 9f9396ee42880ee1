"""The ``DialogBackend`` interface: what the engine needs from a SIP stack (CONTRACTS §5).

The runtime never sees sockets, parsers or transactions. It talks to one
backend object:

* ``start(listen, deliver)`` — open the listeners; from then on the backend
  calls ``deliver(BackendEvent(...))`` for every event a table may react to
  (``DialogINVITE``, ``Dialog180Ringing``, ``DialogTimeout`` …).
* ``perform(handle, action, params)`` — do a wire action (``SendINVITE``,
  ``SendBYE``, ``SendSIPResponse`` …) for the session whose dialog handle is
  ``handle`` (None for a new session). It returns the session's handle when
  it creates one.
* ``stop(drain)`` — stop accepting, finish or end what is open within
  ``drain`` seconds, close the listeners.

``capabilities`` lists exactly the events the backend delivers and the actions
it performs; ``sipflow compat`` and ``sipflow lint`` read it, never a list
written by hand elsewhere. ``sipflow compat`` reads it from the object the entry
point loads, without calling it, so that object (the backend class, or a factory
function) must carry ``capabilities`` as a class-level (or function) attribute.

Backends register under the entry-point group ``sipflow.backends``; use
``load_backend(name)`` to find one. To write a backend over another SIP stack,
implement this protocol and register a factory ``(clock, **options) -> backend``
in your distribution's entry points; ``capabilities`` must be readable on the
factory itself (a class attribute), so ``sipflow compat`` can read it without
building a backend.

The contract, in short (the README's "Backends" section has the full tables):

* events: ``Dialog<METHOD>``/``DialogReINVITE`` for requests (data
  ``in_dialog``, ``method``, ``request_id``, ``has_sdp`` …), one event per
  response class (``code``, ``reason``, ``method``, ``reliable``),
  ``DialogTimeout``, ``DialogTransportError`` and the other ``Dialog<What>``
  notices; ``session_key`` is the backend's handle of the call leg;
* a request whose event ``deliver`` answers False (no row) still gets an
  answer from the backend (the safe default); nothing is left unanswered;
* ``perform`` raises for what it cannot do (the runtime logs it against the
  row); it never blocks.

Optional members: ``attach(runtime)``, which ``Runtime(tables, registry, clock,
backend)`` calls once so the backend knows the tables it serves (to build
``Allow``/``Accept``/``Supported``) and the live sessions (to end them on
shutdown); and, used by ``sipflow serve`` when present, ``local_addresses``,
``begin_shutdown()``, ``idle()``, ``counts()``, ``driver`` (the transport
driver, for traces).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from sipflow.clock import Clock

DialogHandle = Any
"""Opaque to the runtime: whatever the backend uses to find a session's dialog."""

ENTRY_POINT_GROUP = "sipflow.backends"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend delivers and performs."""

    events: frozenset[str]
    """Event names the backend delivers (``DialogINVITE``, ``Dialog200OK`` …)."""
    actions: frozenset[str]
    """Action names ``perform`` accepts (``SendINVITE``, ``SendSIPResponse`` …)."""
    methods: frozenset[str] = frozenset()
    """SIP methods the backend parses and runs transactions for."""


@dataclass(frozen=True, slots=True)
class BackendEvent:
    """One event for the runtime.

    ``session_key`` names the session it belongs to (a dialog handle); an event
    whose key no session owns is routed by the tables' ``starts_on``.
    ``message`` is a read-only view of the SIP message behind it, or None.
    """

    session_key: DialogHandle
    name: str
    data: Mapping[str, Any]
    message: Any = None


class DialogBackend(Protocol):
    """What the runtime needs from a SIP stack (CONTRACTS §5; see the module docstring)."""

    name: str
    capabilities: Capabilities
    clock: Clock

    async def start(self, listen: list[Any], deliver: Callable[[BackendEvent], None]) -> None: ...

    def perform(self, handle: DialogHandle | None, action: str,
                params: Mapping[str, Any]) -> DialogHandle | None: ...

    async def stop(self, drain: float) -> None: ...


class BackendNotFound(LookupError):
    """No backend is registered under that name."""


def available_backends() -> dict[str, Any]:
    """Registered backend factories by name (entry-point group ``sipflow.backends``)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_backend(name: str) -> Callable[..., DialogBackend]:
    """The factory registered as ``name``; raises ``BackendNotFound`` naming the known ones."""
    found = available_backends()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise BackendNotFound(f"no backend named {name!r} (registered: {known})")
    return found[name].load()
