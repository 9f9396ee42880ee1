"""Compile a checked ``Table`` once into one shared ``transitions.Machine``.

Rules:

* One table, one ``Machine``, built once and shared by every session of the
  table. The machine has no model of its own (``model=None``), no
  ``to_<state>`` helpers (``auto_transitions=False``) and passes an
  ``EventData`` to callbacks (``send_event=True``). A session is handed to
  ``machine.events[name].trigger(session, ctx)``; transitions reads and writes
  ``session.state``. Never a machine per session, never ``add_model``.
* Callbacks are callables, never strings (a string would be looked up on the
  model at every call).
* Precedence (CONTRACTS §3): transitions tries a state's rows in the order they
  were added, so the compiler adds every row naming its states in file order,
  then the ``from: Any`` rows in file order, expanded to every non-final
  state.
* A row's guards become one condition: all must hold, in order, ``{not: g}``
  negates; a guard that raises counts as "does not hold" (and is logged).
  Guards are side-effect free (``context``) and nothing runs between the rows
  tried for one event, so each distinct guard (same name, same parameters) is
  called at most once an event: its result is kept in ``ctx.guards`` for the
  rows after it (a guard that raised is not kept: the next row tries it again).
* A row's actions run in one ``before`` callback, in order, before the state
  changes. An action that raises is logged with the row's ``file:line``; the
  rest of that row's actions are skipped, the transition still completes.
  Coroutine actions are handed to the runtime, which runs them after the
  transition, in order, per session (so a plain action written after a
  coroutine action in the same row runs before it).
* State timers: a state with ``timers`` gets ``on_enter`` / ``on_exit``
  callbacks that start and cancel them through the runtime's timer service.
  A row without ``to`` is an internal transition (``dest=None``): no exit, no
  entry, timers go on.
* Every compiled row keeps its ``Source`` and the table's ``version``, and
  counts how often it fired (for coverage).
* The compiler refuses a table that lint reports errors for
  (``TableRefused``, whose message is lint's own lines) and checks itself the
  names it binds, so it never runs a table with a dangling name.

* The shared machine is a ``TableMachine``: a plain ``transitions.Machine``
  whose ``event_cls`` and ``transition_cls`` (transitions' documented
  extension points) are ``FastEvent`` and ``FastTransition``. They run the
  same machine data with the same semantics — rows tried in order, conditions
  compared with their target, ``prepare``/``before``/``after``, exit, state
  change, entry, ``on_final``, the machine-wide callback lists — minus what a
  compiled table never uses: no ``functools.partial`` and ``Machine._process``
  round trip, no per-callback ``logging`` calls (transitions makes about 20 of
  them an event). Anything outside that (a queued machine, ``send_event``
  off, ``prepare_event``/``finalize_event``/``on_exception``, a source state
  without rows) goes through transitions' own code unchanged. The machine-wide
  lists are read from the attributes behind transitions' properties
  (``_queued``, ``_before_state_change`` …: a property read is a Python call,
  and there are six an event); ``tests/runtime/test_fast_machine.py`` compares
  the classes with plain transitions, so a transitions release that stores
  them elsewhere fails there.

* ``CompiledTable.fire`` is what the runtime calls: the machine's trigger
  without the machine. ``steps`` holds, per ``(state, event)``, each row tried
  in precedence order as its guards (one call), its actions (one call), its
  target and whether the timers of the source and target states are cancelled
  and started, all bound at compile time; ``fire`` runs the first row whose
  guards hold, exactly as the machine would (``test_fast_machine`` compares
  them). Hooks belong on the machine-wide lists (``after_state_change`` …): a
  machine that has any (``sipflow simulate``'s observer adds one) is triggered
  through ``FastEvent`` instead, so hooks always run. Callbacks added to a
  single state or transition of the machine are seen only on that path.

Theory of operation: ``CompiledTable.triggers`` maps ``(state, event)`` to the
transitions ``Event`` that holds at least one row for that pair, and
``CompiledTable.steps`` the same pairs to their rows, so the runtime answers
"no row" with one dict lookup and never lets transitions raise
``MachineError``.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transitions import Machine, State
from transitions.core import Event as MachineEvent
from transitions.core import EventData, Transition

from sipflow.tables.model import ANY, ActionCall, GuardCall, Row, StateTimer, Table

from .params import coerce, needs_resolving, resolve
from .registry import Registry

if TYPE_CHECKING:
    from .context import Context
    from .session import Session

Step = tuple[Any, Any, "str | None", bool, bool]
"""One row as ``CompiledTable.fire`` runs it: the row's ``check`` (None: no guards) and
``run``, its target state (None: stays), whether the source state's timers are cancelled
and whether the target's are started."""

