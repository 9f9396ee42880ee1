"""SIP URIs (RFC 3261 §19.1, §25), name-addr / addr-spec (§20.10), and the small
lexical helpers every structured header shares (parameter lists, quoted
strings, comma lists).

Rules:

- ``SipUri.parse`` and ``NameAddr.parse`` raise ``RemoteProtocolError`` (status
  400) with one sentence naming the offending text; they never raise anything
  else on any input.
- ``sip:`` and ``sips:`` URIs are parsed into user, password, host, port,
  parameters and headers. ``tel:`` keeps the number in ``user`` and its
  parameters. Any other scheme (``http:``, ``urn:``, ``mailto:`` ...) is kept
  as opaque text (``opaque``): RFC 4475 §3.3.2 shows a UA must be able to parse
  it and answer 416 Unsupported URI Scheme.
- Text is kept as written: ``user`` stays %-escaped (``unescape`` decodes it),
  parameter values keep their case and quotes; parameter *names* are
  lower-cased (they compare case-insensitively). ``str(SipUri.parse(t))``
  equals ``t`` up to the case of parameter names.
- IPv6 references are stored without brackets in ``host`` and written with
  them.

Theory of operation: a URI is split with ``str.find``/``partition`` in the
order the grammar allows (scheme, then ``@`` for userinfo, then ``?`` for
headers, then ``;`` for parameters, then host and port); only the host and the
port are validated with a precompiled regular expression. This is the hot path
of From/To/Contact parsing and stays free of backtracking patterns.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote_to_bytes

from sipflow.sip.errors import RemoteProtocolError, show

__all__ = [
    "SipUri",
    "NameAddr",
    "parse_params",
    "format_params",
    "split_list",
    "unquote",
    "quote",
    "unescape",
]

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# host labels: alphanumeric runs joined by hyphens. The grammar is
# unambiguous (no label character is a separator), so every repeat is
# possessive: the same language, and ~25 % less time in the matcher.
_LABEL = r"[A-Za-z0-9_]++(?:-++[A-Za-z0-9_]++)*+"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*+\.?")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]+")
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]++"
_HOSTNAME = _HOSTNAME_RE.pattern
_PVALUE = r"[A-Za-z0-9\-.!%*_+`'~\[\]/:&$]++"
# Fast paths: the common shapes, matched by one regex each; anything else
# takes the general code below, so both accept exactly the same language.
# (Possessive quantifiers keep them linear: Python 3.11+.)
_FAST_SIP_URI = (
    rf"([Ss][Ii][Pp][Ss]?):(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/%]++)@)?({_HOSTNAME})"
    rf"(?::([0-9]{{1,5}}))?((?:;{_TOKEN}(?:={_PVALUE})?)*+)"
)
_FAST_URI_RE = re.compile(_FAST_SIP_URI)
_FAST_NAME_ADDR_RE = re.compile(
    rf"(?:\"([^\"\\\r\n]*+(?:\\[^\r\n][^\"\\\r\n]*+)*+)\"[ \t]*+|([A-Za-z0-9\-.!%*_+`'~ \t]*+))"
    rf"<{_FAST_SIP_URI}>[ \t]*+((?:;[ \t]*{_TOKEN}(?:[ \t]*=[ \t]*{_PVALUE})?[ \t]*)*+)"
)
# addr-spec without <> (``sip:u@h:5060;tag=x``, sipp's Contact): the URI takes
# no parameters and no '?' or ',' (the general code splits at the first ';'
# and rejects those), so its user part excludes them.
_FAST_ADDR_SPEC_RE = re.compile(
    rf"([Ss][Ii][Pp][Ss]?):(?:([A-Za-z0-9\-_.!~*'()&=+$/%]++)@)?({_HOSTNAME})"
    rf"(?::([0-9]{{1,5}}))?((?:;{_TOKEN}(?:={_PVALUE})?)*+)"
)
_USER_BAD = frozenset(" \t\r\n<>\"@")
_PARAM_BAD = frozenset(" \t\r\n<>\"")
_URI_BAD = frozenset(" \t\r\n<>")


def unescape(text: str) -> str:
    """Decode %xx escapes (RFC 3261 §19.1.2) as UTF-8; bad sequences are kept."""
    if "%" not in text:
        return text
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


def unquote(value: str) -> str:
    """Remove the quotes and backslash escapes of a quoted-string; other text
    is returned unchanged."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" in inner:
            inner = re.sub(r"\\(.)", r"\1", inner, flags=re.S)
        return inner
    return value


