"""The application API: start sessions, dispatch events, hear what tables publish.

Rules:

* One ``Runtime`` holds the compiled tables (each compiled once), the
  sessions, one timer service on the one ``Clock``, and optionally the
  backend that performs wire actions, and the one ``rng`` (``random.Random``) that
  actions draw from (``GlareBackoff``), so a seeded run is reproducible.
* ``dispatch(session, event)`` runs the event now and returns whether a row
  fired; False means no row matched (recorded in ``unhandled``): the caller
  applies the safe default (405/481/501 …). An event for a session that is in
  the middle of a transition — raised by an action, a timer, a subscriber or a
  backend that answers synchronously — joins the session's queue and runs
  after the current transition, in order; ``dispatch`` then returns True
  (accepted).
* Events from the backend arrive through ``deliver``: the session owning
  ``session_key`` gets them; an event that no session owns opens a session of
  the table whose ``starts_on`` names it, with ``session_key`` as its handle.
* A session ends when it enters a final state: its timers are cancelled, it is
  forgotten, events still queued for it are dropped, and subscribers get
  ``SessionEnded`` (data ``{"state": <final state>}``) after whatever the last
  row published.
* Subscribers are ``callback(session, name, data)``; ``subscribe`` without a
  session hears every session, with one only that session. A subscriber that
  raises is logged and does not disturb the others.
* Nothing that goes wrong inside an action, a guard or a subscriber escapes
  ``dispatch``: it is logged with the row's ``file:line`` and counted in
  ``failures``; the session keeps its state and its queue.

Theory of operation: see ``compiler`` for how a row fires (``CompiledTable.fire``,
or the shared ``transitions`` machine when it has hooks). ``dispatch`` looks
``(state, event)`` up first (one dict lookup, no exception for "no row"), builds
a fresh ``Context``, fires the table's rows for it, then flushes what was
published, ends the session if it reached a final state, and drains the
session's queue.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from random import Random
from types import MappingProxyType
from typing import Any

from sipflow.clock import Clock
from sipflow.tables.model import ParamRef, Table

from .compiler import (
    CompiledAction,
    CompiledGuard,
    CompiledRow,
    CompiledTable,
    CompileError,
    TableRefused,
)
from .compiler import compile_table as _compile
from .context import Context, Event
from .params import ParamError, check_overrides, parse_duration
from .registry import Registry
from .session import Session
from .tasks import ActionChains
from .timers import TimerService

log = logging.getLogger("sipflow.runtime")

SESSION_ENDED = "SessionEnded"
"""What subscribers hear when a session reaches a final state."""

Subscriber = Callable[[Session, str, Mapping[str, Any]], object]
_EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The data of an event that carries none (read-only, shared)."""


