"""The ladder model: who took part, and what happened between them, in time order.

Rules:

- A ``Participant`` is one SIP agent, known by a ``key`` (``host:port``, IPv6
  in brackets; the transport is left out, so UDP and TCP on one port are one
  agent) and an optional display ``name``. Participants appear in the order
  they were first mentioned.
- Entries are ``Message`` (an arrow: label, source, destination, transport,
  and ``lost`` — ``"dropped"`` or ``"unreachable"`` — when it never arrived),
  ``StateChange`` (``Idle → Ringing`` on one participant), ``TimerFired``
  (``TimerNoAnswer`` on one participant) and ``Note`` (free text, on one
  participant or across all). ``Ladder.entries`` sorts them by time; entries
  of equal time keep the order they were added in.
- Message labels: a request is its method and short Request-URI
  (``INVITE sip:bob@10.0.0.2``: no port, no parameters); a response is its
  code and reason with the CSeq method (``180 Ringing (INVITE)``). A message
  that does not parse is labelled ``malformed: <reason>``. The raw text is
  kept for the renderers that can show it (HTML). A message whose exact bytes
  already went from the same source to the same destination is marked
  ``retransmission``; ``Message.text`` is the label with its marks.
- Text is made printable as it enters the model (``printable``): control
  characters, the escape that starts a terminal sequence among them, and
  undecodable bytes become visible ``\\xNN`` escapes, so a hostile capture can
  neither drive the terminal nor break the HTML. The raw message text keeps
  its tabs and line breaks.
- Builders: ``from_capture`` (a ``sipflow.trace.capture.Capture``) and
  ``from_loopback`` (the ``trace`` of a ``LoopbackNetwork``: dropped and
  unreachable messages are marked, placed at their send time). Others — the
  scenario simulator — add ``state``, ``timer`` and ``note`` entries through
  the same methods, naming the participant by address, key or display name.

Theory of operation: plain dataclasses, no rendering here; ``text``, ``data``,
``mermaid`` and ``html`` read a ``Ladder`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address

if TYPE_CHECKING:
    from sipflow.trace.capture import Capture
    from sipflow.transport.loopback import TraceRecord

__all__ = [
    "printable",
    "Participant", "Message", "StateChange", "TimerFired", "Note", "Entry", "Ladder",
    "address_key", "message_label", "from_capture", "from_loopback",
]


_KEEP_IN_RAW = frozenset("\t\n\r")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _unprintable(ch: str, raw: bool) -> bool:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return not (raw and ch in _KEEP_IN_RAW)
    return 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)


def printable(text: str, *, raw: bool = False) -> str:
    """``text`` with control characters, lone surrogates and non-characters
    written as ``\\xNN``/``\\uNNNN`` (``raw``: tabs and line breaks kept)."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(_escape_char(ch) if _unprintable(ch, raw) else ch for ch in text)


def address_key(address: Address | tuple[str, int]) -> str:
    """``host:port`` of an address (IPv6 in brackets), the participant key."""
    host, port = (address.host, address.port) if isinstance(address, Address) else address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class Participant:
    """One agent in the ladder; ``label`` is what the renderers print."""

    key: str
    name: str | None = None

    @property
    def label(self) -> str:
        """``name (key)`` when named, else the key."""
        return f"{self.name} ({self.key})" if self.name else self.key


@dataclass(slots=True)
class Message:
    """An arrow from ``src`` to ``dst`` (participant keys)."""

    time: float
    src: str
    dst: str
    label: str
    transport: str = "udp"
    lost: str | None = None
    malformed: bool = False
    raw: str = ""
    arrived: float | None = None
    retransmission: bool = False

    @property
    def text(self) -> str:
        """The label with its marks: ``INVITE sip:b@h [retransmission] [dropped]``."""
        marks = " [retransmission]" if self.retransmission else ""
        return self.label + marks + (f" [{self.lost}]" if self.lost else "")


@dataclass(slots=True)
class StateChange:
    """Participant ``who`` went from state ``old`` to ``new``."""

    time: float
    who: str
    old: str
    new: str

    @property
    def label(self) -> str:
        """``old → new``."""
        return f"{self.old} → {self.new}"


