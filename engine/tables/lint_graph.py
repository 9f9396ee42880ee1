"""Lint checks on the state graph: reachability, ways out, final states, timers.

Theory: the graph has an edge S → T for every row applicable in S (its own rows;
``from: Any`` rows in every non-final state) whose ``to`` is T, whatever its
guards (lint assumes any guard may hold). From it:

* reachable = states reached from ``initial``; a declared state that no row and no
  ``initial`` mention is *unused* (``W-UNUSED-STATE``), one that is mentioned but not
  reached is *unreachable* (``W-UNREACHABLE-STATE``);
* a reachable non-final state with no edge to another state has no way out
  (``E-NO-EXIT``); if no final state is reachable from ``initial`` that is one
  ``E-NO-FINAL-PATH`` at ``initial``, else one per reachable state (with a way out)
  from which no final state can be reached (a trap cycle);
* timers: on final states they never fire (``W-FINAL-TIMER``); a timer whose
  ``Timer<Name>`` has no row in its state does nothing (``W-TIMER-UNHANDLED``);
* ``starts_on`` events need a row in ``initial`` (``E-START-UNHANDLED``).

Requests a state does not handle (``W-UNHANDLED-REQUEST``) are checked in
``lint_requests``, on the same graph (``reachable_states``).
"""

from __future__ import annotations

from collections import deque

from .lint_context import LintContext
from .model import ANY


def successors(ctx: LintContext) -> dict[str, set[str]]:
    table = ctx.table
    edges: dict[str, set[str]] = {name: set() for name in table.states}
    for row in table.rows:
        if row.target not in table.states:
            continue
        for state in ctx.states_of(row):
            edges[state].add(row.target)
    return edges


def _reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reachable_states(ctx: LintContext) -> set[str]:
    """The states a session can reach from ``initial`` (empty when ``initial`` is undeclared)."""
    if ctx.table.initial not in ctx.table.states:
        return set()
    return _reach(successors(ctx), ctx.table.initial)


def mentioned_states(ctx: LintContext) -> set[str]:
    used = {ctx.table.initial}
    for row in ctx.table.rows:
        used.update(s for s in row.sources if s != ANY)
        if row.target is not None:
            used.add(row.target)
    return used


def check_graph(ctx: LintContext) -> None:
    """W-UNUSED-STATE, W-UNREACHABLE-STATE, E-NO-EXIT, E-NO-FINAL-PATH."""
    table = ctx.table
    mentioned = mentioned_states(ctx)
    for name, state in table.states.items():
        if name not in mentioned:
            ctx.report("W-UNUSED-STATE", state.source, f"state {name!r} is declared but no row uses it",
                       "remove it, or add rows to and from it")
    if table.initial not in table.states:
        return  # E-UNKNOWN-STATE already says so; the graph has no start
    edges = successors(ctx)
    reachable = _reach(edges, table.initial)
    for name, state in table.states.items():
        if name in mentioned and name not in reachable:
            ctx.report("W-UNREACHABLE-STATE", state.source,
                       f"state {name!r} cannot be reached from {table.initial!r}",
                       "add a row whose 'to' is this state, or remove it")
    finals = {n for n, s in table.states.items() if s.final}
    stuck = set()
    for name in sorted(reachable, key=list(table.states).index):
        state = table.states[name]
        if not state.final and not (edges[name] - {name}):
            stuck.add(name)
            ctx.report("E-NO-EXIT", state.source, f"state {name!r} is not final and no row leads out of it",
                       "add a row with 'to:' another state, or mark it final: true")
    if not (reachable & finals):
        what = "no final state is declared" if not finals else "none of the final states is reachable"
        ctx.report("E-NO-FINAL-PATH", ctx.table_at("initial"),
                   f"no path from {table.initial!r} to a final state ({what})",
                   "add a state with final: true and rows leading to it")
        return
    for name in sorted(reachable - stuck - finals, key=list(table.states).index):
        if not (_reach(edges, name) & finals):
            ctx.report("E-NO-FINAL-PATH", table.states[name].source,
                       f"no path from state {name!r} to a final state: sessions here never end",
                       "add a row from this loop to a state that leads to a final state")


def check_timers(ctx: LintContext) -> None:
    """W-FINAL-TIMER and W-TIMER-UNHANDLED."""
    for name, state in ctx.table.states.items():
        for timer in state.timers:
            if state.final:
                ctx.report("W-FINAL-TIMER", timer.source,
                           f"timer {timer.name} on the final state {name!r} never fires",
                           "remove it: a session ends when it enters a final state")
            elif not ctx.rows_for(name, timer.event):
                ctx.report("W-TIMER-UNHANDLED", timer.source,
                           f"no row handles {timer.event} in state {name!r}: when it fires nothing happens",
                           f"add a row {{from: {name}, on: {timer.event}, ...}}")


def check_starts_on(ctx: LintContext) -> None:
    """E-START-UNHANDLED."""
    table = ctx.table
    if table.initial not in table.states:
        return
    for n, event in enumerate(table.starts_on):
        if not ctx.rows_for(table.initial, event):
            ctx.report("E-START-UNHANDLED", ctx.table_at(f"starts_on.{n}"),
                       f"the table starts on {event} but its initial state {table.initial!r} has no row for it",
                       f"add a row {{from: {table.initial}, on: {event}, ...}}")
