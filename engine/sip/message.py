"""The SIP message model: ``Headers``, ``Request``, ``Response`` (RFC 3261 §7, §20).

Rules:

- Header values are ``str``. Bytes are decoded as UTF-8 with
  ``surrogateescape`` and encoded back the same way, so any byte sequence
  round-trips exactly, and UTF-8 display names read naturally.
- ``Headers`` is an ordered multi-map of fields in wire order. Names compare
  case-insensitively and compact forms (``v``, ``f``, ``t``, ``i``, ``m``,
  ``l``, ``c``, ``s``, ``k``, ``e``, ``o``, ``u``, ``r``, ``b``, ``x``, ``y``,
  ``a``, ``j``, ``d``) are normalised to their full names for lookup. A field
  that came off the wire keeps its original text and is serialized byte-exact
  until it is replaced.
- Typed accessors (``cseq``, ``vias``, ``from_`` ...) parse on first use and
  cache the result in the ``Headers``; a change to a header drops the values
  derived from it (and only those: see ``_CACHED_FROM``). They
  raise ``RemoteProtocolError`` for a malformed or missing header. The parser
  may leave a validated fast-path regex match in the cache instead of the
  value (top Via, From, To, Contact); the accessor builds the value from it.
- ``serialize()`` sets ``Content-Length`` from the body (changing the header
  only if it is missing or wrong) and returns the bytes to send.
- Performance: fields are immutable tuples of strings (the garbage collector
  stops tracking them; responses share the request's fields); ``rebuild``
  turns bytes this module wrote back into an equal message without the
  parser's checks (the transaction layer keeps lingering messages as bytes).

Theory of operation: this module holds data and knows no grammar beyond
field names; the start-line and eager checks live in ``sipflow.sip.parser``,
structured header values in ``sipflow.sip.uri`` and ``sipflow.sip.headers``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.headers import MAX_CSEQ, ContentType, CSeq, RAck, Via, parse_int_header
from sipflow.sip.uri import NameAddr, SipUri, _split_plain_params, split_list

__all__ = [
    "Headers",
    "SipMessage",
    "Request",
    "Response",
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "canonical_name",
    "rebuild",
]

COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}
"""Compact header names (RFC 3261 §7.3.3 and later RFCs) to lower-case full names."""

LIST_HEADERS: frozenset[str] = frozenset(
    {
        "via", "route", "record-route", "contact", "allow", "supported", "require",
        "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
        "allow-events", "content-encoding", "content-language", "in-reply-to", "path",
        "service-route", "alert-info", "call-info", "error-info", "warning",
        "accept-contact", "reject-contact", "request-disposition", "security-client",
        "security-server", "security-verify", "history-info", "reason", "p-asserted-identity",
        "privacy",
    }
)
"""Headers whose value is a comma-separated list (RFC 3261 §7.3.1); ``get_all``
splits them. Authorization-style headers are not lists."""

_CANONICAL: dict[str, str] = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "rack": "RAck", "rseq": "RSeq", "mime-version": "MIME-Version", "min-se": "Min-SE",
    "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}

_KEYS: dict[str, str] = {}
_MISSING = object()
_NO_TOKENS: frozenset[str] = frozenset()
_TAG_KEYS = {"from": "from_tag", "to": "to_tag"}  # accessor cache: header key -> its tag's key

Field = tuple[str, str, str, str | None]
"""One header field: (lookup key, name as written, value, original text or None)."""


def _key(name: str) -> str:
    """Lookup key of a header name: lower case, compact form expanded."""
    key = _KEYS.get(name)
    if key is None:
        lower = name.strip().lower()
        key = COMPACT_FORMS.get(lower, lower)
        if len(_KEYS) < 4096:
            _KEYS[name] = key
    return key


def canonical_name(name: str) -> str:
    """The conventional spelling of a header name (``call-id`` -> ``Call-ID``,
    ``v`` -> ``Via``)."""
    key = _key(name)
    return _CANONICAL.get(key) or "-".join(p.capitalize() for p in key.split("-"))


_BAD_NAME = frozenset(": \t\r\n")


def _check_field(name: str, value: str) -> None:
    if not name or not _BAD_NAME.isdisjoint(name):
        raise LocalProtocolError(f"invalid header name {name!r}")
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"header {name}: value contains a line break")


_VALID_KEYS: dict[str, str] = {}  # names already checked by _check_field -> lookup key


def _checked_key(name: str, value: str) -> str:
    """``_check_field`` then the lookup key; a name seen before skips its check."""
    key = _VALID_KEYS.get(name)
    if key is None:
        _check_field(name, value)
        key = _key(name)
        if len(_VALID_KEYS) < 4096:
            _VALID_KEYS[name] = key
    elif "\r" in value or "\n" in value:
        _check_field(name, value)  # raises
    return key


# The accessor cache lives in ``Headers`` (see ``Headers._cache``): which of its
# entries each header key feeds. A change to a field of that key drops exactly
# these entries; a change to any other header (Content-Length, Server ...)
# keeps them all. Every accessor that caches must be listed here.
_CACHED_FROM: dict[str, tuple[str, ...]] = {
    "via": ("top_via", "top_branch", "vias"),
    "from": ("from", "from_tag"),
    "to": ("to", "to_tag"),
    "call-id": ("call_id",),
    "cseq": ("cseq",),
    "contact": ("contact",),
    "route": ("route",),
    "record-route": ("record_route",),
    "max-forwards": ("max_forwards",),
    "expires": ("expires",),
    "rseq": ("rseq",),
    "content-type": ("content_type",),
    "supported": ("supported",),
    "require": ("require",),
    "proxy-require": ("proxy_require",),
}


class Headers:
    """Ordered multi-map of header fields (see the module rules).

    Each field is a tuple ``(key, name, value, raw)``: lookup key, name as
    written, trimmed and unfolded value, and the original line(s) or ``None``
    once the field was created or changed locally. Fields are immutable
    (changes replace them), so copies and responses share them, and the
    garbage collector stops tracking them (tuples of strings).

    ``_cache`` holds the typed values the message accessors derived from
    these fields; every change drops the entries of the changed key
    (``_CACHED_FROM``), so a value is never read stale and an unrelated
    change (a response gaining Content-Length or Server) costs no re-parse."""

    __slots__ = ("_fields", "_first", "_cache")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._first: dict[str, Field] | None = None
        self._cache: dict[str, Any] = {}
        out: list[Field] = []
        for name, value in fields:
            out.append((_checked_key(name, value), name, value.strip(), None))
        self._fields: list[Field] = out

    @classmethod
    def _from_wire(
        cls,
        fields: list[Field],
        first: dict[str, Field] | None = None,
        cache: dict[str, Any] | None = None,
    ) -> Headers:
        """Build from parsed fields (used by the parser; no copying)."""
        h = cls.__new__(cls)
        h._fields = fields
        h._first = first
        h._cache = {} if cache is None else cache
        return h

    # -- reading -----------------------------------------------------------
    def _index(self) -> dict[str, Field]:
        """First field of each key (built lazily, dropped on mutation)."""
        first: dict[str, Field] = {}
        for f in self._fields:
            if f[0] not in first:
                first[f[0]] = f
        self._first = first
        return first

    def _changed(self, key: str) -> None:
        """Fields of ``key`` changed: drop the cached values derived from them."""
        cache = self._cache
        if cache:
            names = _CACHED_FROM.get(key)
            if names is not None:
                for name in names:
                    cache.pop(name, None)

    def get(self, name: str) -> str | None:
        """The first field's value (trimmed, unfolded), or ``None``."""
        first = self._first
        if first is None:
            first = self._index()
        f = first.get(_KEYS.get(name) or _key(name))
        return None if f is None else f[2]

    def get_all(self, name: str) -> list[str]:
        """Every value across all fields of ``name``, in order; for list
        headers (``LIST_HEADERS``) comma-separated values are split."""
        key = _KEYS.get(name) or _key(name)
        first = self._first
        if first is not None and key not in first:  # absent (Require, Record-Route ...): no scan
            return []
        if key in LIST_HEADERS:
            out: list[str] = []
            for f in self._fields:
                if f[0] == key:
                    out.extend(split_list(f[2]))
            return out
        return [f[2] for f in self._fields if f[0] == key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        first = self._first
        if first is None:
            first = self._index()
        return (_KEYS.get(name) or _key(name)) in first

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as written, value) for every field, in wire order."""
        return iter([(f[1], f[2]) for f in self._fields])

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(f[0], f[2]) for f in self._fields] == [(f[0], f[2]) for f in other._fields]

    __hash__ = None  # type: ignore[assignment]  # mutable

    # -- writing -----------------------------------------------------------
    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` with one field holding ``value``,
        at the position of the first one (appended when absent)."""
        _check_field(name, value)
        key = _key(name)
        new: Field = (key, name, value.strip(), None)
        fields = self._fields
        for i, f in enumerate(fields):
            if f[0] == key:
                fields[i] = new
                self._fields = fields[: i + 1] + [g for g in fields[i + 1 :] if g[0] != key]
                break
        else:
            fields.append(new)
        self._changed(key)
        if self._first is not None:  # keep the index: ``new`` is now the first of its key
            self._first[key] = new

    def add(self, name: str, value: str, first: bool = False) -> None:
        """Add a field: after the others (default), or before the first field
        of the same name when ``first`` (e.g. a new top Via or Route)."""
        key = _checked_key(name, value)
        new: Field = (key, name, value.strip(), None)
        index = self._first
        if first:
            for i, f in enumerate(self._fields):
                if f[0] == key:
                    self._fields.insert(i, new)
                    break
            else:
                self._fields.append(new)
            if index is not None:
                index[key] = new
        else:
            self._fields.append(new)
            if index is not None and key not in index:
                index[key] = new
        self._changed(key)

    def remove(self, name: str) -> int:
        """Remove every field of ``name``; returns how many were removed."""
        key = _key(name)
        before = len(self._fields)
        self._fields = [f for f in self._fields if f[0] != key]
        removed = before - len(self._fields)
        if removed:
            self._changed(key)
            if self._first is not None:
                self._first.pop(key, None)
        return removed

    def remove_first_value(self, name: str) -> str | None:
        """Remove the first element of a list header (e.g. the top Via or
        Route, even when several share one field); returns it or ``None``."""
        key = _key(name)
        for i, f in enumerate(self._fields):
            if f[0] == key:
                values = split_list(f[2])
                if len(values) <= 1:
                    del self._fields[i]
                else:
                    self._fields[i] = (key, f[1], ", ".join(values[1:]), None)
                self._changed(key)
                self._first = None
                return values[0] if values else None
        return None

    def copy(self) -> Headers:
        """An independent copy (fields keep their original text; the copy
        parses its typed values afresh)."""
        h = Headers.__new__(Headers)
        h._fields = list(self._fields)  # fields are immutable tuples
        h._first = None
        h._cache = {}
        return h

    def lines(self) -> list[str]:
        """The header lines as they will be serialized (no CRLF)."""
        return [f[3] if f[3] is not None else f"{f[1]}: {f[2]}" for f in self._fields]