@dataclass(slots=True)
class TimerFired:
    """The state timer ``name`` (``TimerNoAnswer``) fired at participant ``who``."""

    time: float
    who: str
    name: str

    @property
    def label(self) -> str:
        """The timer event's name."""
        return self.name


@dataclass(slots=True)
class Note:
    """Free text at one participant (``who``) or across every lifeline (None)."""

    time: float
    text: str
    who: str | None = None

    @property
    def label(self) -> str:
        """The note's text."""
        return self.text


Entry = Message | StateChange | TimerFired | Note


def _short_uri(uri: str) -> str:
    """``sip:bob@10.0.0.2:5060;transport=tcp`` → ``sip:bob@10.0.0.2``."""
    base = uri.split(";", 1)[0].split("?", 1)[0]
    scheme, colon, rest = base.partition(":")
    if not colon:
        return base
    user, at, hostport = rest.rpartition("@")
    if hostport.startswith("["):
        host = hostport[: hostport.find("]") + 1] or hostport
    else:
        host = hostport.split(":", 1)[0]
    return f"{scheme}:{user}{at}{host}"


def message_label(message: Request | Response) -> str:
    """The arrow label of a parsed SIP message (see the module rules)."""
    if isinstance(message, Request):
        return f"{message.method} {_short_uri(message.uri)}"
    try:
        method = message.cseq.method
    except RemoteProtocolError:
        method = "?"
    reason = f" {message.reason}" if message.reason else ""
    return f"{message.status}{reason} ({method})"


def _raw_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@dataclass
class Ladder:
    """Participants and time-ordered entries (see the module rules)."""

    title: str = ""
    participants: dict[str, Participant] = field(default_factory=dict)
    _entries: list[tuple[float, int, Entry]] = field(default_factory=list, init=False,
                                                     repr=False)
    _seen: set[tuple[str, str, bytes]] = field(default_factory=set, init=False, repr=False)

    # ---------------------------------------------------------- participants

    def participant(self, who: Address | str, name: str | None = None) -> Participant:
        """The participant for an address, a key or a display name (created on
        first use, keyed by ``who``); ``name`` sets its display name."""
        key = printable(address_key(who) if isinstance(who, Address) else who)
        found = self.participants.get(key)
        if found is None and not isinstance(who, Address):
            found = next((p for p in self.participants.values() if p.name == who), None)
        name = printable(name) if name else name
        if found is None:
            found = self.participants[key] = Participant(key, name)
        elif name:
            found.name = name
        return found

    def _key(self, who: Address | str) -> str:
        return self.participant(who).key

    def __post_init__(self) -> None:
        self.title = printable(self.title)

    # --------------------------------------------------------------- entries

    def add(self, entry: Entry) -> Entry:
        """Add an entry (its participants are created when new; its text is made
        printable)."""
        if isinstance(entry, Message):
            entry.src, entry.dst = self._key(entry.src), self._key(entry.dst)
            entry.label, entry.raw = printable(entry.label), printable(entry.raw, raw=True)
        else:
            if entry.who is not None:
                entry.who = self._key(entry.who)
            if isinstance(entry, StateChange):
                entry.old, entry.new = printable(entry.old), printable(entry.new)
            elif isinstance(entry, TimerFired):
                entry.name = printable(entry.name)
            else:
                entry.text = printable(entry.text)
        self._entries.append((entry.time, len(self._entries), entry))
        return entry

    def message(self, time: float, src: Address | str, dst: Address | str, data: bytes, *,
                transport: str | None = None, lost: str | None = None,
                arrived: float | None = None) -> Message:
        """Add the SIP message ``data`` from ``src`` to ``dst``; it is parsed
        for its label (a malformed one is labelled as such)."""
        try:
            parsed = parse_message(data)
        except RemoteProtocolError as exc:
            return self.malformed(time, src, dst, data, exc.reason, transport=transport,
                                  lost=lost)
        return self.parsed_message(time, src, dst, parsed, data, transport=transport, lost=lost,
                                   arrived=arrived)

    def parsed_message(self, time: float, src: Address | str, dst: Address | str,
                       parsed: Request | Response, data: bytes = b"", *,
                       transport: str | None = None, lost: str | None = None,
                       arrived: float | None = None) -> Message:
        """Add an already parsed message."""
        data = data or parsed.serialize()
        entry = Message(time, self._key(src), self._key(dst), message_label(parsed),
                        _transport(src, transport), lost, False, _raw_text(data), arrived)
        seen = (entry.src, entry.dst, data)
        entry.retransmission = seen in self._seen
        self._seen.add(seen)
        self.add(entry)
        return entry

    def malformed(self, time: float, src: Address | str, dst: Address | str, data: bytes,
                  reason: str, *, transport: str | None = None,
                  lost: str | None = None) -> Message:
        """Add a message that did not parse, labelled with the parser's reason."""
        entry = Message(time, self._key(src), self._key(dst), f"malformed: {reason}",
                        _transport(src, transport), lost, True, _raw_text(data))
        self.add(entry)
        return entry

    def state(self, time: float, who: Address | str, old: str, new: str) -> StateChange:
        """Add a state change ``old → new`` of participant ``who``."""
        entry = StateChange(time, self._key(who), old, new)
        self.add(entry)
        return entry

    def timer(self, time: float, who: Address | str, name: str) -> TimerFired:
        """Add a fired state timer (``TimerNoAnswer``) at participant ``who``."""
        entry = TimerFired(time, self._key(who), name)
        self.add(entry)
        return entry

    def note(self, time: float, text: str, who: Address | str | None = None) -> Note:
        """Add a note at participant ``who``, or across every lifeline."""
        entry = Note(time, text, None if who is None else self._key(who))
        self.add(entry)
        return entry

    @property
    def entries(self) -> list[Entry]:
        """Every entry by time; equal times keep the order they were added in."""
        return [entry for _, _, entry in sorted(self._entries, key=lambda e: (e[0], e[1]))]

    @property
    def messages(self) -> list[Message]:
        """The message entries, by time."""
        return [e for e in self.entries if isinstance(e, Message)]

    @property
    def start(self) -> float:
        """The time of the first entry (0.0 for an empty ladder)."""
        return min((t for t, _, _ in self._entries), default=0.0)

    def __len__(self) -> int:
        return len(self._entries)


