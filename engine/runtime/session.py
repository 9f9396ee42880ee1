"""A session: one call, registration or subscription in progress — a small record.

Rules:

* A session is data, never a state machine of its own. Its table's rows read
  and write ``session.state`` when the runtime hands the session to
  ``CompiledTable.fire(session, ctx)`` (or, while the table's one shared
  ``transitions.Machine`` has hooks, to ``machine.events[name].trigger(session,
  ctx)``, where ``state`` is the ``model_attribute``).
* It is a ``__slots__`` record of nine fields, so a hundred thousand of them
  fit in about 11 MiB: optional parts (``data``, ``timers``, ``params``,
  ``watchers``) stay ``None`` until something needs them, and what lives only
  while a transition or a coroutine action runs is kept outside the record:
  the queue of events raised while the session is busy in the ``Runtime``,
  the chain of coroutine actions in ``ActionChains`` (measured with
  tracemalloc: 104 B a session, a 112 B block, instead of 120 B in a 128 B
  block with those two as fields).
* Only the runtime changes a session's fields; actions read them through
  ``ctx.session`` and may keep their own values in ``session.data``.

Fields: ``state`` (the state's name), ``table`` (the ``CompiledTable``),
``handle`` (the backend's dialog handle, opaque; also the key the backend
uses in ``BackendEvent.session_key``), ``data`` (a dict for actions, created
on first use), ``timers`` (running state timers), ``params`` (this session's
parameter overrides: read-only, shared by sessions started with equal ones), ``busy`` (a transition is running), ``ended``
(reached a final state) and ``watchers`` (per-session subscribers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compiler import CompiledTable


class Session:
    """The run-time record of one session of a table."""

    __slots__ = ("state", "table", "handle", "_data", "timers", "params", "busy", "ended",
                 "watchers")

    def __init__(self, table: CompiledTable, state: str, handle: Any = None,
                 params: dict[str, Any] | None = None) -> None:
        self.state = state
        self.table = table
        self.handle = handle
        self._data: dict[str, Any] | None = None
        self.timers: list[Any] | None = None
        self.params = params
        self.busy = False
        self.ended = False
        self.watchers: list[Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """Free-form values kept by actions for this session (created on first use)."""
        if self._data is None:
            self._data = {}
        return self._data

    @property
    def table_name(self) -> str:
        """The name of the session's table."""
        return self.table.name

    def __repr__(self) -> str:
        flag = " ended" if self.ended else ""
        return f"<Session {self.table.name} state={self.state} handle={self.handle!r}{flag}>"
