"""What a scenario run saw: messages on the wire, state changes, timers, published events.

Rules:

* ``Observer`` is the single record of a run. The runner hooks it onto each
  table participant's compiled machines (``after_state_change``, the
  ``transitions`` callback every fired row passes through) and onto the
  runtime's ``subscribe``; messages are the loopback network's ``trace``.
* ``wire(index)`` gives the parsed form of trace record ``index`` (cached);
  a message that does not parse is ``None`` with its parser reason kept.
* ``ladder(title)`` builds a ``sipflow.ladder.Ladder`` from the trace plus
  the state changes, timers and published events seen so far: it is what a
  failure shows and what ``--ladder`` renders.
* Retransmissions (the same bytes, same source and destination, as an
  earlier record) are marked so ``expect`` can skip them.

Theory of operation: plain lists appended to as the virtual clock runs;
nothing here decides pass or fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sipflow.clock import VirtualClock
from sipflow.ladder.model import Ladder, address_key
from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address
from sipflow.transport.loopback import LoopbackNetwork, TraceRecord


@dataclass(frozen=True, slots=True)
class StateSeen:
    """Participant ``who`` moved from ``old`` to ``new`` by the row at ``row`` (file:line)."""

    time: float
    who: str
    old: str
    new: str
    event: str
    row: str


@dataclass(frozen=True, slots=True)
class Published:
    """Participant ``who`` published the application event ``name``."""

    time: float
    who: str
    name: str


@dataclass(frozen=True, slots=True)
class Wire:
    """One trace record as the runner sees it: who sent it to whom, parsed."""

    index: int
    record: TraceRecord
    sender: str
    target: str
    message: Request | Response | None
    error: str
    retransmission: bool

    def describe(self) -> str:
        """``180 Ringing (INVITE) from bob to caller``, or ``malformed (...) from ...``."""
        message = self.message
        if message is None:
            what = f"a malformed message ({self.error})"
        elif isinstance(message, Request):
            what = message.method
        else:
            try:
                method = message.cseq.method
            except RemoteProtocolError:
                method = "?"
            what = f"{message.status} {message.reason} ({method})".replace("  ", " ")
        return f"{what} from {self.sender} to {self.target}"


class Observer:
    """The record of one run (see the module rules)."""

    def __init__(self, clock: VirtualClock, network: LoopbackNetwork,
                 names: dict[Address, str]) -> None:
        self.clock = clock
        self.network = network
        self.names = names
        self.states: list[StateSeen] = []
        self.timers: list[tuple[float, str, str]] = []
        self.published: list[Published] = []
        self.notes: list[tuple[float, str, str | None]] = []
        self._wires: list[Wire] = []
        self._log: list[Any] = []
        self._seen: set[tuple[Address, Address, bytes]] = set()

    # -- hooks ------------------------------------------------------------------------
    def hook_machine(self, who: str, machine: Any) -> None:
        """Record state changes and timers of every row ``machine`` fires for ``who``."""

        def after(event_data: Any) -> None:
            transition = event_data.transition
            name = event_data.event.name
            ctx = event_data.args[0] if event_data.args else None
            row = getattr(getattr(ctx, "row", None), "source", None)
            where = row.short if row is not None else "?"
            now = self.clock.now()
            if name.startswith("Timer"):
                self.timers.append((now, who, name))
                self._log.append((now, name, who))
            if transition.dest is not None:  # a row with `to` (even its own state: exit, entry)
                seen = StateSeen(now, who, transition.source, transition.dest, name, where)
                self.states.append(seen)
                self._log.append(seen)

        machine.after_state_change = [*machine.after_state_change, after]

    def on_publish(self, who: str, name: str) -> None:
        """A table participant published ``name``."""
        item = Published(self.clock.now(), who, name)
        self.published.append(item)
        self._log.append(item)

    def note(self, text: str, who: str | None = None) -> None:
        """A note on the ladder (a command given, a step that failed)."""
        self.notes.append((self.clock.now(), text, who))
        self._log.append((self.clock.now(), text, who))

    # -- the wire ---------------------------------------------------------------------
    def wires(self) -> list[Wire]:
        """Every trace record so far, parsed, in trace order."""
        trace = self.network.trace
        for index in range(len(self._wires), len(trace)):
            record = trace[index]
            try:
                message: Request | Response | None = parse_message(record.data)
                error = ""
            except RemoteProtocolError as exc:
                message, error = None, exc.reason
            key = (record.src, record.dst, record.data)
            repeated = key in self._seen
            self._seen.add(key)
            self._wires.append(Wire(index, record, self.name_of(record.src),
                                    self.name_of(record.dst), message, error, repeated))
        return self._wires

    def name_of(self, address: Address) -> str:
        """The participant at ``address``, or the address itself."""
        return self.names.get(address) or str(address)

    # -- the ladder -------------------------------------------------------------------
    def on_trace(self, record: TraceRecord) -> None:
        """The network's ``on_trace`` hook: keeps messages in order with everything else."""
        self._log.append(record)

    def ladder(self, title: str) -> Ladder:
        """The ladder of everything seen so far, in the order it happened."""
        ladder = Ladder(title)
        keys = {name: address_key(address) for address, name in self.names.items()}
        for address, name in self.names.items():
            ladder.participant(address_key(address), name)
        for item in self._log:
            if isinstance(item, TraceRecord):
                delivered = item.delivered
                ladder.message(item.sent, item.src, item.dst, item.data,
                               lost=None if delivered else item.outcome,
                               arrived=item.time if delivered else None)
            elif isinstance(item, StateSeen):
                ladder.state(item.time, keys[item.who], item.old, item.new)
            elif isinstance(item, Published):
                ladder.note(item.time, f"publish {item.name}", keys[item.who])
            else:
                when, text, who = item
                if text.startswith("Timer") and who is not None:
                    ladder.timer(when, keys[who], text)
                else:
                    ladder.note(when, text, keys.get(who) if who else None)
        return ladder
