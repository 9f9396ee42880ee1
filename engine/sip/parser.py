"""Parse SIP messages from bytes, and build responses (RFC 3261 §7, §8.2.6, §18.3).

Rules:

- ``parse_message(data)`` takes one datagram or one framed stream message and
  returns a ``Request`` or ``Response``; on any defect it raises
  ``RemoteProtocolError`` and nothing else. The error's ``status`` is what a
  UA should answer (400; 505 for an unknown SIP version; 513 for a message
  over a size cap) or 0 when no answer is possible: a response, an ACK, or a
  request whose top Via names no usable sent-by. A request missing From, To
  or Call-ID still gets its 400 (RFC 4475 §3.3.1). When an answer is
  possible, ``error.message`` holds the leniently parsed request, so
  ``make_response(error.message, error.status)`` builds the answer.
- Eager checks (so a malformed message still gets its 400): start line, SIP
  version, Request-URI (no spaces, no ``<>``, no headers in a SIP URI), top
  Via, From and To (with their tags), Contact, Call-ID, CSeq (number range,
  method equal to the request method), Max-Forwards and Content-Length
  (digits), single-valued headers not repeated, caps on size, header count
  and line length. Everything else is parsed on access.
- Content-Length on a datagram (§18.3): bytes beyond it are discarded; a body
  shorter than it is an error (400). Without Content-Length the body is the
  rest of the datagram. CRLFs before the start line are ignored.
- Unknown methods and unknown Request-URI schemes parse fine: the UA answers
  501/405 or 416 later.

Theory of operation: one ``find(b"\\r\\n\\r\\n")`` splits head and body; the
head is decoded once (UTF-8, surrogateescape) and split once on CRLF; each
line is cut with ``str.partition(":")``. Folded lines are joined to the field
before them. Field names are validated once per distinct spelling (a small
cache). The eager checks store what they parse (top Via, From, To, Contact,
CSeq ...) in the message's accessor cache, so later access is free. The
common shapes of URI, name-addr and Via take one linear-time regex each
(``sipflow.sip.uri``); anything unusual takes the general code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError, show
from sipflow.sip.headers import CSeq, Via, parse_int_header
from sipflow.sip.message import (
    COMPACT_FORMS,
    Field,
    Headers,
    Request,
    Response,
    SipMessage,
    _checked_key,
)
from sipflow.sip.uri import _TOKEN_RE, NameAddr, SipUri, _parse_host, split_list

__all__ = [
    "parse_message",
    "make_response",
    "REASON_PHRASES",
    "MAX_MESSAGE_SIZE",
    "MAX_HEADERS",
    "MAX_LINE_LENGTH",
]

MAX_MESSAGE_SIZE = 65535
"""Default cap on a whole message (bytes); larger ones get 513."""
MAX_HEADERS = 256
"""Cap on the number of header fields; more gets 513."""
MAX_LINE_LENGTH = 8192
"""Cap on one header line (after unfolding); longer gets 513."""

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority",
    420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    424: "Bad Location Information", 428: "Use Identity Header",
    429: "Provide Referrer Identity", 430: "Flow Failed", 433: "Anonymity Disallowed",
    436: "Bad Identity-Info", 437: "Unsupported Certificate", 438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support", 440: "Max-Breadth Exceeded",
    469: "Bad Info Package", 470: "Consent Needed",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete",
    485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
    493: "Undecipherable", 494: "Security Agreement Required",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}
"""Default reason phrases: RFC 3261 and RFC 3262, 3265/6665, 3311, 3329,
3903, 4028, 4412, 4474, 5360, 5393, 5626, 6086, 8224, 8197, 8688 ..."""

_GENERIC_REASON = {1: "Provisional", 2: "Success", 3: "Redirection",
                   4: "Client Error", 5: "Server Error", 6: "Global Failure"}

_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.I)

# Headers that may appear once only (RFC 3261 §20, table 2); repeating one is a 400.
_SINGLE = frozenset({"call-id", "cseq", "from", "to", "max-forwards", "content-length"})

_NAME_KEYS: dict[str, str] = {}

# The 14 methods, each mapped to one shared string (a request's method is
# this string, not a slice of each start line; see headers._METHODS).
_METHODS = {
    m: m
    for m in "INVITE ACK BYE CANCEL OPTIONS REGISTER PRACK UPDATE INFO SUBSCRIBE NOTIFY "
    "REFER MESSAGE PUBLISH".split()
}


def _field_key(name: str) -> str | None:
    """Lookup key for a field name as written on the wire, or None when the
    name is not a valid token."""
    key = _NAME_KEYS.get(name)
    if key is not None:
        return key
    stripped = name.rstrip(" \t")
    if not stripped or _TOKEN_RE.fullmatch(stripped) is None:
        return None
    lower = stripped.lower()
    key = COMPACT_FORMS.get(lower, lower)
    if stripped == name and len(_NAME_KEYS) < 4096:  # cached names need no rstrip
        _NAME_KEYS[name] = key
    return key


def _fail(reason: str, status: int, msg: SipMessage | None, data: bytes) -> RemoteProtocolError:
    """Build the error; keep the message only when an answer is possible."""
    return RemoteProtocolError(reason, status, data[:8192], msg if status else None)


_SENT_BY_RE = re.compile(r"[ \t]*SIP[ \t]*/[ \t]*[0-9.]+[ \t]*/[ \t]*[A-Za-z0-9\-.!%*_+`'~]+[ \t]+([^;, \t]+)", re.I)


def _answerable(msg: SipMessage) -> bool:
    """Can a response be built and routed for this message? Only a request
    other than ACK whose top Via names a usable sent-by (its parameters may
    be broken: a 400 copies the Via as it came)."""
    if not msg.is_request or getattr(msg, "method", "") == "ACK":
        return False
    top = msg.headers.get("via")
    if top is None:
        return False
    m = _SENT_BY_RE.match(top)
    if m is None:
        return False
    try:
        _parse_host(m.group(1), "Via header")
    except RemoteProtocolError:
        return False
    return True


def parse_message(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Parse one SIP message (see the module rules); raises ``RemoteProtocolError``."""
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"parse_message needs bytes, not {type(data).__name__}")
        data = bytes(data)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    if not data:
        raise RemoteProtocolError("empty message", 0)
    problem: tuple[str, int] | None = None
    if len(data) > max_size:
        # parse only what fits, to answer 513 (or drop); the rest is never looked at
        problem = (f"message of {len(data)} bytes exceeds the {max_size}-byte limit", 513)
        data = data[:max_size]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        head_b = data.rstrip(b"\r\n")
        body = b""
        problem = problem or ("message has no empty line after the headers", 400)
    else:
        head_b = data[:end]
        body = data[end + 4 :]
    head = head_b.decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    start = lines[0]

    # -- start line --------------------------------------------------------
    msg: Request | Response
    if start[:4].upper() == "SIP/":
        parts = start.split(" ", 2)
        if len(parts) < 2:
            raise RemoteProtocolError(f"malformed status line {show(start[:80])}", 0, data[:8192])
        version, code = parts[0], parts[1]
        reason = parts[2] if len(parts) == 3 else ""
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
            raise RemoteProtocolError(f"status line: invalid status code {show(code)}", 0, data[:8192])
        if "\r" in reason or "\n" in reason:
            raise RemoteProtocolError("status line: reason contains a line break", 0, data[:8192])
        msg = Response.__new__(Response)
        msg.status = int(code)
        msg.reason = reason
    else:
        parts = start.split(" ")
        if len(parts) != 3:
            method = parts[0] if parts else ""
            uri = " ".join(parts[1:-1]) if len(parts) > 3 else (parts[1] if len(parts) > 1 else "")
            version = parts[-1] if len(parts) > 2 else ""
            if problem is None or problem[1] != 513:
                problem = (
                    f"request line {show(start[:80])} is not 'METHOD SP Request-URI SP SIP-Version'",
                    400,
                )
        else:
            method, uri, version = parts
        known = _METHODS.get(method)
        if known is None and (not method or _TOKEN_RE.fullmatch(method) is None):
            raise RemoteProtocolError(
                f"request line: invalid method {show(method[:40])}", 0, data[:8192]
            )
        msg = Request.__new__(Request)
        msg.method = known or method
        msg.uri = uri
        msg._ruri = None
    if version != "SIP/2.0" and version.upper() != "SIP/2.0" and problem is None:
        if _VERSION_RE.fullmatch(version):
            problem = (f"SIP version {show(version)} is not supported", 505)
        else:
            problem = (f"malformed SIP version {show(version[:40])}", 400)
    if msg.is_request and problem is None:
        if not uri:
            problem = ("request line: empty Request-URI", 400)
        else:
            m = SipUri.match_fast(uri)
            if m is not None:  # valid, no headers: the SipUri is built on first use
                msg._ruri = (uri, m)  # type: ignore[union-attr]
            else:
                try:
                    ruri = SipUri.parse(uri, "Request-URI")
                    msg._ruri = (uri, ruri)  # type: ignore[union-attr]
                    if ruri.headers:
                        problem = ("Request-URI: a SIP Request-URI must not carry headers ('?')", 400)
                except RemoteProtocolError as exc:
                    problem = (exc.reason, 400)

    # -- header fields -------------------------------------------------------
    fields: list[Field] = []
    first: dict[str, Field] = {}
    repeated: set[str] = set()
    keys_get = _NAME_KEYS.get
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = keys_get(name)
        if key is None:
            c = line[:1]
            if c == " " or c == "\t":
                if not fields:
                    problem = problem or ("header section starts with a continuation line", 400)
                    continue
                prev = fields[-1]
                folded = (prev[0], prev[1], f"{prev[2]} {line.strip()}".strip(), f"{prev[3]}\r\n{line}")
                fields[-1] = folded
                if first.get(prev[0]) is prev:
                    first[prev[0]] = folded
                continue
            key = _field_key(name) if colon else None
            if key is None:
                if problem is None:
                    problem = (f"malformed header line {show(line[:60])}", 400)
                continue
            name = name.rstrip(" \t")
        field = (key, name, value.strip(), line)
        fields.append(field)
        if key in first:
            repeated.add(key)
            if key in _SINGLE and problem is None:
                problem = (f"header {name} appears more than once", 400)
        else:
            first[key] = field
    cache: dict[str, Any] = {}
    msg.headers = Headers._from_wire(fields, first, cache)
    msg.body = body
    msg.source = None

    if problem is None:
        if len(fields) > MAX_HEADERS:
            problem = (f"message has {len(fields)} header fields, more than {MAX_HEADERS}", 513)
        elif len(head) > MAX_LINE_LENGTH and any(len(f[2]) > MAX_LINE_LENGTH for f in fields):
            problem = (f"a header line is longer than {MAX_LINE_LENGTH} bytes", 513)

    if problem is None:
        try:
            _eager_checks(msg, first, repeated, cache)
        except RemoteProtocolError as exc:
            problem = (exc.reason, exc.status)
    if problem is not None:
        status = problem[1] if _answerable(msg) else 0
        raise _fail(problem[0], status, msg, data)
    return msg


