"""The in-memory form of a scenario file (``*.scenario.yaml``), after loading.

Rules:

* A ``Scenario`` names its participants and lists its steps and assertions,
  each carrying the ``Source`` (file, line, column) it was written at, so a
  failure can say exactly which step failed.
* A participant is either a state table (``table``: a shipped name or a path,
  with ``parameters``) or a scripted peer (``peer: true``), which sends exactly
  what the scenario says. Each has one transport ``address`` on the loopback
  network.
* Steps run in order: ``Send`` (the scripted peer sends a message), ``Expect``
  (the next message between two participants must match), ``Command`` (an
  application command such as ``MakeCall`` to a table participant) and
  ``Wait`` (virtual time passes) and ``Disconnect`` (a scripted peer leaves
  the network).
* Nothing here knows YAML, SIP or the runtime: the loader builds these
  records, the runner executes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sipflow.sip.types import Address
from sipflow.tables.model import Source, Table

from .matchers import Matcher


@dataclass(frozen=True, slots=True)
class Participant:
    """One agent of the scenario: a table (``table`` set) or a scripted peer."""

    name: str
    address: Address
    source: Source
    table: str | None = None
    """A shipped table name, or a path (already made relative to the working directory)."""
    parameters: dict[str, Any] = field(default_factory=dict)
    loaded: Table | None = field(default=None, compare=False, repr=False)
    """The table as the loader read it (None for a scripted peer)."""

    @property
    def is_peer(self) -> bool:
        """True for a scripted peer."""
        return self.table is None

    @property
    def uri(self) -> str:
        """The participant's SIP URI: ``sip:name@host:port`` (``;transport=tcp`` for TCP)."""
        host = f"[{self.address.host}]" if ":" in self.address.host else self.address.host
        suffix = ";transport=tcp" if self.address.transport == "tcp" else ""
        return f"sip:{self.name}@{host}:{self.address.port}{suffix}"


@dataclass(frozen=True, slots=True)
class Send:
    """The scripted peer ``sender`` sends a request, a response or raw bytes to ``target``.

    Exactly one of ``method`` (a request), ``status`` (a response) or ``raw`` is the
    message's kind; a response may name ``method`` too: the request it answers.
    ``headers`` override the generated ones (None removes one).
    """

    sender: str
    target: str
    source: Source
    method: str | None = None
    status: int | None = None
    reason: str | None = None
    headers: tuple[tuple[str, str | None], ...] = ()
    body: str | None = None
    raw: str | None = None
    new_dialog: bool = False
    """Start a new dialog (new Call-ID and tag) even when one with the target is open."""


@dataclass(frozen=True, slots=True)
class Expect:
    """The next message from ``sender`` to ``target`` (either may be None: anyone) must match."""

    sender: str | None
    target: str | None
    source: Source
    within: float
    method: str | None = None
    status: int | None = None
    headers: tuple[tuple[str, Matcher], ...] = ()
    body: Matcher | None = None
    not_before: float = 0.0
    """The message must be sent at least this long after the step began (virtual seconds)."""

    def describe(self) -> str:
        """What is expected, in words: ``200 (BYE) from bob to caller``."""
        if self.status is not None:
            what = f"{self.status}" + (f" ({self.method})" if self.method else "")
        elif self.method is not None:
            what = self.method
        else:
            what = "a message"
        route = ""
        if self.sender:
            route += f" from {self.sender}"
        if self.target:
            route += f" to {self.target}"
        return what + route


@dataclass(frozen=True, slots=True)
class Command:
    """An application command (``MakeCall``, ``HangUp`` …) to table participant ``participant``."""

    name: str
    participant: str
    source: Source
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Wait:
    """Let ``seconds`` of virtual time pass."""

    seconds: float
    source: Source


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The scripted peer ``peer`` leaves the network: what is sent to it from now on is lost
    (over TCP the sender is told, as by a refused connection)."""

    peer: str
    source: Source


Step = Send | Expect | Command | Wait | Disconnect


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """``never_sent`` entry: no message from ``sender`` to ``target`` may match."""

    sender: str | None
    target: str | None
    source: Source
    method: str | None = None
    status: int | None = None
    headers: tuple[tuple[str, Matcher], ...] = ()
    body: Matcher | None = None

    def describe(self) -> str:
        """``BYE from bob``."""
        return Expect(self.sender, self.target, self.source, 0.0, self.method,
                      self.status).describe()


@dataclass(frozen=True, slots=True)
class Assertions:
    """What must hold once every step has run and the network is quiet.

    ``states``: participant → states it must enter, in this order (others may come
    between). ``published``: participant → application events it must publish, in
    this order. ``never_sent``: messages that must not appear at all.
    """

    states: dict[str, tuple[tuple[str, ...], Source]] = field(default_factory=dict)
    published: dict[str, tuple[tuple[str, ...], Source]] = field(default_factory=dict)
    never_sent: tuple[MessageFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario file."""

    name: str
    file: str
    participants: dict[str, Participant]
    steps: tuple[Step, ...]
    assertions: Assertions
    source: Source
    description: str = ""
    settle: float = 40.0
    """Virtual seconds to let pass after the last step (transactions finish, timers fire)."""

    @property
    def tables(self) -> list[Participant]:
        """The participants that run a state table."""
        return [p for p in self.participants.values() if not p.is_peer]
