"""Lint check on requests the backend delivers and a state does not handle (``W-UNHANDLED-REQUEST``).

Rules:

* ``deliverable`` is the set of request events the backends deliver (``lint.py`` takes it from
  the registered backends' ``capabilities``). A request with no row in the session's state
  gets the backend's safe default answer (405/488/500, or 487 to the INVITE behind a CANCEL):
  lint says in which states that can happen, one warning per state listing the requests.
* Requests a peer may send at any moment of a dialog (BYE, re-INVITE, UPDATE, INFO,
  OPTIONS, MESSAGE, ACK …) are expected in every state a session can be in once it has a
  dialog: reachable, not ``initial``, not final. ``DialogINVITE``, ``DialogREGISTER`` and
  ``DialogPUBLISH`` never arrive inside a dialog, and the table's own ``starts_on`` events
  open sessions instead.
* Two requests are bound to something the table itself did, and the SIP core answers them
  when that is not the case, without delivering them (CONTRACTS §2):
  - ``DialogCANCEL`` reaches a table only while an INVITE it received still waits for its
    final answer (a late CANCEL gets 200 or 481 from the core, and no event);
  - ``DialogPRACK`` only for a reliable provisional the table sent and is not yet PRACKed
    (a stray PRACK gets 481 from the core).
  So they are expected only in the states where that can hold (below), never everywhere.

Theory of operation (the bound requests): lint follows the rows from where the INVITE or the
reliable provisional is sent. A state *awaits a final answer* when a row on ``DialogINVITE``
or ``DialogReINVITE`` leads to it without answering the INVITE finally, or a row from such a
state leads to it without doing so. A row answers the INVITE finally when one of its
``SendSIPResponse`` has a final ``code`` (200-699, or ``{param: …}``) and answers the INVITE:
``request: invite``, or the row's event is the INVITE itself, or an event with no request
behind it (a timer, an application command), for which the backend answers the pending
INVITE. A state *awaits a PRACK* when a row that sends a ``reliable`` provisional leads to it
(or stays in it), or a row from such a state leads to it that neither is a ``DialogPRACK``
row nor answers the INVITE finally. Guards are ignored, as everywhere in the graph checks;
final states end the session and are never marked.
"""

from __future__ import annotations

from collections.abc import Callable

from .lint_context import LintContext
from .lint_graph import reachable_states
from .model import ActionCall, ParamRef, Row

NOT_IN_DIALOG = frozenset({"DialogINVITE", "DialogREGISTER", "DialogPUBLISH"})
"""Request events that never arrive inside a dialog (a new INVITE, REGISTER, PUBLISH)."""
INVITES = frozenset({"DialogINVITE", "DialogReINVITE"})
BOUND = ("DialogCANCEL", "DialogPRACK")
"""Requests delivered only after something the table did (see the module rules)."""


def _final_code(action: ActionCall) -> bool:
    code = action.params.get("code")
    if isinstance(code, ParamRef):
        return True  # e.g. {param: reject_code}: assume a final answer
    try:
        return 200 <= int(code) <= 699
    except (TypeError, ValueError):
        return False


def answers_invite(row: Row, requests: frozenset[str]) -> bool:
    """Whether ``row`` sends the final answer to the INVITE it received (see the module rules)."""
    for action in row.actions:
        if action.name != "SendSIPResponse" or not _final_code(action):
            continue
        if action.params.get("request") == "invite" or row.event in INVITES or row.event not in requests:
            return True
    return False


def _sends_reliable(row: Row) -> bool:
    return any(a.name == "SendSIPResponse" and a.params.get("reliable") is True for a in row.actions)


def _moves(ctx: LintContext) -> dict[str, list[tuple[Row, str]]]:
    """Per state, the rows applicable there that lead to a non-final state, with that state."""
    states = ctx.table.states
    moves: dict[str, list[tuple[Row, str]]] = {name: [] for name in states}
    for row in ctx.table.rows:
        target = row.target
        if target is None or target not in states or states[target].final:
            continue
        for state in ctx.states_of(row):
            moves[state].append((row, target))
    return moves


def _spread(ctx: LintContext, seeds: set[str], passes: Callable[[Row], bool]) -> set[str]:
    """``seeds`` and every non-final state reached from them by rows that ``passes``."""
    states = ctx.table.states
    moves = _moves(ctx)
    marked = {s for s in seeds if s in states and not states[s].final}
    todo = list(marked)
    while todo:
        for row, target in moves[todo.pop()]:
            if target not in marked and passes(row):
                marked.add(target)
                todo.append(target)
    return marked


def _seeded(ctx: LintContext, starts: Callable[[Row], bool]) -> set[str]:
    """States a row for which ``starts`` holds leads to (or stays in, without ``to``)."""
    seeds: set[str] = set()
    for row in ctx.table.rows:
        if starts(row):
            seeds.update([row.target] if row.target is not None else ctx.states_of(row))
    return seeds


def awaiting_final_answer(ctx: LintContext) -> set[str]:
    """States in which an INVITE the session received may still wait for its final answer."""
    requests = ctx.request_events

    def unanswered(row: Row) -> bool:
        return not answers_invite(row, requests)

    return _spread(ctx, _seeded(ctx, lambda r: r.event in INVITES and unanswered(r)), unanswered)


def awaiting_prack(ctx: LintContext) -> set[str]:
    """States in which a reliable provisional the session sent may still wait for its PRACK."""
    requests = ctx.request_events
    return _spread(ctx, _seeded(ctx, _sends_reliable),
                   lambda r: r.event != "DialogPRACK" and not answers_invite(r, requests))


def check_requests(ctx: LintContext) -> None:
    """W-UNHANDLED-REQUEST."""
    table = ctx.table
    if table.initial not in table.states:
        return
    anytime = sorted(ctx.deliverable - NOT_IN_DIALOG - set(table.starts_on) - set(BOUND))
    bound = {"DialogCANCEL": awaiting_final_answer(ctx), "DialogPRACK": awaiting_prack(ctx)}
    reachable = reachable_states(ctx)
    for name, state in table.states.items():
        if name == table.initial or state.final or name not in reachable:
            continue
        expected = sorted([*anytime, *(e for e, where in bound.items()
                                       if e in ctx.deliverable and name in where)])
        missing = [e for e in expected if not ctx.rows_for(name, e)]
        if missing:
            ctx.report("W-UNHANDLED-REQUEST", state.source,
                       f"state {name!r} has no row for {', '.join(missing)}: the safe default answer "
                       "will be sent", "add rows; a 'from: Any' row (e.g. in a fragment) covers every state")
