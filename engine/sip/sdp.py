"""SDP session descriptions (RFC 8866): model, parser, serializer.

Rules:

- ``parse`` takes ``bytes`` or ``str`` and returns a ``SessionDescription``,
  or raises ``SdpError``: one sentence naming the line number and what is
  wrong with it. Nothing else escapes, whatever the input.
- Strict where a mistake means garbage: ``v=0`` first, one ``o=`` with six
  fields and a numeric version, one ``s=``, at least one ``t=``, known line
  types only, well-formed ``m=``, ``c=``, ``b=``, ``t=`` lines, a connection
  address for every active media section, well-formed ``rtpmap``/``fmtp``.
- Lenient where the world is: LF alone is accepted as a line end, trailing
  blanks on ``o= c= b= t= m=`` lines are ignored, the order of lines inside
  a section is not enforced, unknown attributes are kept as they are and in
  order.
- ``serialize`` writes the canonical RFC 8866 order with CRLF line ends, so
  ``parse(d.serialize()) == d`` for every description, and
  ``parse(text).serialize() == text`` for canonical text.

Theory of operation:

A description is plain dataclasses: session-level fields, then a list of
``Media`` sections. Attributes are ``Attribute(name, value)`` in file order
(``value`` is ``None`` for a property attribute such as ``a=sendrecv``);
typed views (``rtpmaps``, ``fmtp``, ``ptime``, ``direction``) read and
write that list, so nothing is stored twice and unknown attributes survive a
round trip. Offer/answer logic lives in ``sipflow.sip.offer_answer``.

``origin_rest`` serves callers that see many bodies differing only in their
``o=`` line (a peer's SDP, call after call): it checks that line as ``parse``
would and returns the rest of the body, on which all else ``parse`` finds
depends, so a result derived from one full parse can be reused.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from sipflow.sip.errors import RemoteProtocolError

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Connection",
    "Media",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "Timing",
    "origin_rest",
    "parse",
    "static_rtpmap",
]

MAX_SDP_BYTES = 65_536
MAX_LINES = 2_000
#: Bodies up to this size may take the ``origin_rest`` fast path.
FAST_PATH_BYTES = 4_096

#: The four direction attributes (RFC 8866 §6.7).
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 8866 token: visible ASCII except the separators.
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+")
_SESSION_TYPES = frozenset("vosiuepcbtrzkam")
_MEDIA_TYPES = frozenset("micbka")
_ONCE_PER_SESSION = frozenset("vosiuczk")
_ONCE_PER_MEDIA = frozenset("ik")
_STRUCTURED = frozenset("ocbtm")


class SdpError(RemoteProtocolError, ValueError):
    """A session description we cannot accept (a ``RemoteProtocolError``:
    answer 400). ``line`` is the 1-based line number at fault (0 when the
    fault is not on one line)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"SDP line {line}: {message}" if line else f"SDP: {message}", 400)
        self.line = line


class RtpMap(NamedTuple):
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


#: RFC 3551 static audio payload types (encoding, clock rate, channels).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
}


def static_rtpmap(payload_type: int) -> RtpMap | None:
    """The RFC 3551 static meaning of ``payload_type`` as an ``RtpMap`` (channels
    ``None`` for one), or ``None`` for a dynamic or unassigned one."""
    static = STATIC_PAYLOAD_TYPES.get(payload_type)
    if static is None:
        return None
    return RtpMap(payload_type, static[0], static[1], static[2] if static[2] != 1 else None)


@dataclass
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>``."""

    username: str = "-"
    sess_id: str = "0"
    sess_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (the address may carry ``/ttl``)."""

    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (kbit/s for ``AS`` and ``CT``)."""

    bwtype: str
    bandwidth: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass
class Timing:
    """``t=<start> <stop>`` and its ``r=`` lines (kept as text)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass
