"""Multipart bodies (RFC 2046 §5.1, as used by SIP: RFC 3261 §7.4, RFC 5621).

Rules:

- ``parse_multipart(body, content_type)`` splits a ``multipart/*`` body into
  ``BodyPart``s (their own ``Headers`` and raw ``body`` bytes, binary-safe:
  NULs and CRLFs inside a part are kept). Preamble and epilogue are ignored.
  Any defect raises ``RemoteProtocolError`` (status 400) naming what is
  wrong; ``MAX_PARTS`` caps the number of parts.
- ``build_multipart(parts)`` writes parts back and returns the Content-Type
  value to put on the message together with the body bytes; a boundary is
  chosen that occurs in no part.
- Nested multiparts are parts like any other: parse them again.

Theory of operation: a delimiter is ``CRLF--boundary`` (the CRLF belongs to
the delimiter, RFC 2046), so each part is the bytes between the end of one
delimiter line and the CRLF before the next; ``bytes.find`` does the work.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError, show
from sipflow.sip.headers import ContentType
from sipflow.sip.message import Headers

__all__ = ["BodyPart", "parse_multipart", "build_multipart", "MAX_PARTS"]

MAX_PARTS = 64
"""Most parts accepted in one multipart body."""


class BodyPart:
    """One part: ``headers`` (Content-Type, Content-Disposition ...) and ``body``."""

    __slots__ = ("headers", "body")

    def __init__(self, headers: Headers | Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = bytes(body)

    @property
    def content_type(self) -> str | None:
        """The part's media type in lower case (``text/plain`` when absent, RFC 2046)."""
        value = self.headers.get("content-type")
        if value is None:
            return None
        return ContentType.parse(value).media

    def __repr__(self) -> str:
        return f"BodyPart({self.content_type!r}, {len(self.body)} bytes)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BodyPart):
            return NotImplemented
        return self.headers == other.headers and self.body == other.body

    __hash__ = None  # type: ignore[assignment]


def _part_headers(head: bytes, index: int) -> Headers:
    text = head.decode("utf-8", "surrogateescape")
    fields: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or any(c in name for c in " \t"):
            raise RemoteProtocolError(f"multipart body: part {index} has a malformed header line {show(line[:60])}")
        fields.append((name, value.strip()))
    return Headers(fields)


def parse_multipart(body: bytes, content_type: str | ContentType) -> list[BodyPart]:
    """Split a multipart body; raises ``RemoteProtocolError`` when malformed."""
    ctype = ContentType.parse(content_type) if isinstance(content_type, str) else content_type
    if not ctype.media.startswith("multipart/"):
        raise RemoteProtocolError(f"Content-Type header: {show(ctype.media)} is not multipart")
    boundary = ctype.boundary
    if not boundary:
        raise RemoteProtocolError("Content-Type header: multipart without a boundary parameter")
    delim = b"--" + boundary.encode("utf-8", "surrogateescape")
    if body.startswith(delim):
        pos = 0
    else:
        pos = body.find(b"\r\n" + delim)
        if pos < 0:
            raise RemoteProtocolError(f"multipart body: boundary {show(boundary)} not found")
        pos += 2
    parts: list[BodyPart] = []
    while True:
        after = pos + len(delim)
        if body[after : after + 2] == b"--":
            return parts
        eol = body.find(b"\r\n", after)
        if eol < 0 or body[after:eol].strip(b" \t"):
            raise RemoteProtocolError("multipart body: malformed boundary line")
        if len(parts) >= MAX_PARTS:
            raise RemoteProtocolError(f"multipart body: more than {MAX_PARTS} parts")
        start = eol + 2
        nxt = body.find(b"\r\n" + delim, eol)
        if nxt < 0:
            raise RemoteProtocolError("multipart body: no closing boundary")
        chunk = body[start:nxt] if nxt >= start else b""
        index = len(parts) + 1
        if chunk.startswith(b"\r\n") or not chunk:
            parts.append(BodyPart(Headers(), chunk[2:]))
        else:
            head, sep, content = chunk.partition(b"\r\n\r\n")
            if not sep:
                raise RemoteProtocolError(f"multipart body: part {index} has no empty line after its headers")
            parts.append(BodyPart(_part_headers(head, index), content))
        pos = nxt + 2


def build_multipart(
    parts: Iterable[BodyPart], subtype: str = "mixed", boundary: str | None = None
) -> tuple[str, bytes]:
    """Serialize parts; returns (Content-Type value, body)."""
    parts = list(parts)
    if not parts:
        raise LocalProtocolError("a multipart body needs at least one part")
    if boundary is None:
        boundary = secrets.token_hex(8)
        while any(boundary.encode() in p.body for p in parts):  # pragma: no cover - 2**-64
            boundary = secrets.token_hex(8)
    delim = b"--" + boundary.encode()
    out = bytearray()
    for part in parts:
        if delim in part.body:
            raise LocalProtocolError(f"boundary {boundary!r} occurs inside a part")
        out += delim + b"\r\n"
        for line in part.headers.lines():
            out += line.encode("utf-8", "surrogateescape") + b"\r\n"
        out += b"\r\n" + part.body + b"\r\n"
    out += delim + b"--\r\n"
    return f"multipart/{subtype};boundary={boundary}", bytes(out)
