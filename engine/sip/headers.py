"""Typed values of structured SIP headers: Via (RFC 3261 §20.42, RFC 3581),
CSeq (§20.16), RAck (RFC 3262 §7.2), Content-Type (§20.15), and the integer
headers.

Rules:

- Every ``parse`` takes the header value as text (already unfolded by the
  message layer), raises ``RemoteProtocolError`` (status 400 unless noted)
  with one sentence naming the header and the offending text, and raises
  nothing else on any input.
- ``__str__`` writes a value the parser reads back to an equal value.
- Parameter names are lower-cased; values are kept as written.

These are plain value objects: they know nothing about messages, and a
message caches them (see ``sipflow.sip.message``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sipflow.sip.errors import RemoteProtocolError, show
from sipflow.sip.uri import (
    _HOSTNAME,
    _PVALUE,
    _TOKEN,
    _TOKEN_RE,
    _parse_host,
    _split_plain_params,
    format_params,
    parse_params,
)

__all__ = ["Via", "CSeq", "RAck", "ContentType", "parse_int_header", "MAX_CSEQ"]

# The 14 methods, each mapped to one shared string: a parsed CSeq's method is
# this string, not a slice of each message (a lingering transaction's key
# keeps it for 32 s: ~55 B a transaction saved).
_METHODS = {
    m: m
    for m in "INVITE ACK BYE CANCEL OPTIONS REGISTER PRACK UPDATE INFO SUBSCRIBE NOTIFY "
    "REFER MESSAGE PUBLISH".split()
}

MAX_CSEQ = 2**32 - 1
"""Largest CSeq / RSeq number accepted from a peer (RFC 3261 §8.1.1.5 asks
senders for less than 2**31; receivers accept 32 bits)."""

# SIP / 2.0 / transport  sent-by  (LWS allowed around the slashes)
_VIA_RE = re.compile(
    r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*"
    r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+([^;]+?)[ \t]*(;.*)?",
    re.S,
)

# The common shape, one regex; anything else takes the general path above.
_FAST_VIA_RE = re.compile(
    rf"SIP/2\.0/({_TOKEN}) ({_HOSTNAME})(?::([0-9]{{1,5}}))?((?:;{_TOKEN}(?:={_PVALUE})?)*+)"
)

_FAST_MEDIA_RE = re.compile(rf"{_TOKEN}/{_TOKEN}")


class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``."""

    __slots__ = ("transport", "host", "port", "params", "protocol")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self.params: dict[str, str | None] = dict(params) if params else {}
        self.protocol = protocol

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one Via value (not a comma list); raises ``RemoteProtocolError``."""
        fast = cls.match_fast(text)
        if fast is not None:
            return cls._from_match(fast)
        m = _VIA_RE.fullmatch(text.strip())
        if m is None:
            raise RemoteProtocolError(f"Via header: malformed value {show(text.strip())}")
        name, version, transport, sent_by, params = m.groups()
        if name.upper() != "SIP":
            raise RemoteProtocolError(f"Via header: unknown protocol {show(name)} in {show(text.strip())}")
        sent_by = sent_by.replace(" ", "").replace("\t", "")
        host, port = _parse_host(sent_by, "Via header")
        via = cls.__new__(cls)
        via.protocol = f"{name}/{version}"
        via.transport = transport.upper()
        via.host = host
        via.port = port
        via.params = parse_params(params, "Via header") if params else {}
        return via

    @staticmethod
    def match_fast(text: str) -> re.Match[str] | None:
        """The fast-path match of a common-shaped Via value, or ``None`` when
        only ``parse`` can tell; ``_from_match`` builds the value later."""
        m = _FAST_VIA_RE.fullmatch(text)
        if m is not None:
            port = m.group(3)
            if port is None or int(port) <= 65535:
                return m
        return None

    @classmethod
    def _from_match(cls, m: re.Match[str]) -> Via:
        transport, host, port, params = m.groups()
        via = cls.__new__(cls)
        via.protocol = "SIP/2.0"
        via.transport = transport.upper()
        via.host = host
        via.port = None if port is None else int(port)
        via.params = _split_plain_params(params) if params else {}
        return via

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter (transaction id), or ``None``."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter, or ``None``."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value when it has one (RFC 3581); ``None`` when absent
        or a bare flag (see ``has_rport``)."""
        value = self.params.get("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def has_rport(self) -> bool:
        """True when the ``rport`` parameter is present (with or without value)."""
        return "rport" in self.params

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as written in the Via (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def copy(self) -> Via:
        """A copy whose parameters can be changed independently."""
        return Via(self.transport, self.host, self.port, self.params, self.protocol)

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return str(self) == str(other)

    __hash__ = None  # type: ignore[assignment]  # mutable


def _parse_seq(text: str, header: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise RemoteProtocolError(f"{header} header: sequence number {show(text)} is not a number")
    if len(text) > 10 or int(text) > MAX_CSEQ:
        raise RemoteProtocolError(f"{header} header: sequence number {text} exceeds 2**32-1")
    return int(text)


class CSeq(NamedTuple):
    """``CSeq: 314159 INVITE``."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse a CSeq value; raises ``RemoteProtocolError``."""
        seq, sp, method = text.partition(" ")
        known = _METHODS.get(method)
        if known is not None and seq.isascii() and seq.isdigit() and len(seq) < 10:
            return tuple.__new__(cls, (int(seq), known))  # what cls(...) does, one call less
        parts = text.split()
        if len(parts) != 2:
            raise RemoteProtocolError(f"CSeq header: malformed value {show(text.strip())}")
        seq, method = parts
        if _TOKEN_RE.fullmatch(method) is None:
            raise RemoteProtocolError(f"CSeq header: invalid method {show(method)}")
        return cls(_parse_seq(seq, "CSeq"), _METHODS.get(method, method))

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


class RAck(NamedTuple):
    """``RAck: rseq cseq method`` (RFC 3262 §7.2)."""

    rseq: int
    cseq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> RAck:
        """Parse an RAck value; raises ``RemoteProtocolError``."""
        parts = text.split()
        if len(parts) != 3 or _TOKEN_RE.fullmatch(parts[2]) is None:
            raise RemoteProtocolError(f"RAck header: malformed value {show(text.strip())}")
        return cls(_parse_seq(parts[0], "RAck"), _parse_seq(parts[1], "RAck"), parts[2])

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


class ContentType(NamedTuple):
    """``type/subtype;params``: ``media`` lower-case, parameters lower-case
    names (``boundary``, ``charset`` ...)."""

    media: str
    params: dict[str, str | None]

    @classmethod
    def parse(cls, text: str, header: str = "Content-Type") -> ContentType:
        """Parse a media type with parameters; raises ``RemoteProtocolError``."""
        if _FAST_MEDIA_RE.fullmatch(text) is not None:  # the common case: no parameters
            return cls(text.lower(), {})
        media, _, params = text.partition(";")
        media = media.strip()
        mtype, slash, subtype = media.partition("/")
        mtype, subtype = mtype.strip(), subtype.strip()
        if not slash or _TOKEN_RE.fullmatch(mtype) is None or _TOKEN_RE.fullmatch(subtype) is None:
            raise RemoteProtocolError(f"{header} header: malformed media type {show(text.strip())}")
        return cls(f"{mtype}/{subtype}".lower(), parse_params(params, f"{header} header"))

    @property
    def boundary(self) -> str | None:
        """The multipart boundary, unquoted, or ``None``."""
        value = self.params.get("boundary")
        if value and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            return value[1:-1]
        return value

    def __str__(self) -> str:
        return self.media + format_params(self.params)


def parse_int_header(text: str, header: str, maximum: int = MAX_CSEQ) -> int:
    """Parse a header whose value is a non-negative decimal integer
    (Max-Forwards, Expires, Content-Length, RSeq, Min-Expires ...)."""
    value = text.strip()
    if not value.isdigit() or not value.isascii():
        raise RemoteProtocolError(f"{header} header: {show(value)} is not a non-negative integer")
    if len(value) > 10 or int(value) > maximum:
        raise RemoteProtocolError(f"{header} header: value {value} exceeds {maximum}")
    return int(value)