def _eager_checks(
    msg: Request | Response,
    first: dict[str, Field],
    repeated: set[str],
    cache: dict[str, Any],
) -> None:
    """The checks a transaction layer relies on; raise RemoteProtocolError.
    Results go straight into the message's accessor cache."""
    f = first.get("via")
    if f is None:
        raise RemoteProtocolError("missing Via header")
    value = f[2]
    if "," in value:
        items = split_list(value)
        if not items:
            raise RemoteProtocolError("Via header: empty value")
        value = items[0]
    m = Via.match_fast(value)
    cache["top_via"] = m if m is not None else Via.parse(value)
    f = first.get("from")
    if f is None:
        raise RemoteProtocolError("missing From header")
    m = NameAddr.match_fast(f[2])
    cache["from"] = m if m is not None else NameAddr.parse(f[2], "From header")
    f = first.get("to")
    if f is None:
        raise RemoteProtocolError("missing To header")
    m = NameAddr.match_fast(f[2])
    cache["to"] = m if m is not None else NameAddr.parse(f[2], "To header")
    f = first.get("call-id")
    if f is None:
        raise RemoteProtocolError("missing Call-ID header")
    call_id = f[2]
    if not call_id or " " in call_id or "\t" in call_id:
        raise RemoteProtocolError(f"Call-ID header: invalid value {show(call_id)}")
    cache["call_id"] = call_id
    f = first.get("cseq")
    if f is None:
        raise RemoteProtocolError("missing CSeq header")
    cseq = cache["cseq"] = CSeq.parse(f[2])
    if msg.is_request:
        method = msg.method  # type: ignore[union-attr]
        if cseq.method != method:
            raise RemoteProtocolError(
                f"CSeq header: method {show(cseq.method)} does not match request method {show(method)}"
            )
    f = first.get("contact")
    if f is not None:
        value = f[2]
        if "," in value or value == "*" or "contact" in repeated:
            msg.contact  # noqa: B018 - parse every value and cache
        else:
            m = NameAddr.match_fast(value)
            cache["contact"] = [m if m is not None else NameAddr.parse(value, "Contact header")]
    f = first.get("max-forwards")
    if f is None:
        cache["max_forwards"] = None
    else:
        text = f[2]  # the usual 70 without a call; anything else gets the full check
        ok = len(text) <= 2 and text.isdigit() and text.isascii()
        cache["max_forwards"] = int(text) if ok else parse_int_header(text, "Max-Forwards", 255)
    f = first.get("content-length")
    if f is not None:
        text = f[2]
        if not text.isdigit() or not text.isascii() or len(text) > 10:
            raise RemoteProtocolError(f"Content-Length header: {show(text)} is not a number")
        length = int(text)
        body = msg.body
        if length < len(body):
            msg.body = body[:length]
        elif length > len(body):
            raise RemoteProtocolError(
                f"Content-Length header: {length} bytes announced, {len(body)} received"
            )


