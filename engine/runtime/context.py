"""What an action or a guard sees: the event, the session, and a few verbs.

Rules:

* Every action and guard is called as ``func(ctx, **params)``. ``ctx`` is a
  fresh ``Context`` per event, so a coroutine action that runs later still
  sees the event that scheduled it.
* ``ctx.event`` has ``name``, ``data`` (a mapping, never None) and
  ``message`` (a read-only view of the SIP message, or None).
* ``ctx.param(name)`` reads a table parameter: the session's override, then
  the runtime's (``--set``), then the table's default.
* ``ctx.perform(action, params)`` forwards to the backend
  (``backend.perform(handle, action, params)``); a handle it returns becomes
  the session's handle.
* ``ctx.raise_event(name, data)`` queues an event for this session: it runs
  after the current transition, after the events queued before it.
* ``ctx.publish(name, data)`` tells subscribers an application event. During
  a transition it is held until the transition is over, so subscribers always
  see the state the session ended up in; later (in a coroutine action) it is
  delivered at once.

Guards must not call ``perform``, ``raise_event`` or ``publish``, nor change
anything: a guard's result for an event is computed once and reused by every
row that names the same guard with the same parameters (``ctx.guards``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compiler import CompiledRow
    from .runtime import Runtime
    from .session import Session


class Event:
    """One event as a table sees it."""

    __slots__ = ("name", "data", "message")

    def __init__(self, name: str, data: Mapping[str, Any], message: Any = None) -> None:
        self.name = name
        self.data = data
        self.message = message

    def __repr__(self) -> str:
        return f"<Event {self.name} {dict(self.data)!r}>"


class Context:
    """The ``ctx`` argument of actions and guards."""

    __slots__ = ("runtime", "session", "event", "row", "pending", "guards")

    def __init__(self, runtime: Runtime, session: Session, event: Event) -> None:
        self.runtime = runtime
        self.session = session
        self.event = event
        self.row: CompiledRow | None = None
        """The row being fired (set once its guards held)."""
        self.pending: list[tuple[str, Mapping[str, Any]]] | tuple[()] | None = ()
        """Application events published during the transition (a list once there is one);
        None once the transition is over."""
        self.guards: dict[Any, bool] | None = None
        """The results of the guards tried for this event, by ``CompiledGuard.key`` (a guard
        named by several rows is called once)."""

    def param(self, name: str) -> Any:
        """The value of the table parameter ``name`` for this session."""
        return self.runtime.param(self.session, name)

    def perform(self, action: str, params: Mapping[str, Any] | None = None) -> Any:
        """Ask the backend to do ``action`` for this session; returns the backend's answer."""
        return self.runtime.perform(self.session, action, params or {})

    def raise_event(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Queue ``name`` for this session, after the current transition."""
        self.runtime.post(self.session, name, data)

    def publish(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Tell subscribers the application event ``name``."""
        payload = data if data is not None else {}
        pending = self.pending
        if pending is None:
            self.runtime.publish(self.session, name, payload)
        elif isinstance(pending, list):
            pending.append((name, payload))
        else:
            self.pending = [(name, payload)]

    def __repr__(self) -> str:
        return f"<Context {self.session!r} {self.event!r}>"