log = logging.getLogger("sipflow.runtime")


class CompileError(ValueError):
    """The table names something the registry or the table itself does not define."""


class TableRefused(CompileError):
    """Lint found errors in the table; the message is lint's lines, one per problem."""

    def __init__(self, table: str, lines: list[str]) -> None:
        self.table = table
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass(slots=True)
class CompiledAction:
    """One ``do`` entry bound to its registered callable."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Any]
    call: ActionCall
    is_coroutine: bool
    dynamic: bool
    """True when a parameter holds ``{param: NAME}`` (resolved per session)."""
    types: dict[str, str]

    def arguments(self, ctx: Context) -> dict[str, Any]:
        """The keyword arguments for this call, with parameters resolved for ``ctx.session``."""
        if not self.dynamic:
            return self.params
        return _resolved(self.params, self.types, ctx, f"{self.call.source.short}: {self.name}")


@dataclass(slots=True)
class CompiledGuard:
    """One ``if`` entry bound to its registered callable."""

    name: str
    func: Callable[..., bool]
    params: dict[str, Any]
    negate: bool
    call: GuardCall
    dynamic: bool
    types: dict[str, str]
    key: Any = None
    """Shared by the table's guards that name the same guard with the same parameters
    (negated or not): the key of the guard's result in ``Context.guards``."""

    def holds(self, ctx: Context) -> bool:
        """Whether the guard (negated for ``{not: ...}``) holds for the event in ``ctx``."""
        return self.value(ctx) is not self.negate

    def value(self, ctx: Context) -> bool:
        """The guard's own result for the event in ``ctx`` (``{not: ...}`` not applied)."""
        params = self.params
        if self.dynamic:
            params = _resolved(params, self.types, ctx, f"{self.call.source.short}: {self.name}")
        return bool(self.func(ctx, **params))


@dataclass(slots=True)
class CompiledRow:
    """A table row as the runtime runs it."""

    index: int
    row: Row
    table: str
    version: str
    guards: tuple[CompiledGuard, ...]
    actions: tuple[CompiledAction, ...]
    publish: tuple[str, ...]
    """Application events published when the row fires (``publish:``)."""
    fired: int = 0
    check: Callable[[Context], bool] | None = None
    """The row's guards as one call (None: no guards); see ``_guards``."""
    run: Callable[[Context], None] | None = None
    """Marks the row fired in ``ctx`` and runs its actions; see ``_actions``."""

    @property
    def source(self) -> Any:
        """Where the row was written (``Source``: file, line, column)."""
        return self.row.source

    @property
    def event(self) -> str:
        """The event the row reacts to."""
        return self.row.event

    @property
    def target(self) -> str | None:
        """The state the row goes to, or None for a row that stays."""
        return self.row.target

    def __repr__(self) -> str:
        return f"<CompiledRow {self.table} {self.row.source.short} {self.row.label()}>"