_COPIED = frozenset({"via", "from", "to", "call-id", "cseq"})
_COPIED_100 = _COPIED | {"timestamp"}


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    headers: Headers | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    to_tag: str | None = None,
) -> Response:
    """Build a response to ``request`` (RFC 3261 §8.2.6): copies every Via,
    From, To, Call-ID and CSeq, and Timestamp for a 100; then adds
    ``headers``. ``reason`` defaults to ``REASON_PHRASES``. ``to_tag``, when
    given and the request's To has no tag, is appended to the copied To
    (``;tag=...``) while copying: the UAS's usual case, without building the
    field and then replacing it (~3.5 us a response). The copied fields are
    the request's own (immutable) tuples, so they serialize from their wire
    text; ``headers`` are checked and appended in one pass (no intermediate
    ``Headers``)."""
    if not isinstance(request, Request):
        raise LocalProtocolError("make_response needs the Request being answered")
    if not isinstance(status, int) or not 100 <= status <= 699:
        raise LocalProtocolError(f"invalid status code {status!r}")
    if reason is None:
        reason = REASON_PHRASES.get(status) or _GENERIC_REASON[status // 100]
    copied = _COPIED_100 if status == 100 else _COPIED
    fields = [f for f in request.headers._fields if f[0] in copied]  # immutable: shared
    if to_tag is not None and request.to_tag is None:
        for i, f in enumerate(fields):
            if f[0] == "to":
                fields[i] = ("to", f[1], f"{f[2]};tag={to_tag}", None)
                break
    if isinstance(headers, Headers):
        fields += [(f[0], f[1], f[2], None) for f in headers._fields]
    else:
        for name, value in headers:
            fields.append((_checked_key(name, value), name, value.strip(), None))
    return Response(status, reason, Headers._from_wire(fields), body)