class Attribute:
    """``a=<name>`` (``value`` is ``None``) or ``a=<name>:<value>``."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


class _AttributeView:
    """Typed access over an ``attributes`` list; shared by sessions and media."""

    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name`` (``""`` for a property attribute), or ``None``."""
        for attr in self.attributes:
            if attr.name == name:
                return attr.value if attr.value is not None else ""
        return None

    def attribute_values(self, name: str) -> list[str]:
        """The values of every ``a=name``, in order."""
        return [a.value or "" for a in self.attributes if a.name == name]

    def set_attribute(self, name: str, value: str | None = None) -> None:
        """Replace every ``a=name`` by one (at the first one's place, else at the end)."""
        for index, attr in enumerate(self.attributes):
            if attr.name == name:
                self.attributes[index] = Attribute(name, value)
                self.attributes[index + 1 :] = [
                    a for a in self.attributes[index + 1 :] if a.name != name
                ]
                return
        self.attributes.append(Attribute(name, value))

    def remove_attribute(self, name: str) -> None:
        """Drop every ``a=name``."""
        self.attributes[:] = [a for a in self.attributes if a.name != name]

    @property
    def direction(self) -> str | None:
        """The explicit direction attribute here, or ``None`` when there is none."""
        for attr in self.attributes:
            if attr.name in DIRECTIONS:
                return attr.name
        return None

    @direction.setter
    def direction(self, value: str | None) -> None:
        if value is not None and value not in DIRECTIONS:
            raise ValueError(f"not an SDP direction: {value!r}")
        for index, attr in enumerate(self.attributes):
            if attr.name in DIRECTIONS:
                rest = [a for a in self.attributes[index + 1 :] if a.name not in DIRECTIONS]
                head = [] if value is None else [Attribute(value)]
                self.attributes[index:] = head + rest
                return
        if value is not None:
            self.attributes.append(Attribute(value))


@dataclass
class Media(_AttributeView):
    """One ``m=`` section and the lines that belong to it."""

    media: str = "audio"
    port: int = 0
    proto: str = "RTP/AVP"
    formats: list[str] = field(default_factory=list)
    port_count: int | None = None
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @property
    def is_rtp(self) -> bool:
        """The transport is RTP (``RTP/AVP``, ``RTP/SAVP`` ...): formats are payload types."""
        return self.proto.upper().startswith("RTP/")

    @property
    def payload_types(self) -> list[int]:
        """The formats as payload type numbers (RTP media only)."""
        return [int(f) for f in self.formats] if self.is_rtp else []

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Every ``a=rtpmap`` of the section, by payload type."""
        out: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            rtpmap = _parse_rtpmap(value)
            if rtpmap is not None:
                out[rtpmap.payload_type] = rtpmap
        return out

    def codec(self, payload_type: int) -> RtpMap | None:
        """The payload type's ``rtpmap``, or its RFC 3551 static meaning."""
        rtpmap = self.rtpmaps().get(payload_type)
        return rtpmap if rtpmap is not None else static_rtpmap(payload_type)

    def fmtp(self, payload_type: int) -> str | None:
        """The parameters of ``a=fmtp:<payload_type> ...``, or ``None``."""
        prefix = f"{payload_type} "
        for value in self.attribute_values("fmtp"):
            if value.startswith(prefix):
                return value[len(prefix) :].strip()
        return None

    def lines(self) -> Iterator[str]:
        """The section's lines, without line ends, in RFC 8866 order (``m=`` first)."""
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        yield " ".join([f"m={self.media}", port, self.proto, *self.formats])
        if self.title is not None:
            yield f"i={self.title}"
        yield from (f"c={conn}" for conn in self.connections)
        yield from (f"b={bw}" for bw in self.bandwidths)
        if self.key is not None:
            yield f"k={self.key}"
        yield from (f"a={attr}" for attr in self.attributes)

    @property
    def ptime(self) -> float | None:
        """``a=ptime`` in milliseconds, or ``None``."""
        value = self.attribute("ptime")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            return None