@dataclass(slots=True)
class CompiledTable:
    """A table ready to run: its shared machine, its rows and a fast (state, event) lookup."""

    name: str
    version: str
    table: Table
    machine: Machine
    initial: str
    final: frozenset[str]
    rows: list[CompiledRow]
    triggers: dict[tuple[str, str], MachineEvent]
    """(state, event) → the machine's event, only for pairs that have at least one row."""
    timers: dict[str, tuple[StateTimer, ...]]
    parameters: dict[str, Any]
    starts_on: tuple[str, ...]
    precedence: dict[tuple[str, str], tuple[CompiledRow, ...]] = field(default_factory=dict)
    steps: dict[tuple[str, str], tuple[Step, ...]] = field(default_factory=dict)
    """(state, event) → what ``fire`` does for each row tried, in precedence order."""

    def handles(self, state: str, event: str) -> bool:
        """True when some row may fire for ``event`` in ``state`` (guards not evaluated)."""
        return (state, event) in self.triggers

    def lookup(self, state: str, event: str) -> tuple[CompiledRow, ...]:
        """The rows tried for ``event`` in ``state``, in the order they are tried (one dict lookup)."""
        return self.precedence.get((state, event), ())

    rows_for = lookup
    """The same as ``lookup``, named like ``Table.rows_for``."""

    def fire(self, session: Session, ctx: Context, steps: tuple[Step, ...] | None = None) -> bool:
        """Fire the first row for ``ctx.event`` in ``session.state`` whose guards hold.

        Returns False when none did (or when no row names the pair). This is the
        machine's event ``trigger`` without the machine: the same rows in the same
        order, the same actions, exit timers, state change, entry timers. While the
        machine has machine-wide callbacks (``before_state_change``,
        ``after_state_change``, ``on_final``: the scenario observer adds one) or
        anything else ``FastEvent`` defers to transitions, the machine runs instead.
        ``steps``: ``self.steps[(session.state, ctx.event.name)]``, when the caller has it.
        """
        name = ctx.event.name
        if steps is None:
            steps = self.steps.get((session.state, name))
            if steps is None:
                return False
        machine = self.machine
        if (machine._before_state_change or machine._after_state_change or machine._on_final
                or machine._queued or machine._prepare_event or machine._finalize_event
                or machine._on_exception):
            return bool(self.triggers[(session.state, name)].trigger(session, ctx))
        for check, run, target, leave, enter in steps:
            if check is None or check(ctx):
                run(ctx)
                if target is not None:
                    if leave:
                        _exit_timers(ctx)
                    session.state = target
                    if enter:
                        _enter_timers(ctx)
                return True
        return False

    def coverage(self) -> list[tuple[CompiledRow, int]]:
        """Every row with the number of times it fired since the table was compiled."""
        return [(row, row.fired) for row in self.rows]

    def reset_coverage(self) -> None:
        """Set every row's firing count back to zero."""
        for row in self.rows:
            row.fired = 0


class FastTransition(Transition):
    """A ``transitions.Transition`` that calls its callbacks directly (no logging calls).

    Same order and meaning as ``Transition.execute``: ``prepare``; each
    condition in order, compared with its target (``{unless: ...}``), the
    first that fails ends the attempt; the machine's ``before_state_change``
    then ``before``; for a row with a ``dest``: the source state's ``on_exit``,
    the model's state set, ``event_data.state`` updated, the destination's
    ``on_enter``, the machine's ``on_final`` for a final state; then ``after``
    and the machine's ``after_state_change``. Callbacks given as strings are
    resolved by the machine as usual. A machine with ``send_event`` off uses
    transitions' own ``execute``; a source or destination that is a subclass
    of ``State`` (which may do more in ``enter``/``exit``) uses transitions'
    own state change.
    """

    guard: Callable[[EventData], bool] | None = None
    """Set by ``compile_table`` on a compiled row with guards: its one condition, the
    row's guards (``FastEvent.trigger`` calls it directly, see ``compiled``)."""
    compiled = False
    """True for a row ``compile_table`` added: no ``prepare``, no condition but ``guard``."""

    def execute(self, event_data: EventData) -> bool:
        """Try this transition for ``event_data``; True when it fired."""
        machine = event_data.machine
        if not machine.send_event:
            return super().execute(event_data)
        if self.prepare:
            _run(machine, self.prepare, event_data)
        for cond in self.conditions:
            func = cond.func
            if not callable(func):
                func = machine.resolve_callable(func, event_data)
            if func(event_data) != cond.target:
                return False
        self.fire(event_data)
        return True

    def fire(self, event_data: EventData) -> None:
        """What ``execute`` does once the conditions held: ``before`` callbacks, the state
        change, ``after`` callbacks (the machine's lists around them)."""
        machine = event_data.machine
        if machine._before_state_change:
            _run(machine, machine._before_state_change, event_data)
        for func in self.before:  # ``_run`` inlined: nearly every row has one ``before``
            if callable(func):
                func(event_data)
            else:
                machine.callback(func, event_data)
        if self.dest:  # None: an internal transition, no exit, no entry
            self._change_state(event_data)
        if self.after:
            _run(machine, self.after, event_data)
        if machine._after_state_change:
            _run(machine, machine._after_state_change, event_data)

    def _change_state(self, event_data: EventData) -> None:
        machine = event_data.machine
        states = machine.states  # by name: what ``get_state`` reads for a state given by name
        source = states[self.source]
        dest = states[self.dest]
        if type(source) is not State or type(dest) is not State:  # a subclass may do more in exit/enter
            super()._change_state(event_data)
            return
        if source.on_exit:
            _run(machine, source.on_exit, event_data)
        setattr(event_data.model, machine.model_attribute, dest.value)  # ``set_state`` for one model
        event_data.state = dest  # ``EventData.update`` with the value just set
        if dest.on_enter:
            _run(machine, dest.on_enter, event_data)
        if dest.final and machine._on_final:
            _run(machine, machine._on_final, event_data)