class UnknownTable(KeyError):
    """``start_session`` named a table this runtime does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


class Runtime:
    """Sessions of compiled tables, driven by events, on one clock."""

    def __init__(self, tables: Iterable[Table | CompiledTable | str | Path], registry: Registry | None,
                 clock: Clock, backend: Any = None, *, params: Mapping[str, Any] | None = None,
                 lint: bool = True, rng: Random | None = None) -> None:
        if registry is None:
            from .builtins import default_registry

            registry = default_registry()
        self.registry = registry
        self.clock = clock
        self.backend = backend
        self.rng = rng if rng is not None else Random()
        """The randomness of actions (``GlareBackoff``): pass ``Random(seed)`` for a
        reproducible run, as ``sipflow simulate`` does."""
        self.tables: dict[str, CompiledTable] = {}
        for item in tables:
            for compiled in self._compile(item, lint):
                if compiled.name in self.tables:
                    raise CompileError(f"two tables are named {compiled.name!r}")
                self.tables[compiled.name] = compiled
        if lint:
            _refuse_conflicts(self.tables.values())
        self._starts = _starts_on(self.tables.values())
        self._params = _parameters(self.tables.values(), params or {})
        self._by_key: dict[Hashable, Session] = {}
        self._keyless: set[Session] = set()
        self.sessions = LiveSessions(self._by_key, self._keyless)
        """The live sessions (a read-only set view)."""
        self._last_overrides: tuple[CompiledTable, dict[str, Any]] | None = None
        self._queued: dict[Session, deque[tuple[str, Any, Any]]] = {}
        """Events raised for a session while it was busy, to run after its transition."""
        self._subscribers: list[Subscriber] = []
        self.unhandled: Counter[tuple[str | None, str | None, str]] = Counter()
        """(table, state, event) → how often an event found no row (table None: no session)."""
        self.failures: Counter[str] = Counter()
        """``file:line`` of a row → how often one of its actions or guards raised."""
        self.timers = TimerService(clock, self.param, self.post)
        self.chains = ActionChains()
        attach = getattr(backend, "attach", None)
        if attach is not None:
            attach(self)

    # -- sessions ----------------------------------------------------------------------
    def start_session(self, table_name: str, params: Mapping[str, Any] | None = None,
                      handle: Any = None) -> Session:
        """A new session of ``table_name`` in its initial state (its timers started).

        ``params`` overrides table parameters for this session; ``handle`` is the
        backend's dialog handle (the ``session_key`` of its events), if known yet.
        """
        table = self.tables.get(table_name)
        if table is None:
            known = ", ".join(sorted(self.tables)) or "none"
            raise UnknownTable(f"no table named {table_name!r} in this runtime (loaded: {known})")
        overrides = None
        if params:
            # sessions started with equal overrides share one read-only copy (``sipflow
            # call`` passes the same target to every call: 184 B a session saved)
            last = self._last_overrides
            if last is not None and last[0] is table and _same(last[1], params):
                overrides = last[1]
            else:
                overrides = dict(params)
                check_overrides(table_name, table.parameters, overrides)
                _check_durations(table, overrides)
                self._last_overrides = (table, overrides)
        if handle is not None and handle in self._by_key:
            raise ValueError(f"handle {handle!r} already belongs to {self._by_key[handle]!r}")
        session = Session(table, table.initial, handle, overrides)
        if handle is not None:
            self._by_key[handle] = session
        else:
            self._keyless.add(session)
        if table.initial in table.timers:
            self.timers.enter(session)
        return session

    def session_for(self, key: Hashable) -> Session | None:
        """The live session whose handle is ``key``."""
        return self._by_key.get(key)

    def param(self, session: Session, name: str) -> Any:
        """The value of parameter ``name`` for ``session`` (session, runtime, table default)."""
        own = session.params
        if own is not None and name in own:
            return own[name]
        try:
            return self._params[session.table.name][name]
        except KeyError:
            raise ParamError(f"table {session.table.name!r} has no parameter {name!r}") from None

    # -- events ------------------------------------------------------------------------
    def dispatch(self, session: Session, event: str, data: Mapping[str, Any] | None = None,
                 message: Any = None) -> bool:
        """Run ``event`` for ``session``; False when no row matched (queued events: True)."""
        if session.busy and not session.ended:
            queue = self._queued.get(session)
            if queue is None:
                queue = self._queued[session] = deque()
            queue.append((event, data, message))
            return True
        if session.ended:
            self.unhandled[(session.table.name, session.state, event)] += 1
            return False
        session.busy = True
        try:
            matched = self._step(session, event, data, message)
            if self._queued:
                queue = self._queued.get(session)
                while queue and not session.ended:
                    name, qdata, qmessage = queue.popleft()
                    self._step(session, name, qdata, qmessage)
        finally:
            session.busy = False
            if self._queued:
                self._queued.pop(session, None)
        return matched

    def post(self, session: Session, event: str, data: Mapping[str, Any] | None = None) -> None:
        """Queue ``event`` for ``session`` (run now when the session is idle)."""
        if not session.ended:
            self.dispatch(session, event, data)

    def deliver(self, event: Any, name: str | None = None, data: Mapping[str, Any] | None = None,
                message: Any = None) -> bool:
        """Hand the runtime one backend event: ``deliver(BackendEvent(...))`` or
        ``deliver(session_key, name, data, message)``.

        The session owning the key gets it; otherwise a table whose ``starts_on``
        names the event opens a session with the key as its handle. Returns
        False when nothing handled it (the backend then sends the safe default).
        """
        if name is None:
            try:
                key, name, data, message = event.session_key, event.name, event.data, event.message
            except AttributeError:
                raise TypeError(f"deliver() takes a BackendEvent or (session_key, name, data, message), "
                                f"not {event!r}") from None
        else:
            key = event
        session = self._by_key.get(key) if key is not None else None
        if session is None:
            table = self._starts.get(name)
            if table is None:
                self.unhandled[(None, None, name)] += 1
                return False
            session = self.start_session(table.name, handle=key)
            if not self.dispatch(session, name, data, message):
                self._discard(session)
                return False
            return True
        return self.dispatch(session, name, data, message)

    # -- application events ------------------------------------------------------------
    def subscribe(self, callback: Subscriber, session: Session | None = None) -> Callable[[], None]:
        """Call ``callback(session, name, data)`` for published events; returns an unsubscribe."""
        if session is None:
            self._subscribers.append(callback)
            return lambda: _remove(self._subscribers, callback)
        if session.watchers is None:
            session.watchers = []
        watchers = session.watchers
        watchers.append(callback)
        return lambda: _remove(watchers, callback)

    def publish(self, session: Session, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Tell the subscribers of ``session`` (and everyone's) the application event ``name``."""
        if not self._subscribers and not session.watchers:
            return
        payload = data if data is not None else _EMPTY
        for callback in tuple(self._subscribers):
            self._tell(callback, session, name, payload)
        if session.watchers:
            for callback in tuple(session.watchers):
                self._tell(callback, session, name, payload)

    # -- backend -----------------------------------------------------------------------
    def perform(self, session: Session, action: str, params: Mapping[str, Any]) -> Any:
        """``backend.perform(session.handle, action, params)``; a returned handle becomes the session's."""
        if self.backend is None:
            raise RuntimeError(f"no backend to perform {action} (the runtime was built without one)")
        handle = self.backend.perform(session.handle, action, params)
        if handle is not None and handle != session.handle:
            old = session.handle
            if old is not None and self._by_key.get(old) is session:
                del self._by_key[old]
            else:
                self._keyless.discard(session)
            session.handle = handle
            if not session.ended:
                other = self._by_key.get(handle)
                if other is not None and other is not session:
                    log.warning("backend gave handle %r to %r too; events for it now go to %r",
                                handle, other, session)
                    self._keyless.add(other)  # still live, no longer reachable by its handle
                self._by_key[handle] = session
        return handle

    # -- coroutine actions and failures (called from compiled rows) --------------------
    def schedule(self, ctx: Context, action: CompiledAction) -> None:
        """Run the coroutine action after the transition, after the session's earlier ones."""
        args = action.arguments(ctx)
        row = ctx.row

        def make() -> Any:
            return action.func(ctx, **args)

        def failed(exc: BaseException) -> None:
            if row is not None:
                self.action_failed(ctx, row, action, exc)

        self.chains.schedule(ctx.session, make, failed)

    async def settle(self) -> None:
        """Wait until every scheduled coroutine action has finished."""
        await self.chains.wait()

    def action_failed(self, ctx: Context, row: CompiledRow, action: CompiledAction,
                      exc: BaseException) -> None:
        """Log a failed action with its ``file:line`` and count it against its row."""
        where = action.call.source.short
        self.failures[row.source.short] += 1
        log.error("%s: action %s failed in table %s (state %s, event %s): %s: %s", where,
                  action.name, row.table, ctx.session.state, ctx.event.name,
                  type(exc).__name__, exc, exc_info=exc)

    def guard_failed(self, ctx: Context, row: CompiledRow, guard: CompiledGuard,
                     exc: BaseException) -> None:
        """Log a failed guard (the row is skipped) with its ``file:line``; count it."""
        self.failures[row.source.short] += 1
        log.error("%s: guard %s failed in table %s (state %s, event %s): %s: %s; row skipped",
                  guard.call.source.short, guard.name, row.table, ctx.session.state,
                  ctx.event.name, type(exc).__name__, exc, exc_info=exc)

    def close(self) -> None:
        """Cancel every running timer and forget every session (no events are published)."""
        for session in tuple(self.sessions):
            self.timers.exit(session)
            session.ended = True
        self._by_key.clear()
        self._keyless.clear()
        self._queued.clear()

    # -- inside ------------------------------------------------------------------------
    def _step(self, session: Session, name: str, data: Mapping[str, Any] | None,
              message: Any) -> bool:
        table = session.table
        state = session.state
        steps = table.steps.get((state, name))
        if steps is None:
            self.unhandled[(table.name, state, name)] += 1
            return False
        ctx = Context(self, session, Event(name, data if data is not None else _EMPTY, message))
        try:
            fired = table.fire(session, ctx, steps)
        except Exception as exc:  # the machine itself failed: keep the session as it is
            log.error("table %s: event %s in state %s failed: %s: %s", table.name, name, state,
                      type(exc).__name__, exc, exc_info=exc)
            fired = False
        pending = ctx.pending
        ctx.pending = None
        if not fired:
            self.unhandled[(table.name, state, name)] += 1
            return False
        for app_event, payload in pending:
            self.publish(session, app_event, payload)
        row = ctx.row
        if row is not None and row.publish:
            for app_event in row.publish:
                self.publish(session, app_event, ctx.event.data)
        if session.state in table.final:
            self._finish(session)
        return True

    def _finish(self, session: Session) -> None:
        if not session.ended:
            self._discard(session)
            self.publish(session, SESSION_ENDED, {"state": session.state})

    def _discard(self, session: Session) -> None:
        """End ``session`` without telling anyone (a session no row ever accepted)."""
        session.ended = True
        self.timers.exit(session)
        handle = session.handle
        if handle is not None and self._by_key.get(handle) is session:
            del self._by_key[handle]
        else:
            self._keyless.discard(session)

    def _tell(self, callback: Subscriber, session: Session, name: str,
              data: Mapping[str, Any]) -> None:
        try:
            callback(session, name, data)
        except Exception as exc:
            log.error("subscriber %r failed on %s from table %s: %s: %s", callback, name,
                      session.table.name, type(exc).__name__, exc, exc_info=exc)

    def _compile(self, item: Table | CompiledTable | str | Path, lint: bool) -> list[CompiledTable]:
        if isinstance(item, CompiledTable):
            return [item]
        if isinstance(item, str | Path):
            from sipflow.tables.loader import load_tables

            return [_compile(t, self.registry, lint=lint) for t in load_tables([item], self.registry)]
        return [_compile(item, self.registry, lint=lint)]