class SipMessage:
    """What requests and responses share: headers, body, typed accessors and
    serialization. ``source`` is free for drivers (e.g. the ``Address`` a
    message came from). The typed accessors cache their values in
    ``headers._cache`` (see ``Headers``)."""

    __slots__ = ("headers", "body", "source")

    is_request: bool = False
    version: str = "SIP/2.0"

    def __init__(self, headers: Headers | Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.headers: Headers = headers if isinstance(headers, Headers) else Headers(headers)
        if not isinstance(body, bytes | bytearray):
            raise LocalProtocolError(f"body must be bytes, not {type(body).__name__}")
        self.body: bytes = bytes(body)
        self.source: Any = None

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(f"missing {canonical_name(name)} header")
        return value

    # -- typed accessors ---------------------------------------------------
    @property
    def call_id(self) -> str:
        """The Call-ID."""
        cache = self.headers._cache
        value = cache.get("call_id")
        if value is None:
            value = cache["call_id"] = self._required("call-id")
        return value

    @property
    def cseq(self) -> CSeq:
        """The CSeq (number and method)."""
        cache = self.headers._cache
        value = cache.get("cseq")
        if value is None:
            value = cache["cseq"] = CSeq.parse(self._required("cseq"))
        return value

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first."""
        cache = self.headers._cache
        value = cache.get("vias")
        if value is None:
            value = cache["vias"] = [Via.parse(v) for v in self.headers.get_all("via")]
        return value

    @property
    def top_via(self) -> Via:
        """The first Via value (RemoteProtocolError when there is none)."""
        cache = self.headers._cache
        value = cache.get("top_via")
        if value is None:
            first = self.headers.get("via")
            if first is None:
                raise RemoteProtocolError("missing Via header")
            items = split_list(first)
            if not items:
                raise RemoteProtocolError("Via header: empty value")
            value = cache["top_via"] = Via.parse(items[0])
        elif type(value) is re.Match:  # validated by the parser, built on first use
            value = cache["top_via"] = Via._from_match(value)
            cache.pop("top_branch", None)  # from now on the Via is authoritative
        return value

    def _top_branch(self) -> str | None:
        """The top Via's branch (what client matching needs), read from the
        fast-path match without building the ``Via`` when it can be; the same
        value and errors as ``top_via.branch``."""
        h = self.headers
        cache = h._cache
        branch = cache.get("top_branch", _MISSING)
        if branch is not _MISSING:
            return branch  # type: ignore[return-value]
        value = cache.get("top_via")
        if value is None:  # a message we built: validate as the parser does
            text = h.get("via")
            if text is not None and "," not in text:
                value = Via.match_fast(text)
                if value is not None:
                    cache["top_via"] = value
        if type(value) is re.Match:
            params = value.group(4)
            branch = cache["top_branch"] = _split_plain_params(params).get("branch") if params else None
            return branch  # type: ignore[return-value]
        return self.top_via.branch

    def _name_addr(self, key: str, where: str) -> NameAddr:
        cache = self.headers._cache
        value = cache.get(key)
        if value is None:
            value = cache[key] = NameAddr.parse(self._required(key), where)
        elif type(value) is re.Match:  # validated by the parser, built on first use
            value = cache[key] = NameAddr._from_match(value)
            tag_key = _TAG_KEYS.get(key)
            if tag_key is not None:  # from now on the NameAddr is authoritative
                cache.pop(tag_key, None)
        return value

    @property
    def from_(self) -> NameAddr:
        """The From header as a ``NameAddr``."""
        return self._name_addr("from", "From header")

    @property
    def to(self) -> NameAddr:
        """The To header as a ``NameAddr``."""
        return self._name_addr("to", "To header")

    def _tag(self, key: str, tag_key: str, where: str) -> str | None:
        """The tag of From/To. While the header is still the parser's validated
        match, the tag is read from the match's parameters (cached under
        ``tag_key``) without building the ``NameAddr``; once built, the
        ``NameAddr`` is authoritative."""
        cache = self.headers._cache
        value = cache.get(key)
        if value is None:  # not parsed yet (a message we built): validate as the parser does
            m = NameAddr.match_fast(self._required(key).strip())
            if m is not None:
                value = cache[key] = m
        if type(value) is re.Match:
            tag = cache.get(tag_key, _MISSING)
            if tag is _MISSING:
                tag = cache[tag_key] = NameAddr._match_tag(value)
            return tag  # type: ignore[return-value]
        if value is None:
            value = self._name_addr(key, where)
        return value.params.get("tag")

    @property
    def from_tag(self) -> str | None:
        """The From tag, or ``None``."""
        tag = self.headers._cache.get("from_tag", _MISSING)
        if tag is _MISSING:
            return self._tag("from", "from_tag", "From header")
        return tag  # type: ignore[return-value]

    @property
    def to_tag(self) -> str | None:
        """The To tag, or ``None``."""
        tag = self.headers._cache.get("to_tag", _MISSING)
        if tag is _MISSING:
            return self._tag("to", "to_tag", "To header")
        return tag  # type: ignore[return-value]

    def _name_addr_list(self, key: str, name: str) -> list[NameAddr]:
        cache = self.headers._cache
        value = cache.get(key)
        if value is None:
            where = f"{canonical_name(name)} header"
            value = [
                NameAddr.parse(v, where) for v in self.headers.get_all(name) if v != "*"
            ]
            cache[key] = value
        elif value and type(value[0]) is re.Match:  # validated by the parser
            value = cache[key] = [NameAddr._from_match(m) for m in value]
        return value

    @property
    def contact(self) -> list[NameAddr]:
        """Every Contact value; ``Contact: *`` yields ``[]`` (see ``contact_star``)."""
        return self._name_addr_list("contact", "contact")

    @property
    def contact_star(self) -> bool:
        """True for ``Contact: *`` (REGISTER removing every binding)."""
        return "*" in self.headers.get_all("contact")

    @property
    def route(self) -> list[NameAddr]:
        """The Route set, in order."""
        return self._name_addr_list("route", "route")

    @property
    def record_route(self) -> list[NameAddr]:
        """The Record-Route values, in order."""
        return self._name_addr_list("record_route", "record-route")

    def _int(self, key: str, name: str, maximum: int = MAX_CSEQ) -> int | None:
        cache = self.headers._cache
        if key in cache:
            return cache[key]
        text = self.headers.get(name)
        value = None if text is None else parse_int_header(text, canonical_name(name), maximum)
        cache[key] = value
        return value

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, or ``None`` when absent."""
        return self._int("max_forwards", "max-forwards", 255)

    @property
    def expires(self) -> int | None:
        """Expires (seconds), or ``None`` when absent."""
        return self._int("expires", "expires")

    @property
    def rseq(self) -> int | None:
        """RSeq (RFC 3262), or ``None`` when absent."""
        return self._int("rseq", "rseq")

    @property
    def rack(self) -> RAck | None:
        """RAck (RFC 3262), or ``None`` when absent."""
        text = self.headers.get("rack")
        return None if text is None else RAck.parse(text)

    @property
    def content_type(self) -> str | None:
        """The media type in lower case (``application/sdp``), no parameters."""
        info = self.content_type_info
        return None if info is None else info.media

    @property
    def content_type_info(self) -> ContentType | None:
        """Content-Type with its parameters (boundary, charset ...)."""
        cache = self.headers._cache
        if "content_type" in cache:
            return cache["content_type"]
        text = self.headers.get("content-type")
        value = None if text is None else ContentType.parse(text)
        cache["content_type"] = value
        return value

    def _token_set(self, key: str, name: str) -> frozenset[str]:
        cache = self.headers._cache
        value = cache.get(key)
        if value is None:
            values = self.headers.get_all(name)
            value = cache[key] = frozenset(v.lower() for v in values) if values else _NO_TOKENS
        return value

    @property
    def supported(self) -> frozenset[str]:
        """Supported option tags, lower case."""
        return self._token_set("supported", "supported")

    @property
    def require(self) -> frozenset[str]:
        """Require option tags, lower case."""
        return self._token_set("require", "require")

    @property
    def proxy_require(self) -> frozenset[str]:
        """Proxy-Require option tags, lower case."""
        return self._token_set("proxy_require", "proxy-require")

    @property
    def allow(self) -> frozenset[str]:
        """Allow: the methods, upper case."""
        return frozenset(v.upper() for v in self.headers.get_all("allow"))

    def copy(self) -> SipMessage:
        """An independent copy: headers (original text kept), body, start line."""
        new = self.__class__.__new__(self.__class__)
        new.headers = self.headers.copy()
        new.body = self.body
        new.source = self.source
        self._copy_start_line(new)
        return new

    def _copy_start_line(self, new: SipMessage) -> None:
        raise NotImplementedError

    def _replace_top_via(self, text: str, via: Via) -> None:
        """Replace the first Via value with ``text`` (``via`` parsed), keeping
        every other cached accessor value (From, To, CSeq … do not depend on
        the Via). Used to stamp ``received``/``rport`` on arrival."""
        h = self.headers
        fields = h._fields
        for i, f in enumerate(fields):
            if f[0] == "via":
                if "," in f[2]:
                    h.remove_first_value("Via")
                    h.add("Via", text, first=True)
                else:
                    new: Field = ("via", f[1], text, None)
                    fields[i] = new
                    h._changed("via")
                    if h._first is not None:
                        h._first["via"] = new
                break
        else:  # pragma: no cover - a request without Via never parses
            h.add("Via", text, first=True)
        h._cache["top_via"] = via

    # -- output ------------------------------------------------------------
    def start_line(self) -> str:
        """The request or status line (no CRLF)."""
        raise NotImplementedError

    def _wire(self) -> bytes:
        """What ``serialize`` returns, without changing the message (a wrong or
        missing Content-Length is corrected in the bytes only)."""
        length = str(len(self.body))
        lines = [self.start_line()]
        seen = False
        for f in self.headers._fields:
            if f[0] == "content-length":
                if seen:
                    continue
                seen = True
                if f[2] != length:
                    lines.append(f"{f[1]}: {length}")
                    continue
            raw = f[3]
            lines.append(raw if raw is not None else f"{f[1]}: {f[2]}")
        if not seen:
            lines.append(f"Content-Length: {length}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def serialize(self) -> bytes:
        """The message as bytes; sets Content-Length from the body first."""
        length = str(len(self.body))
        h = self.headers
        first = h._first
        if first is not None:
            f = first.get("content-length")
        else:
            for f in h._fields:
                if f[0] == "content-length":
                    break
            else:
                f = None
        if f is None:  # the usual case for a message we built
            h.add("Content-Length", length)
        elif f[2] != length:
            h.set("Content-Length", length)
        lines = [self.start_line()]
        lines += [f[3] if f[3] is not None else f"{f[1]}: {f[2]}" for f in h._fields]
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


def rebuild(data: bytes, source: Any = None) -> Request | Response:
    """The message again from bytes that ``SipMessage._wire`` (or ``serialize``)
    produced, without the parser's checks: those passed when the message was
    first parsed or built. Fields come back with their text as raw lines and
    are parsed lazily by the accessors, as before. Used by the transaction
    layer to unpack the messages of lingering transactions."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "surrogateescape").split("\r\n")
    fields: list[Field] = []
    for line in lines[1:]:
        c = line[:1]
        if (c == " " or c == "\t") and fields:  # a folded field, as received
            key, name, value, raw = fields[-1]
            fields[-1] = (key, name, f"{value} {line.strip()}".strip(), f"{raw}\r\n{line}")
            continue
        name, _, value = line.partition(":")
        name = name.rstrip(" \t")
        fields.append((_KEYS.get(name) or _key(name), name, value.strip(), line))
    start = lines[0]
    msg: Request | Response
    if start[:4] == "SIP/":
        _, code, reason = (start.split(" ", 2) + [""])[:3]
        msg = Response.__new__(Response)
        msg.status = int(code)
        msg.reason = reason
    else:
        method, _, rest = start.partition(" ")
        uri = rest.rpartition(" ")[0]
        msg = Request.__new__(Request)
        msg.method = method
        msg.uri = uri
        msg._ruri = None
    msg.headers = Headers._from_wire(fields)
    msg.body = body
    msg.source = source
    return msg


class Request(SipMessage):
    """A SIP request. ``uri`` is the Request-URI as text; ``ruri`` its parsed
    ``SipUri`` (parsed on first use; unknown schemes are kept opaque)."""

    __slots__ = ("method", "uri", "_ruri")

    is_request = True

    def __init__(
        self,
        method: str,
        uri: str | SipUri,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        if not method or any(c in method for c in " \t\r\n:"):
            raise LocalProtocolError(f"invalid method {method!r}")
        super().__init__(headers, body)
        self.method: str = method
        self.uri: str = str(uri)
        self._ruri: tuple[str, SipUri | re.Match[str]] | None = None

    @property
    def ruri(self) -> SipUri:
        """The Request-URI, parsed (RemoteProtocolError when malformed)."""
        cached = self._ruri
        if cached is None or cached[0] != self.uri:
            cached = self._ruri = (self.uri, SipUri.parse(self.uri, "Request-URI"))
        elif type(cached[1]) is re.Match:  # validated by the parser, built on first use
            cached = self._ruri = (self.uri, SipUri._from_match(cached[1]))
        return cached[1]  # type: ignore[return-value]

    @ruri.setter
    def ruri(self, value: SipUri) -> None:
        self.uri = str(value)
        self._ruri = None

    def _copy_start_line(self, new: SipMessage) -> None:
        new.method = self.method  # type: ignore[attr-defined]
        new.uri = self.uri  # type: ignore[attr-defined]
        new._ruri = None  # type: ignore[attr-defined]

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(SipMessage):
    """A SIP response: ``status`` (100-699) and ``reason`` phrase."""

    __slots__ = ("status", "reason")

    is_request = False

    def __init__(
        self,
        status: int,
        reason: str = "",
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        if not isinstance(status, int) or not 100 <= status <= 699:
            raise LocalProtocolError(f"invalid status code {status!r}")
        if "\r" in reason or "\n" in reason:
            raise LocalProtocolError("reason phrase contains a line break")
        super().__init__(headers, body)
        self.status: int = status
        self.reason: str = reason

    def _copy_start_line(self, new: SipMessage) -> None:
        new.status = self.status  # type: ignore[attr-defined]
        new.reason = self.reason  # type: ignore[attr-defined]

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"