@dataclass
class SessionDescription(_AttributeView):
    """A whole SDP body. ``serialize()`` gives its CRLF wire form."""

    origin: Origin = field(default_factory=Origin)
    name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    times: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        """The lines, without line ends, in RFC 8866 order."""
        yield f"v={self.version}"
        yield f"o={self.origin}"
        yield f"s={self.name}"
        if self.info is not None:
            yield f"i={self.info}"
        if self.uri is not None:
            yield f"u={self.uri}"
        yield from (f"e={email}" for email in self.emails)
        yield from (f"p={phone}" for phone in self.phones)
        if self.connection is not None:
            yield f"c={self.connection}"
        yield from (f"b={bw}" for bw in self.bandwidths)
        for timing in self.times:
            yield f"t={timing.start} {timing.stop}"
            yield from (f"r={repeat}" for repeat in timing.repeats)
        if self.zone is not None:
            yield f"z={self.zone}"
        if self.key is not None:
            yield f"k={self.key}"
        yield from (f"a={attr}" for attr in self.attributes)
        for media in self.media:
            yield from media.lines()

    def to_text(self) -> str:
        """The description as text with CRLF line ends."""
        return "".join(line + "\r\n" for line in self.lines())

    def serialize(self) -> bytes:
        """The description as UTF-8 bytes with CRLF line ends (a SIP body)."""
        return self.to_text().encode("utf-8")

    def __bytes__(self) -> bytes:
        return self.serialize()

    def copy(self) -> SessionDescription:
        """A deep copy, safe to modify."""
        return copy.deepcopy(self)

    def media_direction(self, media: Media) -> str:
        """The effective direction of ``media``: its own, else the session's, else sendrecv."""
        return media.direction or self.direction or "sendrecv"

    def connection_for(self, media: Media) -> Connection | None:
        """The connection that applies to ``media`` (its first ``c=``, else the session's)."""
        return media.connections[0] if media.connections else self.connection


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


def _parse_rtpmap(value: str) -> RtpMap | None:
    # A pure function of short values that repeat call after call: short ones are
    # remembered (bounded in number and size: a peer's long values pin nothing).
    return _read_rtpmap_cached(value) if len(value) <= 64 else _read_rtpmap(value)


def _read_rtpmap(value: str) -> RtpMap | None:
    head, _, tail = value.partition(" ")
    parts = tail.strip().split("/")
    if not head.isdigit() or len(parts) not in (2, 3) or not parts[0]:
        return None
    if not parts[1].isdigit() or (len(parts) == 3 and not parts[2].isdigit()):
        return None
    payload_type = int(head)
    if payload_type > 127:
        return None
    channels = int(parts[2]) if len(parts) == 3 else None
    return RtpMap(payload_type, parts[0], int(parts[1]), channels)


_read_rtpmap_cached = functools.lru_cache(maxsize=512)(_read_rtpmap)


def _parse_int(text: str, what: str, line: int, maximum: int | None = None) -> int:
    if not text.isdigit() or not text.isascii():
        raise SdpError(f"{what} {text!r} is not a number.", line)
    value = int(text)
    if maximum is not None and value > maximum:
        raise SdpError(f"{what} {value} is larger than {maximum}.", line)
    return value


def _parse_connection(value: str, line: int) -> Connection:
    parts = value.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SdpError(f"c= needs '<nettype> <addrtype> <address>', found {value!r}.", line)
    if not _is_token(parts[0]) or not _is_token(parts[1]):
        raise SdpError(f"bad network or address type in c= {value!r}.", line)
    return Connection(parts[0], parts[1], parts[2])


def _parse_bandwidth(value: str, line: int) -> Bandwidth:
    bwtype, colon, amount = value.partition(":")
    if not colon or not _is_token(bwtype):
        raise SdpError(f"b= needs '<bwtype>:<bandwidth>', found {value!r}.", line)
    return Bandwidth(bwtype, _parse_int(amount, "bandwidth", line))


def _parse_origin(value: str, line: int) -> Origin:
    parts = value.split(" ")
    if len(parts) != 6 or not all(parts):
        raise SdpError(
            "o= needs six fields '<username> <sess-id> <sess-version> <nettype> <addrtype> "
            f"<address>', found {value!r}.",
            line,
        )
    username, sess_id, version, nettype, addrtype, address = parts
    return Origin(
        username, sess_id, _parse_int(version, "sess-version", line), nettype, addrtype, address
    )


