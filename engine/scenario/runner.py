"""Run a scenario in virtual time and say whether it passed.

Rules:

* One run is one ``VirtualClock`` and one ``LoopbackNetwork`` for every
  participant: table participants run the real SIP core through the
  ``loopback`` backend, scripted peers send what ``send`` steps say. A
  three-minute timer takes as long as the code it runs, not three minutes.
* Steps run in file order; the first that fails ends the run:
  - ``send``: the peer builds and sends the message now;
  - ``expect``: the clock moves from one deadline to the next (never past
    ``within``) until there is a message from ``from`` to ``to`` that no
    earlier ``expect`` took; that *next* message must match, or the step fails
    showing expected against got. Retransmissions (the same bytes again) and
    what scripted peers sent are never candidates;
  - a command (``MakeCall`` …) goes to a table participant now;
  - ``wait`` moves the clock by that much;
  - ``disconnect`` detaches a scripted peer from the network.
* After the last step the clock runs ``settle`` more seconds (transactions
  end, timers fire), then the assertions are checked: states entered and
  events published (each list in order, others may come between) and
  ``never_sent``.
* A failure names the step's ``file:line``, what was expected and what came;
  ``ScenarioResult.report()`` adds the ladder so far. Errors the engine logs
  during a run (an action that raised) are kept in ``errors`` and shown by
  ``report()``, never printed as tracebacks; ``failures`` counts them by row.
  A scenario that cannot be set up (a table that fails lint, a bad parameter)
  raises ``ScenarioError``: that is unusable input, not a failed run.

Theory of operation: the runner owns the clock and the order of things;
``peer`` builds messages, ``agents`` wraps each table's runtime and backend,
``observe`` records everything for matching, assertions, ladder and coverage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sipflow.clock import VirtualClock
from sipflow.ladder.model import Ladder
from sipflow.runtime.builtins import default_registry
from sipflow.runtime.registry import Registry
from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.message import Request
from sipflow.tables.model import Source
from sipflow.transport.loopback import LoopbackNetwork

from .agents import AgentError, CommandRefused, TableAgent
from .model import Command, Disconnect, Expect, MessageFilter, Scenario, Send, Wait
from .observe import Observer, Wire
from .peer import PeerError, ScriptedPeer
from .validate import ScenarioError


class StepFailed(Exception):
    """A step or an assertion did not hold; ``source`` says where it was written."""

    def __init__(self, source: Source, message: str, details: list[str] | None = None) -> None:
        self.source = source
        self.message = message
        self.details = details or []
        super().__init__(f"{source.short}: {message}")


@dataclass(frozen=True, slots=True)
class RowCoverage:
    """One row of a table and how often it fired in a run (or several)."""

    table: str
    index: int
    source: str
    """``file:line`` of the row."""
    label: str
    fired: int


@dataclass
class ScenarioResult:
    """What running one scenario gave."""

    scenario: Scenario
    passed: bool
    failure: StepFailed | None
    observer: Observer
    coverage: dict[str, list[RowCoverage]] = field(default_factory=dict)
    virtual_time: float = 0.0
    wall_time: float = 0.0
    errors: list[str] = field(default_factory=list)
    """Errors the engine logged during the run (an action or a guard that raised), one line each."""
    failures: dict[str, int] = field(default_factory=dict)
    """Rows (``file:line``) whose actions or guards raised, and how often: the runtimes'
    ``failures`` summed over the table participants. A passing scenario with failures
    hides a defect of the table (a row whose action the backend refused)."""

    def ladder(self) -> Ladder:
        """The ladder of the run (up to the failure, for a failed run)."""
        return self.observer.ladder(self.scenario.name)

    def render_ladder(self, fmt: str = "text", width: int = 100) -> str:
        """The ladder as ``text``, ``mermaid`` or ``html``."""
        from sipflow.ladder import render

        return render(self.ladder(), fmt, width)

    def summary(self) -> str:
        """``PASS name`` or ``FAIL name: file:line: message``."""
        if self.passed:
            return f"PASS {self.scenario.name}"
        assert self.failure is not None
        return f"FAIL {self.scenario.name}: {self.failure}"

    def report(self, width: int = 100) -> str:
        """The summary and the errors logged; for a failure also the details and the ladder so far."""
        lines = [self.summary(), *(f"  error logged: {e}" for e in self.errors)]
        if self.passed or self.failure is None:
            return "\n".join(lines)
        lines += [*(f"  {d}" for d in self.failure.details), "  ladder so far:",
                  self.render_ladder("text", width)]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``--format json``)."""
        failure = None
        if self.failure is not None:
            failure = {"file": self.failure.source.file, "line": self.failure.source.line,
                       "message": self.failure.message, "details": self.failure.details}
        return {"scenario": self.scenario.name, "file": self.scenario.file,
                "passed": self.passed, "failure": failure,
                "errors": list(self.errors),
                "failures": dict(self.failures),
                "virtual_time": round(self.virtual_time, 6),
                "wall_time": round(self.wall_time, 6),
                "messages": len(self.observer.network.trace)}


