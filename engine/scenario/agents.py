"""Table participants: a state table running on the loopback backend.

Rules:

* Each table participant is one ``Runtime`` (its one table, compiled and linted
  for this run, with the participant's parameters) driving one
  ``LoopbackBackend`` bound at the participant's address. Every participant
  shares the run's ``VirtualClock`` and ``LoopbackNetwork``.
* A command whose name the table ``starts_on`` (``MakeCall``) opens a new
  session; its data ``to`` becomes the session parameter ``target`` when the
  table declares one (where ``SendINVITE`` sends). Any other command goes to
  the participant's newest live session. A command that no row takes, or that
  has no session to go to, is a step failure (``CommandRefused``).
* A table that does not compile or fails lint makes the scenario unusable
  (``AgentError``), never a failed run.

Theory of operation: the compiled machine of the table is private to this
runtime, so the observer can hook its ``after_state_change`` to see every
state change; published events come through ``Runtime.subscribe``.
"""

from __future__ import annotations

import random
from typing import Any

from sipflow.backends.loopback import LoopbackBackend
from sipflow.clock import VirtualClock
from sipflow.runtime.compiler import CompiledTable, CompileError, TableRefused
from sipflow.runtime.params import ParamError
from sipflow.runtime.registry import Registry
from sipflow.runtime.runtime import SESSION_ENDED, Runtime
from sipflow.runtime.session import Session
from sipflow.transport.loopback import LoopbackNetwork

from .model import Command, Participant
from .observe import Observer


class AgentError(Exception):
    """A table participant cannot be set up (its table does not compile, a bad parameter)."""


class CommandRefused(Exception):
    """An application command found no session, or no row, to take it."""


class TableAgent:
    """One table participant of a run (see the module rules)."""

    def __init__(self, participant: Participant, clock: VirtualClock, network: LoopbackNetwork,
                 registry: Registry, observer: Observer, seed: int) -> None:
        assert participant.loaded is not None
        self.participant = participant
        self.name = participant.name
        self.backend = LoopbackBackend(clock, network=network, rng=random.Random(seed),
                                       user=participant.name)
        try:
            self.runtime = Runtime([participant.loaded], registry, clock, self.backend,
                                   params=participant.parameters or None, rng=random.Random(seed))
        except TableRefused as exc:
            raise AgentError(f"table {participant.table!r} of {self.name!r} fails lint: "
                             f"{_first(exc)}") from None
        except (CompileError, ParamError, ValueError) as exc:
            raise AgentError(f"table {participant.table!r} of {self.name!r} cannot run: {exc}") \
                from None
        self.table: CompiledTable = next(iter(self.runtime.tables.values()))
        observer.hook_machine(self.name, self.table.machine)
        self._order: dict[int, int] = {}
        self.runtime.subscribe(self._published)
        self._observer = observer
        self.backend.open([str(participant.address)], self.runtime.deliver)

    def _published(self, session: Session, name: str, data: Any) -> None:
        if name != SESSION_ENDED:
            self._observer.on_publish(self.name, name)

    def command(self, step: Command) -> None:
        """Give the application command ``step`` to this participant's table."""
        runtime, table = self.runtime, self.table
        data = dict(step.data)
        if step.name in table.starts_on:
            params: dict[str, Any] = {}
            if "to" in data and "target" in table.parameters:
                params["target"] = data["to"]
            session = runtime.start_session(table.name, params or None)
            self._order[id(session)] = len(self._order)
        else:
            session = self.newest()
            if session is None:
                raise CommandRefused(f"{self.name} has no session in progress to take {step.name}")
        state = session.state
        if not runtime.dispatch(session, step.name, data):
            raise CommandRefused(f"{self.name}'s table {table.name} has no row for {step.name} in "
                                 f"state {state}")

    def newest(self) -> Session | None:
        """The newest live session (sessions this agent started before ones the wire opened)."""
        live = [s for s in self.runtime.sessions if not s.ended]
        if not live:
            return None
        return max(live, key=lambda s: (self._order.get(id(s), -1), _handle_order(s.handle)))

    def close(self) -> None:
        """Forget every session and detach from the network."""
        self.runtime.close()
        driver = self.backend.driver
        if driver is not None:
            driver.close()
            self.backend.driver = None


def _handle_order(handle: Any) -> tuple[int, str]:
    text = str(handle)
    digits = "".join(c for c in text if c.isdigit())
    return (int(digits) if digits else 0, text)


def _first(exc: TableRefused) -> str:
    return exc.lines[0] if exc.lines else str(exc)