class FastEvent(MachineEvent):
    """A ``transitions.Event`` whose ``trigger`` tries the source state's transitions itself.

    ``Event.trigger`` wraps the attempt in a ``partial``, hands it to
    ``Machine._process`` (for queued machines) and runs machine-wide
    ``prepare_event``/``finalize_event``/``on_exception`` callbacks, logging
    as it goes. A compiled table uses none of that, so this ``trigger`` reads
    the model's state, builds the one ``EventData`` and tries the state's
    transitions in order until one fires, returning whether one did (a row
    ``compile_table`` added, marked ``compiled``, has no ``prepare`` and its
    guards as its one condition: its ``guard`` is called here and ``fire`` runs
    when it holds, without the generic ``execute``). An
    exception from a callback propagates, as it does in transitions without
    ``on_exception``. When the machine is queued, does not send
    ``EventData``, has any of those three callback lists, or the state has no
    transition for this event (transitions then raises ``MachineError`` or
    returns False), transitions' own ``trigger`` runs instead.
    """

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        """Fire the first transition of the model's state whose conditions hold."""
        machine = self.machine
        if (machine._queued or not machine.send_event or machine._prepare_event
                or machine._finalize_event or machine._on_exception):
            return super().trigger(model, *args, **kwargs)
        name = getattr(model, machine.model_attribute)
        state = machine.states.get(name)  # found: ``name`` is the state's name (``states`` is by name)
        candidates = self.transitions.get(name) if state is not None else None
        if not candidates:  # no row here, or a state ``get_model_state`` must look up itself
            return super().trigger(model, *args, **kwargs)
        event_data = EventData(state, self, machine, model, args=args, kwargs=kwargs)
        for transition in candidates:
            event_data.transition = transition
            if transition.compiled:  # a table row: its guards are its only condition
                guard = transition.guard
                if guard is None or guard(event_data):
                    transition.fire(event_data)
                    event_data.result = True
                    break
            elif transition.execute(event_data):
                event_data.result = True
                break
        return event_data.result


class TableMachine(Machine):
    """The shared machine of a compiled table: a ``Machine`` with ``FastEvent`` and ``FastTransition``."""

    event_cls = FastEvent
    transition_cls = FastTransition


def _run(machine: Machine, funcs: Iterable[Any], event_data: EventData) -> None:
    """Call each callback with ``event_data`` (a string is resolved by the machine)."""
    for func in funcs:
        if callable(func):
            func(event_data)
        else:
            machine.callback(func, event_data)