class LiveSessions(AbstractSet[Session]):
    """The live sessions of a runtime, as a read-only set: ``len``, ``in``, iteration.

    A live session is in exactly one of two places: the runtime's handle map
    (by its handle) or the few without a handle yet. Keeping no third
    collection of every session saves a set entry a session (measured with
    tracemalloc: 105 B a session at 20,000 sessions, 42 B at 50,000; a set
    grows its table fourfold). Copy it (``list(runtime.sessions)``) before
    dispatching events while iterating.
    """

    __slots__ = ("_by_key", "_keyless")

    def __init__(self, by_key: dict[Hashable, Session], keyless: set[Session]) -> None:
        self._by_key = by_key
        self._keyless = keyless

    def __len__(self) -> int:
        return len(self._by_key) + len(self._keyless)

    def __iter__(self) -> Iterator[Session]:
        yield from self._by_key.values()
        yield from self._keyless

    def __contains__(self, item: object) -> bool:
        if item in self._keyless:
            return True
        handle = getattr(item, "handle", None)
        return handle is not None and self._by_key.get(handle) is item

    def __repr__(self) -> str:
        return f"<LiveSessions {len(self)}>"


def _refuse_conflicts(tables: Iterable[CompiledTable]) -> None:
    """Lint's checks between tables (two tables starting on the same event)."""
    try:
        from sipflow.tables.lint import lint_tables
    except ImportError:  # lint not available: ``_starts_on`` still refuses conflicts
        return
    tables = list(tables)
    errors = [d for d in lint_tables([t.table for t in tables]) if d.severity == "error"]
    if errors:
        raise TableRefused(", ".join(t.name for t in tables), [str(d) for d in errors])