def _origin_ok(value: str) -> bool:
    """``_parse_origin`` would accept ``value`` (already stripped of trailing blanks)."""
    parts = value.split(" ")
    return len(parts) == 6 and all(parts) and parts[2].isdigit() and parts[2].isascii()


def origin_rest(data: bytes) -> bytes | None:
    """The text after the ``o=`` line of a body whose first line is ``v=0``
    and whose second line is an ``o=`` that ``parse`` accepts; ``None`` for
    any other body (longer than ``FAST_PATH_BYTES``, another shape, or an
    ``o=`` line at fault: ``parse`` then says what is wrong).

    Whether such a body parses, and everything ``parse`` returns for it but
    the origin, depend on this text alone: the ``o=`` line is checked on its
    own and nothing else reads it. So the rest is a key under which a caller
    may keep what it derived from one full parse (``sipflow.sip.offer_answer``
    does, for the peer's bodies, which differ from call to call in ``o=``
    only)."""
    if len(data) > FAST_PATH_BYTES:
        return None
    if data.startswith(b"v=0\r\no="):
        start = 7
    elif data.startswith(b"v=0\no="):
        start = 6
    else:
        return None
    end = data.find(b"\n", start)
    if end < 0:
        return None
    raw = data[start:end - 1] if data[end - 1] == 13 else data[start:end]  # 13: CR
    if b"\r" in raw or b"\0" in raw:
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return data[end + 1 :] if _origin_ok(value.rstrip(" \t")) else None


def _parse_media(value: str, line: int) -> Media:
    parts = value.split(" ")
    if len(parts) < 4 or not all(parts):
        raise SdpError(f"m= needs '<media> <port> <proto> <fmt> ...', found {value!r}.", line)
    media, port_text, proto, *formats = parts
    if not _is_token(media):
        raise SdpError(f"bad media type {media!r}.", line)
    port_text, slash, count_text = port_text.partition("/")
    port = _parse_int(port_text, "port", line, 65535)
    port_count = _parse_int(count_text, "port count", line) if slash else None
    if port_count == 0:
        raise SdpError("port count 0.", line)
    if not all(_is_token(p) for p in proto.split("/")):
        raise SdpError(f"bad transport protocol {proto!r}.", line)
    result = Media(media, port, proto, formats, port_count)
    if result.is_rtp:
        for fmt in formats:
            _parse_int(fmt, "RTP payload type", line, 127)
    return result


def _parse_attribute(value: str, line: int) -> Attribute:
    name, colon, rest = value.partition(":")
    if not _is_token(name):
        raise SdpError(f"bad attribute name {name!r}.", line)
    attr = Attribute(name, rest if colon else None)
    if name == "rtpmap" and _parse_rtpmap(rest) is None:
        raise SdpError(
            f"a=rtpmap needs '<payload type> <encoding>/<clock rate>[/<channels>]', found {rest!r}.",
            line,
        )
    if name == "fmtp":
        head, _, params = rest.partition(" ")
        if not head or not _is_token(head) or not params.strip():
            raise SdpError(f"a=fmtp needs '<format> <parameters>', found {rest!r}.", line)
    if name == "ptime":
        try:
            ok = float(rest) > 0
        except ValueError:
            ok = False
        if not ok or not colon:
            raise SdpError(
                f"a=ptime needs a positive number of milliseconds, found {rest!r}.", line
            )
    if name in DIRECTIONS and colon:
        raise SdpError(f"a={name} takes no value.", line)
    return attr