def compile_table(table: Table, registry: Registry, *, lint: bool = True) -> CompiledTable:
    """Compile ``table`` once, binding its guards and actions to ``registry``.

    With ``lint`` (the default), a table for which ``sipflow.tables.lint``
    reports errors is refused with ``TableRefused``. ``CompileError`` names the
    ``file:line`` of anything that cannot be bound.
    """
    if lint:
        _refuse_if_lint_fails(table, registry)
    _check_states(table)
    version = table.version or _fallback_version(table)
    final = frozenset(table.final_states)
    timers = {name: st.timers for name, st in table.states.items() if st.timers and not st.final}

    machine = TableMachine(model=None, states=[_state(name, name in timers) for name in table.states],
                           initial=table.initial, auto_transitions=False, send_event=True,
                           ignore_invalid_triggers=False, name=table.name)

    rows = [_compile_row(i, row, table, version, registry) for i, row in enumerate(table.rows)]
    _share_guard_keys(rows)
    non_final = [name for name in table.states if name not in final]
    precedence: dict[tuple[str, str], list[CompiledRow]] = {}
    # Named-state rows first (file order), then Any rows (file order): transitions
    # tries a state's transitions in the order they were added.
    ordered = [r for r in rows if not r.row.is_any] + [r for r in rows if r.row.is_any]
    for crow in ordered:
        sources = non_final if crow.row.is_any else list(crow.row.sources)
        crow.check = _guards(crow) if crow.guards else None
        crow.run = _actions(crow)
        guard = _condition(crow.check) if crow.check is not None else None
        machine.add_transition(crow.row.event, sources, crow.row.target,
                               conditions=[guard] if guard is not None else None,
                               before=[_before(crow.run)])
        for state in sources:
            precedence.setdefault((state, crow.row.event), []).append(crow)
            transition = machine.events[crow.row.event].transitions[state][-1]  # just added
            transition.compiled = True
            transition.guard = guard

    triggers = {key: machine.events[key[1]] for key in precedence}
    steps = {(state, event): tuple(_step(crow, state, timers) for crow in crows)
             for (state, event), crows in precedence.items()}
    return CompiledTable(
        name=table.name, version=version, table=table, machine=machine, initial=table.initial,
        final=final, rows=rows, triggers=triggers, timers=timers, parameters=dict(table.parameters),
        starts_on=tuple(table.starts_on),
        precedence={key: tuple(value) for key, value in precedence.items()}, steps=steps)


# -- building blocks ------------------------------------------------------------------
def _state(name: str, has_timers: bool) -> State:
    if not has_timers:
        return State(name)
    return State(name, on_enter=[_on_enter], on_exit=[_on_exit])


def _step(crow: CompiledRow, state: str, timers: Mapping[str, Any]) -> Step:
    target = crow.row.target
    moves = target is not None  # a row with ``to`` (even its own state) exits and enters
    return (crow.check, crow.run, target, moves and state in timers, moves and target in timers)


def _on_enter(event_data: EventData) -> None:
    _enter_timers(event_data.args[0])


def _on_exit(event_data: EventData) -> None:
    _exit_timers(event_data.args[0])


def _enter_timers(ctx: Context) -> None:
    try:
        ctx.runtime.timers.enter(ctx.session)
    except Exception as exc:  # a failing clock must not leave the transition half done
        log.error("table %s: starting the timers of state %s failed: %s: %s", ctx.session.table.name,
                  ctx.session.state, type(exc).__name__, exc, exc_info=exc)


def _exit_timers(ctx: Context) -> None:
    try:
        ctx.runtime.timers.exit(ctx.session)
    except Exception as exc:
        log.error("table %s: cancelling the timers of state %s failed: %s: %s", ctx.session.table.name,
                  ctx.session.state, type(exc).__name__, exc, exc_info=exc)


def _share_guard_keys(rows: Iterable[CompiledRow]) -> None:
    """Give guards that name the same guard with equal parameters one shared ``key``.

    Guards are side-effect free and see only the event, the session and its
    parameters, none of which changes while one event's rows are tried (no
    action runs before a row is chosen): so a guard's result is computed once
    a trigger and kept in ``Context.guards`` under this key (uas_call's
    ``DialogINVITE`` decision table names 6 distinct guards 25 times)."""
    keys: dict[tuple[str, str], tuple[str, str]] = {}
    for crow in rows:
        for guard in crow.guards:
            key = (guard.name, repr(sorted(guard.params.items())))
            guard.key = keys.setdefault(key, key)


def _guards(crow: CompiledRow) -> Callable[[Context], bool]:
    """The row's guards as one closure: each guard's callable, parameters, negation and
    shared key are unpacked once here. A guard's result is looked up in the trigger's
    ``ctx.guards`` first and computed (one call; ``guard.value`` only for guards whose
    parameters are resolved per session) when another row has not already done so."""
    checks = tuple((guard, guard.key, guard.func, guard.params, guard.negate, guard.dynamic)
                   for guard in crow.guards)

    def check(ctx: Context) -> bool:
        seen = ctx.guards
        if seen is None:
            seen = ctx.guards = {}
        for guard, key, func, params, negate, dynamic in checks:
            value = seen.get(key)
            if value is None:
                try:
                    value = guard.value(ctx) if dynamic else bool(func(ctx, **params))
                except Exception as exc:  # a broken guard must not break the session
                    ctx.runtime.guard_failed(ctx, crow, guard, exc)
                    return False  # not kept: the next row naming it tries (and logs) it again
                seen[key] = value
            if value is negate:
                return False
        return True

    return check