def _starts_on(tables: Iterable[CompiledTable]) -> dict[str, CompiledTable]:
    starts: dict[str, CompiledTable] = {}
    for table in tables:
        for event in table.starts_on:
            other = starts.get(event)
            if other is not None:
                raise CompileError(f"tables {other.name!r} and {table.name!r} both start on {event}")
            starts[event] = table
    return starts


def _parameters(tables: Iterable[CompiledTable], overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each table's defaults with the runtime-wide overrides that it declares applied."""
    tables = list(tables)
    declared = {name for table in tables for name in table.parameters}
    unknown = sorted(set(overrides) - declared)
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ParamError(f"no loaded table has a parameter {unknown[0]!r} (declared: {known})")
    merged: dict[str, dict[str, Any]] = {}
    for table in tables:
        values = dict(table.parameters)
        values.update({k: v for k, v in overrides.items() if k in values})
        _check_durations(table, values)
        merged[table.name] = values
    return merged


def _check_durations(table: CompiledTable, values: Mapping[str, Any]) -> None:
    """A parameter used as a timer duration must parse as one."""
    for timers in table.timers.values():
        for timer in timers:
            ref = timer.duration
            if isinstance(ref, ParamRef) and ref.name in values:
                parse_duration(values[ref.name],
                               f"table {table.name!r} parameter {ref.name} (timer {timer.name}, "
                               f"{timer.source.short})")


def _same(mine: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Equal keys and values of the same types (``1`` and ``True`` are equal, not the same)."""
    return mine == other and all(type(value) is type(mine[key]) for key, value in other.items())


def _remove(callbacks: list[Subscriber], callback: Subscriber) -> None:
    if callback in callbacks:
        callbacks.remove(callback)