class _Run:
    """One execution of a scenario (see the module rules)."""

    def __init__(self, scenario: Scenario, registry: Registry, seed: int) -> None:
        self.scenario = scenario
        self.clock = VirtualClock()
        names = {p.address: p.name for p in scenario.participants.values()}
        self.network = LoopbackNetwork(self.clock, seed=seed)
        self.observer = Observer(self.clock, self.network, names)
        self.network.on_trace = self.observer.on_trace
        self.peers: dict[str, ScriptedPeer] = {}
        self.agents: dict[str, TableAgent] = {}
        self.consumed: set[int] = set()
        for n, participant in enumerate(scenario.participants.values()):
            if participant.is_peer:
                self.peers[participant.name] = ScriptedPeer(participant, self.network)
                continue
            try:
                self.agents[participant.name] = TableAgent(participant, self.clock, self.network,
                                                           registry, self.observer, seed + n)
            except AgentError as exc:
                self.close()
                source = participant.source
                raise ScenarioError(source.file, source.line, source.col, str(exc)) from None
        self.peer_addresses = {peer.address for peer in self.peers.values()}

    # -- steps -------------------------------------------------------------------------
    def run(self) -> StepFailed | None:
        try:
            for step in self.scenario.steps:
                if isinstance(step, Send):
                    self.send(step)
                elif isinstance(step, Expect):
                    self.expect(step)
                elif isinstance(step, Command):
                    self.command(step)
                elif isinstance(step, Wait):
                    self.clock.advance(step.seconds)
                elif isinstance(step, Disconnect):
                    self.clock.advance(0)
                    self.observer.note("disconnected", step.peer)
                    self.peers[step.peer].port.close()
            self.clock.advance(self.scenario.settle)
            self.check_assertions()
        except StepFailed as failed:
            self.observer.note(f"FAILED: {failed.message}")
            return failed
        return None

    def send(self, step: Send) -> None:
        self.clock.advance(0)
        target = self.scenario.participants[step.target]
        try:
            self.peers[step.sender].send(step, target)
        except PeerError as exc:
            raise StepFailed(step.source, f"send: {exc}") from None
        self.clock.advance(0)

    def command(self, step: Command) -> None:
        self.clock.advance(0)
        self.observer.note(step.name, step.participant)
        try:
            self.agents[step.participant].command(step)
        except CommandRefused as exc:
            raise StepFailed(step.source, f"{step.name}: {exc}") from None
        self.clock.advance(0)

    def expect(self, step: Expect) -> None:
        clock = self.clock
        began = clock.now()
        end = began + step.within
        while True:
            clock.advance(0)
            wire = self.next_wire(step.sender, step.target)
            if wire is not None:
                problems = mismatches(step, wire)
                early = wire.record.sent - began
                if step.not_before and early < step.not_before - 1e-9:
                    problems.append(f"time: expected not before {_seconds(step.not_before)} "
                                    f"after the step began, it came after {early:g}s")
                if problems:
                    raise StepFailed(step.source, f"expected {step.describe()}, got "
                                     f"{wire.describe()} at t={wire.record.sent:.3f}s: "
                                     f"{problems[0]}", problems[1:])
                self.consumed.add(wire.index)
                return
            deadline = clock.next_deadline()
            if clock.now() >= end:
                raise StepFailed(step.source, f"expected {step.describe()} within "
                                 f"{_seconds(step.within)}, got nothing")
            clock.advance(min(deadline, end) - clock.now() if deadline is not None
                          else end - clock.now())

    def next_wire(self, sender: str | None, target: str | None) -> Wire | None:
        for wire in self.observer.wires():
            if wire.index in self.consumed or wire.retransmission:
                continue
            if wire.record.src in self.peer_addresses:
                continue
            if sender is not None and wire.sender != sender:
                continue
            if target is not None and wire.target != target:
                continue
            return wire
        return None

    # -- assertions --------------------------------------------------------------------
    def check_assertions(self) -> None:
        checks = self.scenario.assertions
        for who, (expected, source) in checks.states.items():
            seen = [s.new for s in self.observer.states if s.who == who]
            if not _in_order(expected, seen):
                raise StepFailed(source, f"{who} should enter {', '.join(expected)} in this "
                                 f"order; it entered {', '.join(seen) or 'no state'}")
        for who, (expected, source) in checks.published.items():
            seen = [p.name for p in self.observer.published if p.who == who]
            if not _in_order(expected, seen):
                raise StepFailed(source, f"{who} should publish {', '.join(expected)} in this "
                                 f"order; it published {', '.join(seen) or 'nothing'}")
        for rule in checks.never_sent:
            for wire in self.observer.wires():
                if wire.record.src in self.peer_addresses or wire.retransmission:
                    continue
                if _route(rule, wire) and not mismatches(rule, wire):
                    raise StepFailed(rule.source, f"{rule.describe()} must never be sent, but "
                                     f"{wire.describe()} was at t={wire.record.sent:.3f}s")

    # -- results -----------------------------------------------------------------------
    def coverage(self) -> dict[str, list[RowCoverage]]:
        out: dict[str, list[RowCoverage]] = {}
        for agent in self.agents.values():
            table = agent.table
            rows = [RowCoverage(table.name, row.index, row.row.source.short, row_label(row.row),
                                fired)
                    for row, fired in table.coverage()]
            out[table.name] = merge_rows(out.get(table.name, []), rows)
        return out

    def failures(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for agent in self.agents.values():
            for where, count in agent.runtime.failures.items():
                out[where] = out.get(where, 0) + count
        return out

    def close(self) -> None:
        for agent in self.agents.values():
            agent.close()
        for peer in self.peers.values():
            peer.port.close()


def merge_rows(into: list[RowCoverage], rows: list[RowCoverage]) -> list[RowCoverage]:
    """Rows of the same table from two runs, with their firing counts added."""
    if not into:
        return list(rows)
    fired = {r.index: r.fired for r in into}
    return [RowCoverage(r.table, r.index, r.source, r.label, r.fired + fired.get(r.index, 0))
            for r in rows]


def row_label(row: Any) -> str:
    """``Ringing --TimerAnswer / SendSIPResponse(...)--> Answered`` for a table ``Row``."""
    target = row.target if row.target is not None else "(stay)"
    return f"{', '.join(row.sources)} --{row.label()}--> {target}"


def _route(rule: MessageFilter | Expect, wire: Wire) -> bool:
    return ((rule.sender is None or wire.sender == rule.sender)
            and (rule.target is None or wire.target == rule.target))


def mismatches(rule: Expect | MessageFilter, wire: Wire) -> list[str]:
    """Why ``wire`` does not match ``rule`` (an empty list: it matches)."""
    message = wire.message
    if message is None:
        return [f"expected {rule.describe()}, got a malformed message: {wire.error}"]
    problems: list[str] = []
    if rule.status is not None:
        if isinstance(message, Request):
            problems.append(f"expected a {rule.status} response, got a {message.method} request")
            return problems
        if message.status != rule.status:
            problems.append(f"status: expected {rule.status}, got {message.status} {message.reason}")
        if rule.method is not None:
            try:
                method = message.cseq.method
            except RemoteProtocolError:
                method = "?"
            if method != rule.method:
                problems.append(f"answering: expected {rule.method}, got {method}")
    elif rule.method is not None:
        if not isinstance(message, Request):
            problems.append(f"expected a {rule.method} request, got a {message.status} response")
            return problems
        if message.method != rule.method:
            problems.append(f"method: expected {rule.method}, got {message.method}")
    for name, matcher in rule.headers:
        values = message.headers.get_all(name)
        value = ", ".join(values) if values else None
        if not matcher.match(value):
            problems.append(f"header {name}: expected {matcher}, got "
                            f"{'nothing (absent)' if value is None else repr(value)}")
    if rule.body is not None:
        text = message.body.decode("utf-8", "replace") if message.body else None
        if not rule.body.match(text):
            problems.append(f"body: expected {rule.body}, got "
                            f"{'no body' if text is None else _clip(text)}")
    return problems


def _clip(text: str, limit: int = 120) -> str:
    flat = text.replace("\r\n", "\\r\\n")
    return repr(flat if len(flat) <= limit else flat[:limit] + "...")


def _in_order(expected: tuple[str, ...], seen: list[str]) -> bool:
    position = iter(seen)
    return all(any(item == got for got in position) for item in expected)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def run_scenario(scenario: Scenario, registry: Registry | None = None, *,
                 seed: int = 0) -> ScenarioResult:
    """Run ``scenario`` to the end (or its first failure) in virtual time.

    Raises ``ScenarioError`` when a participant cannot be set up.
    """
    started = time.perf_counter()
    errors = _ErrorLog()
    logger = logging.getLogger("sipflow")
    propagate = logger.propagate
    logger.addHandler(errors)
    logger.propagate = False
    try:
        run = _Run(scenario, registry or default_registry(), seed)
        try:
            failure = run.run()
            coverage = run.coverage()
            failures = run.failures()
        finally:
            run.close()
    finally:
        logger.removeHandler(errors)
        logger.propagate = propagate
    return ScenarioResult(scenario, failure is None, failure, run.observer, coverage,
                          run.clock.now(), time.perf_counter() - started, errors.lines, failures)


class _ErrorLog(logging.Handler):
    """Keeps the first line of each ERROR the engine logs during a run (no tracebacks printed)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage().splitlines()[0])
        except Exception:  # a broken log record must not break the run
            self.lines.append(str(record.msg))


__all__ = ["RowCoverage", "ScenarioResult", "StepFailed", "merge_rows",
           "mismatches", "row_label", "run_scenario"]