def _actions(crow: CompiledRow) -> Callable[[Context], None]:
    """Mark ``crow`` as the row fired in ``ctx``, count it, run its actions in order."""
    actions = crow.actions
    if not actions:
        def mark(ctx: Context) -> None:
            ctx.row = crow
            crow.fired += 1

        return mark

    def run(ctx: Context) -> None:
        ctx.row = crow
        crow.fired += 1
        for action in actions:
            try:
                if action.is_coroutine:
                    ctx.runtime.schedule(ctx, action)
                elif action.dynamic:
                    action.func(ctx, **action.arguments(ctx))
                else:
                    action.func(ctx, **action.params)
            except Exception as exc:  # logged with file:line; the transition goes on
                ctx.runtime.action_failed(ctx, crow, action, exc)
                return

    return run


def _condition(check: Callable[[Context], bool]) -> Callable[[EventData], bool]:
    """The row's guards as the machine's condition (``ctx`` is the trigger's first argument)."""
    def condition(event_data: EventData) -> bool:
        return check(event_data.args[0])

    return condition


def _before(run: Callable[[Context], None]) -> Callable[[EventData], None]:
    """The row's actions as the machine's ``before`` callback."""
    def before(event_data: EventData) -> None:
        run(event_data.args[0])

    return before


def _compile_row(index: int, row: Row, table: Table, version: str, registry: Registry) -> CompiledRow:
    guards = tuple(_compile_guard(g, registry) for g in row.guards)
    actions = tuple(_compile_action(a, registry) for a in row.actions)
    return CompiledRow(index, row, table.name, version, guards, actions, tuple(row.publish))


def _compile_guard(call: GuardCall, registry: Registry) -> CompiledGuard:
    spec = registry.guards.get(call.name)
    if spec is None:
        raise CompileError(f"{call.source}: unknown guard {call.name!r}")
    types = {p.name: p.type for p in spec.params}
    params = _with_defaults(dict(call.params), spec.params)
    return CompiledGuard(call.name, spec.func, params, call.negate, call,
                         needs_resolving(params), types)


def _compile_action(call: ActionCall, registry: Registry) -> CompiledAction:
    spec = registry.actions.get(call.name)
    if spec is None:
        raise CompileError(f"{call.source}: unknown action {call.name!r}")
    types = {p.name: p.type for p in spec.params}
    params = dict(call.params)
    return CompiledAction(call.name, spec.func, params, call,
                          inspect.iscoroutinefunction(spec.func), needs_resolving(params), types)


def _with_defaults(params: dict[str, Any], specs: Iterable[Any]) -> dict[str, Any]:
    for spec in specs:
        if spec.name not in params and spec.default is not None:
            params[spec.name] = spec.default
    return params


def _resolved(params: Mapping[str, Any], types: Mapping[str, str], ctx: Context,
              where: str) -> dict[str, Any]:
    lookup = ctx.param
    return {name: coerce(resolve(value, lookup), types.get(name), f"{where} parameter {name}")
            for name, value in params.items()}


def _check_states(table: Table) -> None:
    if table.initial not in table.states:
        raise CompileError(f"{table.source}: initial state {table.initial!r} is not declared")
    for row in table.rows:
        for name in row.sources:
            if name != ANY and name not in table.states:
                raise CompileError(f"{row.source}: unknown state {name!r} in from")
        if row.target is not None and row.target not in table.states:
            raise CompileError(f"{row.source}: unknown state {row.target!r} in to")


def _refuse_if_lint_fails(table: Table, registry: Registry) -> None:
    try:
        from sipflow.tables.lint import lint_table
    except ImportError:  # lint not available in this installation: compile-time checks only
        return
    errors = [d for d in lint_table(table, registry) if d.severity == "error"]
    if errors:
        raise TableRefused(table.name, [str(d) for d in errors])


def _fallback_version(table: Table) -> str:
    """A hash of the table's content, for tables built in code (the loader hashes files)."""
    text = repr((table.name, table.initial, sorted(table.states), table.parameters,
                 [(r.sources, r.event, r.target, r.label(), r.publish) for r in table.rows]))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
