"""Lint checks on rows that compete: duplicates, shadowed rows, overlapping guards.

Theory: for one state and one event the candidate rows are ``Table.rows_for`` —
the state's own rows in file order, then ``from: Any`` rows. The first row whose
guards all hold fires. For an earlier row A and a later row B there:

* same guard set → B is a duplicate of A (``E-DUPLICATE-ROW``), unless A is a named-state
  row and B a ``from: Any`` row (then B is hidden there, below);
* A's guards are a subset of B's → whenever B could fire, A fires first: B is
  hidden in that state. A row hidden in *every* state it applies to can never fire
  (``E-SHADOWED-ROW``). A row hidden in only some states is an override (a named
  state's row before an ``Any`` row), which is how tables specialise; no report.
* B's guards are a subset of A's → B is a fallback (``{code: 486}`` then any 4xx); fine;
* the guard sets are provably exclusive → fine; exclusive means some guard of A and
  some guard of B cannot both hold: the same guard once negated, ``code`` with
  disjoint code sets, ``response_to`` with different methods (or a negation covering
  the other's values);
* otherwise both can hold and neither refines the other: file order decides
  silently (``W-OVERLAP``).

Guards are compared by name, negation and parameters (``{code: 486}`` equals
``{code: [486]}``); ``{param: NAME}`` values are never assumed equal to literals.
"""

from __future__ import annotations

from typing import Any

from .lint_context import LintContext
from .model import GuardCall, ParamRef, Row

SET_GUARDS = ("code", "response_to")
"""Guards whose single ``value`` parameter is a set of alternatives (lint reasons about them)."""

GuardKey = tuple[str, bool, tuple[tuple[str, Any], ...]]


def _hashable(value: Any) -> Any:
    if isinstance(value, ParamRef):
        return ("param", value.name)
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((str(k), _hashable(v)) for k, v in value.items()), key=repr))
    return value


def _freeze(name: str, value: Any) -> Any:
    if name in SET_GUARDS and not isinstance(value, ParamRef):
        items = value if isinstance(value, list | tuple) else [value]
        return frozenset(str(v) if name == "response_to" else _hashable(v) for v in items)
    return _hashable(value)


def guard_key(guard: GuardCall) -> GuardKey:
    params = tuple(sorted((k, _freeze(guard.name, v)) for k, v in guard.params.items()))
    return guard.name, guard.negate, params


def _values(key: GuardKey) -> frozenset[Any] | None:
    name, _negate, params = key
    if name in SET_GUARDS and len(params) == 1 and isinstance(params[0][1], frozenset):
        return params[0][1]
    return None


def _exclusive_pair(a: GuardKey, b: GuardKey) -> bool:
    if a[0] != b[0]:
        return False
    if a[2] == b[2] and a[1] != b[1]:
        return True
    va, vb = _values(a), _values(b)
    if va is None or vb is None:
        return False
    if not a[1] and not b[1]:
        return not (va & vb)
    if a[1] != b[1]:
        positive, negative = (va, vb) if not a[1] else (vb, va)
        return positive <= negative
    return False


def exclusive(a: frozenset[GuardKey], b: frozenset[GuardKey]) -> bool:
    """True when the guard sets ``a`` and ``b`` can never both hold."""
    return any(_exclusive_pair(x, y) for x in a for y in b)


def check_rows(ctx: LintContext) -> None:
    """E-DUPLICATE-ROW, E-SHADOWED-ROW and W-OVERLAP."""
    table = ctx.table
    keys = {id(r): frozenset(guard_key(g) for g in r.guards) for r in table.rows}
    # per row: state -> ("dup" | "hidden", earlier row) for states where it can never fire
    blocked: dict[int, dict[str, tuple[str, Row]]] = {id(r): {} for r in table.rows}
    overlaps: dict[tuple[int, int], tuple[Row, Row, str]] = {}
    events = {r.event for r in table.rows}
    for state in table.states:
        for event in events:
            candidates = table.rows_for(state, event)
            for j, later in enumerate(candidates):
                kb = keys[id(later)]
                for earlier in candidates[:j]:
                    ka = keys[id(earlier)]
                    if ka == kb and earlier.is_any == later.is_any:
                        blocked[id(later)].setdefault(state, ("dup", earlier))
                        break
                    if ka <= kb:
                        blocked[id(later)].setdefault(state, ("hidden", earlier))
                        break
                    if kb <= ka or exclusive(ka, kb):
                        continue
                    overlaps.setdefault((id(earlier), id(later)), (earlier, later, state))
    never: set[int] = set()
    for row in table.rows:
        states = ctx.states_of(row)
        reasons = blocked[id(row)]
        if not states or any(s not in reasons for s in states):
            continue
        never.add(id(row))
        dups = [(s, r) for s, (kind, r) in reasons.items() if kind == "dup"]
        if dups:
            state, first = dups[0]
            ctx.report("E-DUPLICATE-ROW", row.source,
                       f"same state ({state}), event ({row.event}) and guards as the row at "
                       f"{first.source.short}", "remove one of the two rows")
        else:
            state, first = next(iter(reasons.items()))[0], next(iter(reasons.values()))[1]
            ctx.report("E-SHADOWED-ROW", row.source,
                       f"this {row.event} row never fires: the row at {first.source.short} fires first "
                       f"(in {state}{' and every other state it applies to' if len(states) > 1 else ''})",
                       "move it before that row, or add a guard to that row")
    for earlier, later, state in overlaps.values():
        if id(later) in never or id(earlier) in never:
            continue
        ctx.report("W-OVERLAP", later.source,
                   f"in {state}, this {later.event} row and the row at {earlier.source.short} can both "
                   f"match; the earlier one wins",
                   "make the guards exclusive (e.g. add {not: ...}), or make one a refinement of the other")