_NEEDS_QUOTED_PAIR = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f"\\]')


def quote(value: str) -> str:
    """Return ``value`` as a quoted-string: ``"``, ``\\`` and the control
    characters qdtext does not allow become quoted-pairs (RFC 3261 §25.1)."""
    return '"' + _NEEDS_QUOTED_PAIR.sub(lambda m: "\\" + m.group(0), value) + '"'


def _split_outside(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` where it is outside quotes and ``<...>``."""
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    in_quote = False
    angle = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            angle += 1
        elif ch == ">":
            if angle:
                angle -= 1
        elif ch == sep and not angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value into its elements (whitespace
    trimmed, empty elements dropped), respecting quoted strings and ``<>``."""
    if "," not in value:
        value = value.strip()
        return [value] if value else []
    return [p for p in (x.strip() for x in _split_outside(value, ",")) if p]


def parse_params(text: str, where: str = "parameters") -> dict[str, str | None]:
    """Parse ``;name=value;flag`` (the leading ``;`` optional) into an ordered
    dict with lower-case names; values are kept as written (quotes included).

    Raises ``RemoteProtocolError`` on an empty or malformed name or value."""
    params: dict[str, str | None] = {}
    if not text:
        return params
    if text[0] == ";":
        text = text[1:]
    for item in _split_outside(text, ";"):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name or _TOKEN_RE.fullmatch(name) is None:
            raise RemoteProtocolError(f"{where}: malformed parameter {show(item.strip())}")
        if eq:
            value = value.strip()
            if not value:
                raise RemoteProtocolError(f"{where}: parameter {show(name)} has an empty value")
            if value[0] == '"':
                if len(value) < 2 or value[-1] != '"':
                    raise RemoteProtocolError(
                        f"{where}: parameter {show(name)} has an unterminated quoted value"
                    )
            elif not _PARAM_BAD.isdisjoint(value):
                raise RemoteProtocolError(
                    f"{where}: parameter {show(name)} has an invalid value {show(value)}"
                )
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _split_plain_params(text: str) -> dict[str, str | None]:
    """Split ``;a=b;c`` already validated by a fast-path regex (no quotes)."""
    params: dict[str, str | None] = {}
    if " " in text or "\t" in text:
        for item in text.split(";")[1:]:
            name, eq, value = item.partition("=")
            params[name.strip().lower()] = value.strip() if eq else None
    else:
        for item in text.split(";")[1:]:
            name, eq, value = item.partition("=")
            params[name.lower()] = value if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Write parameters back as ``;name=value;flag``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _is_ipv6(host: str) -> bool:
    """True for an IPv6 literal (RFC 4291 text forms, IPv4-mapped included)."""
    if not host or _IPV6_RE.fullmatch(host) is None:
        return False
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _parse_host(text: str, where: str) -> tuple[str, int | None]:
    """Parse ``host[:port]`` (IPv6 in brackets) into (host, port)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RemoteProtocolError(f"{where}: unterminated IPv6 reference in {show(text)}")
        host = text[1:end]
        if not _is_ipv6(host):
            raise RemoteProtocolError(f"{where}: invalid IPv6 address {show(host)}")
        rest = text[end + 1 :]
        if rest and rest[0] != ":":
            raise RemoteProtocolError(f"{where}: unexpected text after IPv6 address in {show(text)}")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_s = text.partition(":")
        port_text = port_text_s if colon else None
        if not host or _HOSTNAME_RE.fullmatch(host) is None:
            raise RemoteProtocolError(f"{where}: invalid host {show(host)}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
        raise RemoteProtocolError(f"{where}: invalid port {show(port_text)}")
    port = int(port_text)
    if port > 65535:
        raise RemoteProtocolError(f"{where}: port {port} out of range")
    return host, port


class SipUri:
    """A parsed URI. Mutable; ``str()`` writes it back.

    For ``sip``/``sips``: ``user`` (escaped, or ``None``), ``password``,
    ``host`` (IPv6 without brackets), ``port`` (``None`` when absent),
    ``params`` (ordered, lower-case names, value ``None`` for flags) and
    ``headers`` (``?name=value&...``, kept escaped). For ``tel``: ``user`` holds
    the number and ``params`` its parameters. For other schemes ``opaque``
    holds everything after the colon."""

    __slots__ = ("scheme", "user", "password", "host", "port", "params", "headers", "opaque")

    def __init__(
        self,
        scheme: str = "sip",
        user: str | None = None,
        host: str = "",
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
        password: str | None = None,
        opaque: str | None = None,
    ) -> None:
        self.scheme = scheme.lower()
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params: dict[str, str | None] = dict(params) if params else {}
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self.opaque = opaque

    # -- parsing -----------------------------------------------------------
    @classmethod
    def parse(cls, text: str, where: str = "URI") -> SipUri:
        """Parse ``text``; raises ``RemoteProtocolError`` (400) naming ``where``."""
        m = cls.match_fast(text)
        if m is not None:
            return cls._from_match(m)
        scheme, colon, rest = text.partition(":")
        if not colon or _SCHEME_RE.fullmatch(scheme) is None:
            raise RemoteProtocolError(f"{where}: {show(text)} is not a URI (no scheme)")
        scheme = scheme.lower()
        if not rest:
            raise RemoteProtocolError(f"{where}: {show(text)} is empty after the scheme")
        if not _URI_BAD.isdisjoint(rest):
            bad = next(ch for ch in rest if ch in _URI_BAD)
            raise RemoteProtocolError(f"{where}: invalid character {show(bad)} in {show(text)}")
        uri = cls.__new__(cls)
        uri.scheme = scheme
        uri.user = uri.password = uri.opaque = None
        uri.host = ""
        uri.port = None
        uri.params = {}
        uri.headers = {}
        if scheme == "sip" or scheme == "sips":
            uri._parse_sip(rest, text, where)
        elif scheme == "tel":
            number, _, params = rest.partition(";")
            if not number:
                raise RemoteProtocolError(f"{where}: tel URI {show(text)} has no number")
            uri.user = number
            uri.params = parse_params(params, where)
        else:
            uri.opaque = rest
        return uri

    @staticmethod
    def match_fast(text: str) -> re.Match[str] | None:
        """The fast-path match of a common-shaped sip/sips URI (no headers),
        or ``None`` when only ``parse`` can tell. A match is valid:
        ``_from_match`` builds the value later (the parser defers it)."""
        m = _FAST_URI_RE.fullmatch(text)
        if m is not None:
            port = m.group(4)
            if port is None or int(port) <= 65535:
                return m
        return None

    @classmethod
    def _from_match(cls, m: re.Match[str]) -> SipUri:
        return cls._from_parts(*m.groups())

    @classmethod
    def _from_parts(
        cls, scheme: str, user: str | None, host: str, port: str | None, params: str | None
    ) -> SipUri:
        """A URI from the groups of a validated fast-path match (no re-checks)."""
        uri = cls.__new__(cls)
        uri.scheme = scheme.lower()
        uri.user = user
        uri.password = uri.opaque = None
        uri.host = host
        uri.port = None if port is None else int(port)
        uri.params = _split_plain_params(params) if params else {}
        uri.headers = {}
        return uri

    def _parse_sip(self, rest: str, text: str, where: str) -> None:
        at = rest.find("@")
        if at >= 0:
            userinfo = rest[:at]
            rest = rest[at + 1 :]
            user, colon, password = userinfo.partition(":")
            if not user:
                raise RemoteProtocolError(f"{where}: empty user part in {show(text)}")
            if not _USER_BAD.isdisjoint(userinfo):
                raise RemoteProtocolError(f"{where}: invalid character in user part of {show(text)}")
            self.user = user
            self.password = password if colon else None
        rest, qmark, headers = rest.partition("?")
        hostport, semi, params = rest.partition(";")
        self.host, self.port = _parse_host(hostport, where)
        if semi:
            self.params = parse_params(params, where)
        if qmark:
            for item in headers.split("&"):
                name, eq, value = item.partition("=")
                if not name or not eq:
                    raise RemoteProtocolError(f"{where}: malformed URI header {show(item)} in {show(text)}")
                self.headers[name] = value

    # -- helpers -----------------------------------------------------------
    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case, or ``None``."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def user_unescaped(self) -> str | None:
        """``user`` with its %-escapes decoded."""
        return None if self.user is None else unescape(self.user)

    @property
    def hostport(self) -> str:
        """``host[:port]`` as written in a URI (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def copy(self) -> SipUri:
        """A copy whose dicts can be changed independently."""
        new = SipUri.__new__(SipUri)
        for slot in self.__slots__:
            setattr(new, slot, getattr(self, slot))
        new.params = dict(self.params)
        new.headers = dict(self.headers)
        return new

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.hostport)
        if self.params:
            out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    def __repr__(self) -> str:
        return f"SipUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        """RFC 3261 §19.1.4 comparison (simplified): scheme, unescaped user and
        password case-sensitive, host case-insensitive, port, the ``user``,
        ``ttl``, ``method``, ``maddr`` and ``transport`` parameters, and any
        parameter present in both must match; headers must match."""
        if not isinstance(other, SipUri):
            return NotImplemented
        if self.scheme != other.scheme:
            return False
        if self.opaque is not None or other.opaque is not None:
            return self.opaque == other.opaque
        if self.user_unescaped != other.user_unescaped or self.password != other.password:
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        p1 = {k: (v.lower() if v else v) for k, v in self.params.items()}
        p2 = {k: (v.lower() if v else v) for k, v in other.params.items()}
        for key in ("user", "ttl", "method", "maddr", "transport"):
            if p1.get(key) != p2.get(key):
                return False
        for key in p1.keys() & p2.keys():
            if p1[key] != p2[key]:
                return False
        h1 = {k.lower(): unescape(v) for k, v in self.headers.items()}
        h2 = {k.lower(): unescape(v) for k, v in other.headers.items()}
        return h1 == h2

    __hash__ = None  # type: ignore[assignment]  # mutable


def _parse_quoted(text: str, where: str) -> tuple[str, str]:
    """Split a leading quoted-string off ``text``: (quoted text, rest)."""
    i = 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return text[: i + 1], text[i + 1 :]
        i += 1
    raise RemoteProtocolError(f"{where}: unterminated quoted display name in {show(text)}")


class NameAddr:
    """``display-name <uri>;params`` or ``uri;params`` (From, To, Contact,
    Route, Record-Route, Refer-To ...).

    ``display`` is the display name as written (quotes removed, escapes
    decoded) or ``None``; ``uri`` the ``SipUri``; ``params`` the header
    parameters (``tag``, ``expires``, ``q`` ...), lower-case names."""

    __slots__ = ("display", "uri", "params", "angle")

    def __init__(
        self,
        uri: SipUri | str,
        display: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        self.uri: SipUri = SipUri.parse(uri) if isinstance(uri, str) else uri
        self.display = display
        self.params: dict[str, str | None] = dict(params) if params else {}
        self.angle = True

    @classmethod
    def parse(cls, text: str, where: str = "name-addr") -> NameAddr:
        """Parse one name-addr or addr-spec with its parameters; raises
        ``RemoteProtocolError`` (400) naming ``where``."""
        text = text.strip()
        m = cls.match_fast(text)
        if m is not None:
            return cls._from_match(m)
        if not text:
            raise RemoteProtocolError(f"{where}: empty value")
        display: str | None = None
        if text[0] == '"':
            quoted, rest = _parse_quoted(text, where)
            display = unquote(quoted)
            rest = rest.lstrip()
            if not rest.startswith("<"):
                raise RemoteProtocolError(f"{where}: expected '<' after display name in {show(text)}")
        else:
            rest = text
        lt = rest.find("<")
        if lt >= 0:
            if display is None:
                name = rest[:lt].strip()
                if name:
                    for word in name.split():
                        if _TOKEN_RE.fullmatch(word) is None:
                            raise RemoteProtocolError(
                                f"{where}: invalid display name {show(name)} (must be tokens or quoted)"
                            )
                    display = " ".join(name.split())
            gt = rest.find(">", lt)
            if gt < 0:
                raise RemoteProtocolError(f"{where}: missing '>' in {show(text)}")
            uri_text = rest[lt + 1 : gt]
            params_text = rest[gt + 1 :].strip()
            angle = True
            if params_text and params_text[0] != ";":
                raise RemoteProtocolError(f"{where}: unexpected text {show(params_text)} after '>'")
        else:
            uri_text, semi, params_text = rest.partition(";")
            uri_text = uri_text.strip()
            angle = False
            if "?" in uri_text or "," in uri_text:
                raise RemoteProtocolError(
                    f"{where}: a URI with '?' or ',' must be enclosed in <> ({show(uri_text)})"
                )
        na = cls.__new__(cls)
        na.display = display
        na.uri = SipUri.parse(uri_text, where)
        na.params = parse_params(params_text, where) if params_text else {}
        na.angle = angle
        return na

    @staticmethod
    def match_fast(text: str) -> re.Match[str] | None:
        """The fast-path match of a common-shaped name-addr or addr-spec
        (``text`` already stripped), or ``None`` when only ``parse`` can tell.
        A match is valid: ``_from_match`` builds the value later (the parser
        defers it)."""
        if "<" in text:
            m = _FAST_NAME_ADDR_RE.fullmatch(text)
            port_group = 6
        else:
            m = _FAST_ADDR_SPEC_RE.fullmatch(text)
            port_group = 4
        if m is not None:
            port = m.group(port_group)
            if port is None or int(port) <= 65535:
                return m
        return None

    @staticmethod
    def _match_tag(m: re.Match[str]) -> str | None:
        """The ``tag`` parameter of a ``match_fast`` match, without building
        the ``NameAddr``."""
        params = m.group(8) if m.re is _FAST_NAME_ADDR_RE else m.group(5)
        if not params:
            return None
        if params.startswith(";tag=") and params.find(";", 1) < 0 and " " not in params and "\t" not in params:
            return params[5:]  # the usual lone ";tag=..." (the regex allows no '=' in a value)
        return _split_plain_params(params).get("tag")

    @classmethod
    def _from_match(cls, m: re.Match[str]) -> NameAddr:
        na = cls.__new__(cls)
        if m.re is _FAST_NAME_ADDR_RE:
            quoted, plain, scheme, user, host, port, uparams, params_text = m.groups()
            if quoted is not None:
                na.display = unquote(f'"{quoted}"') if "\\" in quoted else quoted
            elif plain and not plain.isspace():
                na.display = " ".join(plain.split())
            else:
                na.display = None
            na.angle = True
        else:  # addr-spec: the parameters are the header's, the URI has none
            scheme, user, host, port, params_text = m.groups()
            uparams = None
            na.display = None
            na.angle = False
        na.uri = SipUri._from_parts(scheme, user, host, port, uparams)
        na.params = _split_plain_params(params_text) if params_text else {}
        return na

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter, or ``None``."""
        return self.params.get("tag")

    def copy(self) -> NameAddr:
        """A deep-enough copy (URI and parameters can be changed independently)."""
        na = NameAddr.__new__(NameAddr)
        na.display = self.display
        na.uri = self.uri.copy()
        na.params = dict(self.params)
        na.angle = self.angle
        return na

    def __str__(self) -> str:
        params = format_params(self.params) if self.params else ""
        if self.display is not None:
            if self.display and all(_TOKEN_RE.fullmatch(w) for w in self.display.split(" ")):
                return f"{self.display} <{self.uri}>{params}"
            return f"{quote(self.display)} <{self.uri}>{params}"
        return f"<{self.uri}>{params}"

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return self.uri == other.uri and self.params == other.params

    __hash__ = None  # type: ignore[assignment]  # mutable