def _split_lines(data: bytes | str) -> list[str]:
    if isinstance(data, str):
        text = data
        if len(text) > MAX_SDP_BYTES:
            raise SdpError(f"description longer than {MAX_SDP_BYTES} bytes.")
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > MAX_SDP_BYTES:
            raise SdpError(f"description longer than {MAX_SDP_BYTES} bytes.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            raise SdpError("not valid UTF-8.", line) from None
    else:
        raise SdpError(f"expected bytes or str, got {type(data).__name__}.")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LINES:
        raise SdpError(f"more than {MAX_LINES} lines.")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; raises ``SdpError`` naming the line at fault."""
    lines = _split_lines(data)
    if not lines:
        raise SdpError("empty description.")
    desc = SessionDescription(times=[])
    seen: set[str] = set()
    media: Media | None = None
    media_seen: set[str] = set()
    media_lines: list[int] = []
    for number, line in enumerate(lines, start=1):
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"expected '<type>=<value>', found {line[:40]!r}.", number)
        kind, value = line[0], line[2:]
        if "\r" in value or "\0" in value:
            raise SdpError("stray CR or NUL inside the line.", number)
        if kind in _STRUCTURED:
            value = value.rstrip(" \t")  # trailing blanks are common and harmless
        if number == 1:
            if line != "v=0":
                raise SdpError(f"a description starts with 'v=0', found {line[:40]!r}.", number)
            desc.version = 0
            seen.add("v")
            continue
        if kind not in _SESSION_TYPES:
            raise SdpError(f"unknown line type '{kind}='.", number)
        if kind == "m":
            media = _parse_media(value, number)
            desc.media.append(media)
            media_seen = set()
            media_lines.append(number)
            continue
        if media is None:
            if kind in _ONCE_PER_SESSION and kind in seen:
                raise SdpError(f"second '{kind}=' line in the session section.", number)
            seen.add(kind)
            _session_line(desc, kind, value, number)
        else:
            if kind not in _MEDIA_TYPES:
                raise SdpError(f"'{kind}=' is not allowed inside a media section.", number)
            if kind in _ONCE_PER_MEDIA and kind in media_seen:
                raise SdpError(f"second '{kind}=' line in a media section.", number)
            media_seen.add(kind)
            _media_line(media, kind, value, number)
    for kind, what in (("o", "o= (origin)"), ("s", "s= (session name)"), ("t", "t= (timing)")):
        if kind not in seen:
            raise SdpError(f"the session has no {what} line.", len(lines))
    for number, section in zip(media_lines, desc.media, strict=True):
        if section.port != 0 and desc.connection is None and not section.connections:
            raise SdpError("media section has no c= line and the session has none.", number)
    return desc


def _session_line(desc: SessionDescription, kind: str, value: str, number: int) -> None:
    if kind == "o":
        desc.origin = _parse_origin(value, number)
    elif kind == "s":
        if value == "":
            raise SdpError("s= may not be empty (use 's=-').", number)
        desc.name = value
    elif kind == "i":
        desc.info = value
    elif kind == "u":
        desc.uri = value
    elif kind == "e":
        desc.emails.append(value)
    elif kind == "p":
        desc.phones.append(value)
    elif kind == "c":
        desc.connection = _parse_connection(value, number)
    elif kind == "b":
        desc.bandwidths.append(_parse_bandwidth(value, number))
    elif kind == "t":
        start, _, stop = value.partition(" ")
        desc.times.append(
            Timing(_parse_int(start, "start time", number), _parse_int(stop, "stop time", number))
        )
    elif kind == "r":
        if not desc.times:
            raise SdpError("r= before any t= line.", number)
        desc.times[-1].repeats.append(value)
    elif kind == "z":
        desc.zone = value
    elif kind == "k":
        desc.key = value
    elif kind == "a":
        desc.attributes.append(_parse_attribute(value, number))
    else:  # pragma: no cover - "v" after line 1 and "m" are handled by the caller
        raise SdpError(f"'{kind}=' out of place.", number)


def _media_line(media: Media, kind: str, value: str, number: int) -> None:
    if kind == "i":
        media.title = value
    elif kind == "c":
        media.connections.append(_parse_connection(value, number))
    elif kind == "b":
        media.bandwidths.append(_parse_bandwidth(value, number))
    elif kind == "k":
        media.key = value
    else:
        media.attributes.append(_parse_attribute(value, number))