def _transport(src: Address | str, transport: str | None) -> str:
    if transport:
        return transport
    return src.transport if isinstance(src, Address) else "udp"


def from_capture(capture: Capture, title: str | None = None,
                 names: dict[str, str] | None = None) -> Ladder:
    """A ladder of the SIP messages of a ``sipflow.trace.capture.Capture``.

    ``names`` maps participant keys (``127.0.0.1:5060``) to display names
    (see ``_name``).
    """
    ladder = Ladder(title if title is not None else capture.path)
    for item in capture.messages:
        if item.message is not None:
            ladder.parsed_message(item.time, item.src, item.dst, item.message, item.data)
        else:
            ladder.malformed(item.time, item.src, item.dst, item.data, item.error or "unreadable")
    _name(ladder, names)
    return ladder


def from_loopback(records: Iterable[TraceRecord], title: str = "",
                  names: dict[str, str] | None = None) -> Ladder:
    """A ladder of a ``LoopbackNetwork.trace`` (``TraceRecord``\\ s).

    Delivered messages are placed at their send time (``arrived`` keeps the
    delivery time); dropped and unreachable ones are marked ``lost``.
    """
    ladder = Ladder(title)
    for record in records:
        delivered = record.outcome == "delivered"
        ladder.message(record.sent, record.src, record.dst, record.data,
                       lost=None if delivered else record.outcome,
                       arrived=record.time if delivered else None)
    _name(ladder, names)
    return ladder


def _name(ladder: Ladder, names: dict[str, str] | None) -> None:
    """Name the participants that took part; names never change their order, and
    a name for an address that never appeared adds nothing."""
    for key, name in (names or {}).items():
        if printable(key) in ladder.participants:
            ladder.participant(key, name)
