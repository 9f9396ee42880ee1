"""Digest authentication for SIP, sans-I/O (RFC 3261 §22, RFC 7616, RFC 8760).

Rules:

- This module never touches the network, threads or the wall clock. Whatever
  depends on time takes ``now: float`` (monotonic seconds, the value of the
  process ``Clock``); randomness comes from ``secrets`` or an injected callable.
- Header values are plain ``str`` (what follows ``WWW-Authenticate:`` etc.);
  bodies are ``bytes``. The message model is not needed here.
- A peer's malformed header raises ``DigestError`` from the parsers,
  ``DigestClient.answer`` and ``DigestClient.check_authentication_info``; ``DigestServer.verify`` never raises for bad input:
  it returns ``AuthResult(ok=False, reason=...)``. ``DigestError`` is a
  ``RemoteProtocolError``. Our own misuse (a status that is not 401/407, CR
  or LF in a value we are asked to send) raises ``LocalProtocolError``; bad
  constructor arguments raise ``ValueError``.
- Algorithms: ``MD5``, ``SHA-256`` and, when the local OpenSSL has it,
  ``SHA-512-256``, each with its ``-sess`` variant. ``qop`` ``auth`` and
  ``auth-int``; no ``qop`` at all is the RFC 2069/2617 compatibility mode.
- Every comparison of secrets uses ``hmac.compare_digest``.

Theory of operation:

A server (UAS, registrar or proxy) builds one challenge per algorithm with
``DigestServer.challenge(now)``, strongest first (RFC 8760 §2.4). Its nonces
carry their own issue time and an HMAC over it, keyed by a per-process
secret, so the server keeps no state per challenge. The only state it keeps is
the highest nonce count seen per nonce, for replay protection, in a table of
bounded size: when the table is full the entry first used longest ago is
evicted and its issue time raises a floor below which an unknown nonce is
answered ``stale`` (the client then retries with a fresh nonce), so an
evicted nonce can never be replayed. The issue time inside a nonce is not
secret, only unforgeable. Nonces outlive neither the secret nor the time
base: after a restart (or on another worker with another secret or clock)
a valid digest over an old nonce is answered ``stale``, never accepted.

After a successful ``verify`` the server may send ``Authentication-Info``
(``authentication_info``): ``rspauth`` proves it knows the password too, and
``nextnonce`` saves the next challenge; ``DigestClient.check_authentication_info``
checks the first and adopts the second.

A client (``DigestClient``) turns a 401/407 into ``Authorization`` or
``Proxy-Authorization`` values: it picks, per realm, the strongest algorithm
it supports (RFC 8760 lets local policy override the "topmost" rule; we prefer
strength and keep the server's order between equals), counts ``nc`` per nonce
and draws a fresh ``cnonce`` each time. ``stale=true`` is reported back so the
caller retries without asking for another password. Whether to give up after
a second non-stale challenge is the caller's choice (RFC 3261 §22.2: do not
retry the same credentials once they were refused).

Usage::

    server = DigestServer("example.com", {"alice": "secret"})
    result = server.verify(method, request_authorization_values, now, body, uri=request_uri)
    if not result.ok:   # answer server.status with one server.challenge_header per value
        values = server.challenge(now, stale=result.stale)

    client = DigestClient("alice", "secret")
    answer = client.answer(401, www_authenticate_values, "INVITE", request_uri, body)
    for auth in answer.authorizations:   # add to the retried request (new CSeq)
        headers.append((auth.name, auth.value))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "Authorization",
    "Challenge",
    "ClientAnswer",
    "Credentials",
    "DigestClient",
    "DigestError",
    "DigestServer",
    "build_challenge",
    "build_credentials",
    "choose_challenges",
    "compute_response",
    "parse_challenges",
    "parse_credentials",
    "parse_params",
]


class DigestError(RemoteProtocolError, ValueError):
    """A peer sent an authentication header we cannot use; ``str(err)`` is one
    sentence naming the header and the column or parameter at fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 400)


def _hash_available(name: str) -> bool:
    try:
        hashlib.new(name, b"")
    except ValueError:
        return False
    return True


# Algorithm name (canonical spelling) -> hashlib name, strongest first.
_HASHLIB: dict[str, str] = {
    name: lib
    for name, lib in (("SHA-512-256", "sha512_256"), ("SHA-256", "sha256"), ("MD5", "md5"))
    if _hash_available(lib)
}
_STRENGTH: dict[str, int] = {name: rank for rank, name in enumerate(reversed(list(_HASHLIB)))}

#: Every algorithm this module can compute, strongest first (``-sess`` variants included).
ALGORITHMS: tuple[str, ...] = tuple(
    variant for name in _HASHLIB for variant in (name, f"{name}-sess")
)


def _canonical_algorithm(name: str) -> str | None:
    """``"sha-256"`` -> ``"SHA-256"``; ``None`` when unsupported."""
    upper = name.upper()
    for known in ALGORITHMS:
        if known.upper() == upper:
            return known
    return None


def _strength(algorithm: str) -> int:
    base = algorithm[:-5] if algorithm.endswith("-sess") else algorithm
    return _STRENGTH.get(base, -1)


def _hexdigest(algorithm: str, data: bytes) -> str:
    base = algorithm[:-5] if algorithm.endswith("-sess") else algorithm
    return hashlib.new(_HASHLIB[base], data).hexdigest()


# ---------------------------------------------------------------------------
# Header grammar: challenges and credentials
# ---------------------------------------------------------------------------

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
# token68 (RFC 7235) adds these, with trailing "=" padding.
_TOKEN68_CHARS = _TOKEN_CHARS | frozenset("/")
# Unquoted parameter values: lenient, peers send e.g. ``uri=sip:bob@host`` unquoted.
_VALUE_CHARS = _TOKEN68_CHARS | frozenset(":@?&=$;")
_WS = " \t\r\n"
MAX_HEADER_LENGTH = 8192
MAX_PARAMS = 64


@dataclass(frozen=True)
class _AuthItem:
    """One challenge or credentials: a scheme and its parameters (lower-case names)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def is_digest(self) -> bool:
        """The scheme is ``Digest`` (case-insensitive)."""
        return self.scheme.lower() == "digest"

    def get(self, name: str, default: str | None = None) -> str | None:
        """The unquoted value of parameter ``name`` (case-insensitive)."""
        return self.params.get(name.lower(), default)

    @property
    def realm(self) -> str | None:
        """The ``realm`` parameter."""
        return self.params.get("realm")

    @property
    def nonce(self) -> str | None:
        """The ``nonce`` parameter."""
        return self.params.get("nonce")

    @property
    def opaque(self) -> str | None:
        """The ``opaque`` parameter, echoed back unchanged."""
        return self.params.get("opaque")

    @property
    def algorithm(self) -> str:
        """The algorithm as sent (``MD5`` when absent, per RFC 2617)."""
        return self.params.get("algorithm", "MD5")


@dataclass(frozen=True)
class Challenge(_AuthItem):
    """A parsed ``WWW-Authenticate``/``Proxy-Authenticate`` challenge."""

    @property
    def qop_options(self) -> tuple[str, ...]:
        """The ``qop`` options offered, lower case; empty for RFC 2069 mode."""
        raw = self.params.get("qop")
        if raw is None:
            return ()
        return tuple(part.strip().lower() for part in raw.split(",") if part.strip())

    @property
    def stale(self) -> bool:
        """``stale=true``: the nonce expired but the credentials were right."""
        return self.params.get("stale", "").lower() == "true"

    @property
    def userhash(self) -> bool:
        """``userhash=true`` (RFC 7616 §3.4.4): the user name travels hashed."""
        return self.params.get("userhash", "").lower() == "true"


@dataclass(frozen=True)
class Credentials(_AuthItem):
    """A parsed ``Authorization``/``Proxy-Authorization`` value."""

    @property
    def username(self) -> str | None:
        """The ``username`` (a hash of it when ``userhash`` is true)."""
        return self.params.get("username")

    @property
    def uri(self) -> str | None:
        """The ``uri`` parameter: the Request-URI the response was computed over."""
        return self.params.get("uri")

    @property
    def response(self) -> str | None:
        """The ``response`` digest (hex)."""
        return self.params.get("response")

    @property
    def qop(self) -> str | None:
        """The ``qop`` chosen (lower case), or ``None`` in RFC 2069 mode."""
        value = self.params.get("qop")
        return value.lower() if value is not None else None

    @property
    def nc(self) -> str | None:
        """The nonce count, 8 hex digits as sent."""
        return self.params.get("nc")

    @property
    def cnonce(self) -> str | None:
        """The client nonce."""
        return self.params.get("cnonce")

    @property
    def userhash(self) -> bool:
        """``userhash=true`` (RFC 7616 §3.4.4): the user name travels hashed."""
        return self.params.get("userhash", "").lower() == "true"


class _Scanner:
    """A cursor over one header value; raises ``DigestError`` naming the column."""

    def __init__(self, text: str, what: str, offset: int = 0) -> None:
        self.text = text
        self.pos = 0
        self.what = what
        self.offset = offset  # characters we prepended, not counted in columns

    def fail(self, message: str) -> DigestError:
        column = max(self.pos - self.offset, 0) + 1
        return DigestError(f"{self.what} header: {message} at column {column}.")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def skip_ws_and_commas(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS + ",":
            self.pos += 1

    def token(self, chars: frozenset[str] = _TOKEN_CHARS) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        """Read a quoted-string (the cursor is on the opening quote); return it unescaped."""
        assert self.text[self.pos] == '"'
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    break
                escaped = self.text[self.pos + 1]
                if escaped in "\r\n":
                    raise self.fail("CR or LF escaped in a quoted string")
                out.append(escaped)
                self.pos += 2
                continue
            if char in "\r\n":
                raise self.fail("CR or LF inside a quoted string")
            out.append(char)
            self.pos += 1
        self.pos = start  # name the opening quote
        raise self.fail("unterminated quoted string")


def _parse_items(
    values: str | Iterable[str], what: str, offset: int = 0
) -> list[tuple[str, dict[str, str], str | None]]:
    """Split header values into (scheme, params, token68) items, in order."""
    if isinstance(values, str):
        values = [values]
    items: list[tuple[str, dict[str, str], str | None]] = []
    for value in values:
        if not isinstance(value, str):
            raise DigestError(f"{what} header: value is not text.")
        if len(value) > MAX_HEADER_LENGTH:
            raise DigestError(f"{what} header: value longer than {MAX_HEADER_LENGTH} characters.")
        scan = _Scanner(value, what, offset)
        scan.skip_ws_and_commas()
        if scan.at_end():
            raise DigestError(f"{what} header: empty value.")
        while not scan.at_end():
            scheme = scan.token()
            if not scheme:
                raise scan.fail(f"expected an authentication scheme, found {scan.peek()!r}")
            params: dict[str, str] = {}
            token68: str | None = None
            scan.skip_ws()
            while not scan.at_end() and scan.peek() != ",":
                # Either name=value or (first position only) a token68.
                start = scan.pos
                name = scan.token(_TOKEN68_CHARS)
                if not name:
                    raise scan.fail(f"expected a parameter name, found {scan.peek()!r}")
                scan.skip_ws()
                if scan.peek() != "=":
                    if params:
                        raise scan.fail(f"expected '=' after {name!r}")
                    # A bare token: the next scheme (e.g. "Basic, Digest ...")
                    # is handled by the outer loop; here it can only be token68.
                    token68 = name
                    break
                scan.pos += 1
                scan.skip_ws()
                if scan.at_end() or scan.peek() in ",=":
                    # "abc==" style token68 padding, or an empty value.
                    if not params and all(c in _TOKEN68_CHARS for c in name):
                        while scan.peek() == "=":
                            scan.pos += 1
                        token68 = value[start : scan.pos].strip()
                        break
                    raise scan.fail(f"missing value for parameter {name!r}")
                if scan.peek() == '"':
                    param_value = scan.quoted()
                else:
                    param_value = scan.token(_VALUE_CHARS)
                    if not param_value:
                        raise scan.fail(f"bad value for parameter {name!r}")
                key = name.lower()
                if key in params:
                    raise scan.fail(f"parameter {name!r} given twice")
                if len(params) >= MAX_PARAMS:
                    raise scan.fail(f"more than {MAX_PARAMS} parameters")
                params[key] = param_value
                scan.skip_ws()
                if scan.peek() == ",":
                    # Is the next item another parameter or a new challenge?
                    save = scan.pos
                    scan.skip_ws_and_commas()
                    probe = scan.pos
                    scan.token()
                    scan.skip_ws()
                    is_param = scan.peek() == "="
                    scan.pos = probe if is_param else save
                    if not is_param:
                        break
                elif not scan.at_end():
                    raise scan.fail(f"expected ',' after parameter {name!r}")
            if token68 is not None and scheme.lower() == "digest":
                if token68.endswith("="):
                    raise scan.fail(f"missing value for parameter {token68.rstrip('=')!r}")
                raise scan.fail(f"expected '=' after {token68!r}")
            items.append((scheme, params, token68))
            scan.skip_ws_and_commas()
    return items


def parse_challenges(
    values: str | Iterable[str], what: str = "WWW-Authenticate"
) -> list[Challenge]:
    """Parse every challenge in one or several header values, in order.

    Challenges of other schemes (``Basic``, ``Bearer`` ...) are returned too;
    callers filter with ``Challenge.is_digest``. Raises ``DigestError``.
    """
    return [
        Challenge(scheme, params, token68) for scheme, params, token68 in _parse_items(values, what)
    ]


def parse_params(value: str, what: str = "Authentication-Info") -> dict[str, str]:
    """Parse a bare parameter list (``Authentication-Info``: ``nextnonce``,
    ``qop``, ``rspauth``, ``cnonce``, ``nc``); names lower case."""
    if not isinstance(value, str):
        raise DigestError(f"{what} header: value is not text.")
    items = _parse_items("Digest " + value, what, offset=7)
    if len(items) != 1:
        raise DigestError(f"{what} header: expected name=value parameters only.")
    return items[0][1]


def parse_credentials(value: str, what: str = "Authorization") -> Credentials:
    """Parse one ``Authorization``/``Proxy-Authorization`` value (exactly one credentials)."""
    items = _parse_items(value, what)
    if len(items) != 1:
        raise DigestError(f"{what} header: {len(items)} credentials in one value, expected 1.")
    scheme, params, token68 = items[0]
    return Credentials(scheme, params, token68)


# ---------------------------------------------------------------------------
# Building header values
# ---------------------------------------------------------------------------


def _quote(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"CR or LF in a header parameter: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_token(value: str) -> str:
    if not value or any(c not in _TOKEN_CHARS for c in value):
        raise LocalProtocolError(f"not a token: {value!r}")
    return value


def build_challenge(
    realm: str,
    nonce: str,
    *,
    algorithm: str | None = "SHA-256",
    qop: Sequence[str] = ("auth",),
    opaque: str | None = None,
    stale: bool = False,
    domain: str | None = None,
    userhash: bool = False,
) -> str:
    """One ``WWW-Authenticate``/``Proxy-Authenticate`` value (``Digest ...``).

    ``algorithm=None`` leaves it out (MD5 implied); an empty ``qop`` is the
    RFC 2069 form.
    """
    parts = [f"realm={_quote(realm)}"]
    if domain is not None:
        parts.append(f"domain={_quote(domain)}")
    parts.append(f"nonce={_quote(nonce)}")
    if opaque is not None:
        parts.append(f"opaque={_quote(opaque)}")
    if stale:
        parts.append("stale=TRUE")
    if algorithm is not None:
        parts.append(f"algorithm={_check_token(algorithm)}")
    if qop:
        parts.append(f"qop={_quote(','.join(_check_token(q) for q in qop))}")
    if userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def build_credentials(
    *,
    username: str,
    realm: str,
    nonce: str,
    uri: str,
    response: str,
    algorithm: str | None = None,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
    opaque: str | None = None,
    userhash: bool = False,
) -> str:
    """One ``Authorization``/``Proxy-Authorization`` value, quoting per RFC 3261 §25."""
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(realm)}",
        f"nonce={_quote(nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
    ]
    if algorithm is not None:
        parts.append(f"algorithm={_check_token(algorithm)}")
    if qop is not None:
        if nc is None or cnonce is None:
            raise ValueError("qop needs nc and cnonce")
        parts += [f"qop={_check_token(qop)}", f"nc={nc:08x}", f"cnonce={_quote(cnonce)}"]
    if opaque is not None:
        parts.append(f"opaque={_quote(opaque)}")
    if userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


# ---------------------------------------------------------------------------
# The computation (RFC 7616 §3.4)
# ---------------------------------------------------------------------------


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """``H(username:realm:password)`` -- what a password store may keep instead of passwords."""
    return _hexdigest(algorithm, f"{username}:{realm}:{password}".encode())


def compute_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (lower-case hex) for the given parameters.

    ``algorithm`` is a canonical name from ``ALGORITHMS``; ``qop`` is
    ``"auth"``, ``"auth-int"`` or ``None`` (RFC 2069 mode, no nc/cnonce).
    """
    canonical = _canonical_algorithm(algorithm)
    if canonical is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    ha1 = compute_ha1(canonical, username, realm, password)
    if canonical.endswith("-sess"):
        if cnonce is None:
            raise ValueError(f"{canonical} needs a cnonce")
        ha1 = _hexdigest(canonical, f"{ha1}:{nonce}:{cnonce}".encode())
    if qop == "auth-int":
        a2 = f"{method}:{uri}:{_hexdigest(canonical, body)}"
    elif qop in (None, "auth"):
        a2 = f"{method}:{uri}"
    else:
        raise ValueError(f"unsupported qop {qop!r}")
    ha2 = _hexdigest(canonical, a2.encode())
    if qop is None:
        return _hexdigest(canonical, f"{ha1}:{nonce}:{ha2}".encode())
    if nc is None or cnonce is None:
        raise ValueError("qop needs nc and cnonce")
    return _hexdigest(canonical, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}".encode())


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorization:
    """A header to add to the retried request: ``name`` is ``Authorization``
    (after a 401) or ``Proxy-Authorization`` (after a 407)."""

    name: str
    value: str
    realm: str
    algorithm: str


@dataclass(frozen=True)
class ClientAnswer:
    """What ``DigestClient.answer`` returns.

    ``stale`` is true when every challenge answered said ``stale=true``: the
    password was right, only the nonce expired, so retry without prompting.
    """

    authorizations: list[Authorization]
    stale: bool


def choose_challenges(
    challenges: Iterable[Challenge], supported: Sequence[str] = ALGORITHMS
) -> list[Challenge]:
    """Per realm, the Digest challenge with the strongest supported algorithm
    and a usable ``qop``; realms in order of first appearance. Ties keep the
    server's (topmost-first) order, as RFC 8760 §2.4 asks."""
    allowed = {a.upper() for a in supported}
    best: dict[str, Challenge] = {}
    for challenge in challenges:
        if not challenge.is_digest or challenge.realm is None or challenge.nonce is None:
            continue
        algorithm = _canonical_algorithm(challenge.algorithm)
        if algorithm is None or algorithm.upper() not in allowed:
            continue
        qops = challenge.qop_options
        if qops and not {"auth", "auth-int"} & set(qops):
            continue
        current = best.get(challenge.realm)
        if current is None or _strength(algorithm) > _strength(
            _canonical_algorithm(current.algorithm) or "MD5"
        ):
            best[challenge.realm] = challenge
    return list(best.values())


@dataclass
class _RealmState:
    header: str
    challenge: Challenge
    algorithm: str
    nc: int = 0
    # What the last request used, to check the server's rspauth.
    last_uri: str = ""
    last_qop: str | None = None
    last_nc: int = 0
    last_cnonce: str | None = None


class DigestClient:
    """Answers 401/407 challenges for one user; remembers the nonce of each
    realm so later requests can authenticate pre-emptively (``authorize``).

    ``cnonce`` draws a fresh client nonce (default ``secrets.token_hex(8)``).
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        algorithms: Sequence[str] = ALGORITHMS,
        cnonce: Callable[[], str] | None = None,
    ) -> None:
        if not username or "\r" in username or "\n" in username:
            raise ValueError(f"bad digest user name {username!r}")
        self.username = username
        self._password = password
        self.algorithms = tuple(algorithms)
        self._cnonce = cnonce or (lambda: secrets.token_hex(8))
        self._realms: dict[str, _RealmState] = {}

    def answer(
        self,
        status: int,
        challenges: str | Sequence[str],
        method: str,
        uri: str,
        body: bytes = b"",
    ) -> ClientAnswer:
        """Credentials for a request that got ``status`` (401 or 407) with
        these ``WWW-Authenticate``/``Proxy-Authenticate`` values.

        Raises ``DigestError`` when a value is malformed or no challenge is
        usable (no Digest, unsupported algorithm or qop).
        """
        if status == 401:
            what, header = "WWW-Authenticate", "Authorization"
        elif status == 407:
            what, header = "Proxy-Authenticate", "Proxy-Authorization"
        else:
            raise LocalProtocolError(f"a digest challenge comes in a 401 or 407, not {status}")
        chosen = choose_challenges(parse_challenges(challenges, what), self.algorithms)
        if not chosen:
            raise DigestError(
                f"{what} header: no usable Digest challenge "
                f"(supported algorithms: {', '.join(self.algorithms)}; qop auth or auth-int)."
            )
        stale = all(challenge.stale for challenge in chosen)
        out: list[Authorization] = []
        for challenge in chosen:
            assert challenge.realm is not None
            algorithm = _canonical_algorithm(challenge.algorithm) or "MD5"
            state = _RealmState(header, challenge, algorithm)
            previous = self._realms.get(challenge.realm)
            if previous is not None and previous.challenge.nonce == challenge.nonce:
                state.nc = previous.nc  # the same nonce again: keep counting
            self._realms[challenge.realm] = state
            out.append(self._authorize(state, method, uri, body))
        return ClientAnswer(out, stale)

    def authorize(self, method: str, uri: str, body: bytes = b"") -> list[Authorization]:
        """Credentials for a new request, reusing each realm's last nonce with
        the next nonce count (empty before any challenge)."""
        return [self._authorize(state, method, uri, body) for state in self._realms.values()]

    def nonce_count(self, realm: str) -> int:
        """The last ``nc`` used for ``realm`` (0 when none)."""
        state = self._realms.get(realm)
        return state.nc if state else 0

    def _authorize(self, state: _RealmState, method: str, uri: str, body: bytes) -> Authorization:
        challenge = state.challenge
        realm = challenge.realm or ""
        nonce = challenge.nonce or ""
        qops = challenge.qop_options
        qop: str | None
        if not qops:
            qop = None
        elif "auth" in qops:
            qop = "auth"
        else:
            qop = "auth-int"
        cnonce: str | None = None
        nc: int | None = None
        if qop is not None or state.algorithm.endswith("-sess"):
            cnonce = self._cnonce()
        if qop is not None:
            state.nc += 1
            nc = state.nc
        response = compute_response(
            algorithm=state.algorithm,
            username=self.username,
            realm=realm,
            password=self._password,
            method=method,
            uri=uri,
            nonce=nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        username = self.username
        if challenge.userhash:
            username = _hexdigest(state.algorithm, f"{self.username}:{realm}".encode())
        value = build_credentials(
            username=username,
            realm=realm,
            nonce=nonce,
            uri=uri,
            response=response,
            algorithm=state.algorithm if "algorithm" in challenge.params else None,
            qop=qop,
            nc=nc,
            cnonce=cnonce if qop is not None else None,
            opaque=challenge.opaque,
            userhash=challenge.userhash,
        )
        if qop is None and cnonce is not None:
            # -sess without qop (RFC 2617 allows it): the cnonce must still be sent.
            value += f", cnonce={_quote(cnonce)}"
        state.last_uri, state.last_qop, state.last_cnonce = uri, qop, cnonce
        state.last_nc = nc or 0
        return Authorization(state.header, value, realm, state.algorithm)

    def check_authentication_info(
        self, value: str, *, realm: str | None = None, body: bytes = b""
    ) -> bool:
        """Check an ``Authentication-Info`` value (RFC 7616 §3.5, RFC 3261
        §22.4) against the last request sent for ``realm`` (default: the one
        realm answered with ``Authorization``). ``body`` is the response's,
        for ``qop=auth-int``.

        Returns false when ``rspauth`` does not prove the server knows the
        password. A ``nextnonce`` is adopted for later ``authorize`` calls
        (count restarting at 1). Raises ``DigestError`` on a malformed value.
        """
        params = parse_params(value)
        state = self._state_for(realm)
        rspauth = params.get("rspauth")
        if rspauth is not None:
            if state.last_qop is None or state.last_cnonce is None:
                return False
            expected = compute_response(
                algorithm=state.algorithm,
                username=self.username,
                realm=state.challenge.realm or "",
                password=self._password,
                method="",
                uri=state.last_uri,
                nonce=state.challenge.nonce or "",
                qop=state.last_qop,
                nc=state.last_nc,
                cnonce=state.last_cnonce,
                body=body,
            )
            if not hmac.compare_digest(expected.encode(), rspauth.lower().encode()):
                return False
        nextnonce = params.get("nextnonce")
        if nextnonce:
            fresh = {k: v for k, v in state.challenge.params.items() if k != "stale"}
            fresh["nonce"] = nextnonce
            state.challenge = Challenge(state.challenge.scheme, fresh)
            state.nc = 0
        return True

    def _state_for(self, realm: str | None) -> _RealmState:
        if realm is not None:
            state = self._realms.get(realm)
            if state is None:
                raise LocalProtocolError(f"no request was authorized for realm {realm!r}")
            return state
        candidates = [s for s in self._realms.values() if s.header == "Authorization"]
        if len(candidates) != 1:
            raise LocalProtocolError(
                f"{len(candidates)} realms answered with Authorization: name the realm"
            )
        return candidates[0]


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthResult:
    """The verdict of ``DigestServer.verify``.

    ``stale`` means the digest was right but the nonce expired, was replayed
    or is unknown: challenge again with ``stale=True``.
    """

    ok: bool
    reason: str = ""
    stale: bool = False
    username: str | None = None
    algorithm: str | None = None


_NONCE_STRUCT = struct.Struct(">dQ")
_NONCE_MAC_BYTES = 16
_NONCE_BYTES = _NONCE_STRUCT.size + _NONCE_MAC_BYTES


class DigestServer:
    """Challenges requests and verifies credentials for one realm.

    ``credentials`` maps a user name to a password, or is a callable
    returning the password (``None``: unknown user). ``proxy=True`` makes it
    answer 407 with ``Proxy-Authenticate`` and read ``Proxy-Authorization``.
    ``max_nonces`` bounds the replay table (about 240 bytes an entry, measured).
    """

    def __init__(
        self,
        realm: str,
        credentials: Mapping[str, str] | Callable[[str], str | None],
        *,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        qop: Sequence[str] = ("auth",),
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
        proxy: bool = False,
        max_nonces: int = 10_000,
        allow_no_qop: bool = False,
        salt: Callable[[], int] | None = None,
    ) -> None:
        canonical = []
        for name in algorithms:
            known = _canonical_algorithm(name)
            if known is None:
                raise ValueError(f"unsupported digest algorithm {name!r}")
            canonical.append(known)
        if not canonical:
            raise ValueError("at least one digest algorithm is needed")
        if not set(qop) <= {"auth", "auth-int"}:
            raise ValueError(f"unsupported qop in {qop!r}")
        if "\r" in realm or "\n" in realm:
            raise ValueError("CR or LF in realm")
        # Strongest first, as RFC 8760 §2.4 asks of the header order.
        self.algorithms = tuple(sorted(canonical, key=_strength, reverse=True))
        self.realm = realm
        self.qop = tuple(qop)
        self.nonce_lifetime = nonce_lifetime
        self.proxy = proxy
        self.allow_no_qop = allow_no_qop
        self.max_nonces = max_nonces
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._salt = salt or (lambda: secrets.randbits(64))
        self._lookup: Callable[[str], str | None]
        self._users: Mapping[str, str] | None = None
        if isinstance(credentials, Mapping):
            self._users = credentials
            self._lookup = credentials.get
        else:
            self._lookup = credentials
        # nonce -> (issued, highest nc); insertion order is first-use order.
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._floor = float("-inf")

    @property
    def status(self) -> int:
        """401 for a user agent or registrar, 407 for a proxy."""
        return 407 if self.proxy else 401

    @property
    def challenge_header(self) -> str:
        """``WWW-Authenticate``, or ``Proxy-Authenticate`` for a proxy."""
        return "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"

    @property
    def credentials_header(self) -> str:
        """``Authorization``, or ``Proxy-Authorization`` for a proxy."""
        return "Proxy-Authorization" if self.proxy else "Authorization"

    # -- nonces ---------------------------------------------------------------

    def _mac(self, packed: bytes) -> bytes:
        return hmac.new(self._secret, self.realm.encode() + b"\0" + packed, "sha256").digest()[
            :_NONCE_MAC_BYTES
        ]

    def make_nonce(self, now: float) -> str:
        """A fresh nonce carrying its issue time and an HMAC (no state kept)."""
        packed = _NONCE_STRUCT.pack(now, self._salt() & 0xFFFF_FFFF_FFFF_FFFF)
        return base64.urlsafe_b64encode(packed + self._mac(packed)).decode().rstrip("=")

    def _nonce_issued(self, nonce: str) -> float | None:
        """The issue time of a nonce we made, or ``None``."""
        if len(nonce) != 43:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except ValueError:
            return None
        if len(raw) != _NONCE_BYTES:
            return None
        packed, mac = raw[: _NONCE_STRUCT.size], raw[_NONCE_STRUCT.size :]
        if not hmac.compare_digest(mac, self._mac(packed)):
            return None
        issued, _ = _NONCE_STRUCT.unpack(packed)
        return float(issued)

    # -- challenge ------------------------------------------------------------

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        """One challenge value per algorithm, strongest first, each with its own nonce."""
        return [
            build_challenge(
                self.realm, self.make_nonce(now), algorithm=algorithm, qop=self.qop, stale=stale
            )
            for algorithm in self.algorithms
        ]

    # -- verify ---------------------------------------------------------------

    def verify(
        self,
        method: str,
        authorization: str | Sequence[str] | None,
        now: float,
        body: bytes = b"",
        *,
        uri: str | None = None,
    ) -> AuthResult:
        """Check the credentials of a request (all its ``Authorization`` or
        ``Proxy-Authorization`` values; the one for our realm is used).

        ``uri``, when given, must equal the credentials' ``uri`` (the
        Request-URI). Never raises for bad input.
        """
        mine, error = self._credentials_for(authorization)
        if mine is None:
            return AuthResult(False, error)
        return self._verify(mine, method, now, body, uri)

    def _credentials_for(
        self, authorization: str | Sequence[str] | None
    ) -> tuple[Credentials | None, str]:
        """Our realm's credentials among the values, or ``None`` and why."""
        if authorization is None:
            return None, "no credentials"
        values = [authorization] if isinstance(authorization, str) else list(authorization)
        first_error = ""
        for value in values:
            try:
                credentials = parse_credentials(value, self.credentials_header)
            except DigestError as err:
                first_error = first_error or str(err)
                continue
            if credentials.is_digest and credentials.realm == self.realm:
                return credentials, ""
        if not values:
            return None, "no credentials"
        return None, first_error or f"no Digest credentials for realm {self.realm!r}"

    def authentication_info(
        self,
        authorization: str | Sequence[str],
        now: float,
        body: bytes = b"",
        *,
        nextnonce: bool = True,
    ) -> str:
        """The ``Authentication-Info`` value for a request whose credentials
        ``verify`` accepted (RFC 7616 §3.5, RFC 3261 §22.4): ``rspauth``
        proves we know the password too (``body`` is the response's, for
        ``auth-int``); ``nextnonce`` lets the client's next request skip the
        challenge. Raises ``LocalProtocolError`` for credentials that did not verify.
        """
        cred, error = self._credentials_for(authorization)
        if cred is None:
            raise LocalProtocolError(f"authentication_info needs verified credentials: {error}")
        algorithm = _canonical_algorithm(cred.algorithm)
        username = self._username(cred, algorithm) if algorithm is not None else None
        password = self._lookup(username) if username is not None else None
        if algorithm is None or password is None:
            raise LocalProtocolError("authentication_info needs verified credentials")
        parts = [f"nextnonce={_quote(self.make_nonce(now))}"] if nextnonce else []
        qop, nc, cnonce = cred.qop, cred.nc, cred.cnonce
        if qop in ("auth", "auth-int") and nc is not None and cnonce is not None:
            try:
                count = int(nc, 16)
            except ValueError:
                raise LocalProtocolError(f"authentication_info: bad nc {nc!r}") from None
            rspauth = compute_response(
                algorithm=algorithm,
                username=username or "",
                realm=self.realm,
                password=password,
                method="",
                uri=cred.uri or "",
                nonce=cred.nonce or "",
                qop=qop,
                nc=count,
                cnonce=cnonce,
                body=body,
            )
            parts += [
                f"qop={qop}",
                f"rspauth={_quote(rspauth)}",
                f"cnonce={_quote(cnonce)}",
                f"nc={nc}",
            ]
        return ", ".join(parts)

    def _verify(
        self, cred: Credentials, method: str, now: float, body: bytes, uri: str | None
    ) -> AuthResult:
        what = self.credentials_header
        for name in ("username", "nonce", "uri", "response"):
            if cred.get(name) is None:
                return AuthResult(False, f"{what} header: missing parameter {name!r}.")
        algorithm = _canonical_algorithm(cred.algorithm)
        if algorithm is None or algorithm not in self.algorithms:
            return AuthResult(False, f"{what} header: algorithm {cred.algorithm!r} not offered.")
        qop = cred.qop
        nc_value = 0
        if qop is None:
            if not self.allow_no_qop:
                return AuthResult(False, f"{what} header: qop missing but qop was offered.")
        elif qop not in self.qop:
            return AuthResult(False, f"{what} header: qop {qop!r} not offered.")
        else:
            nc_text, cnonce = cred.nc, cred.cnonce
            if nc_text is None or cnonce is None:
                return AuthResult(False, f"{what} header: qop given without nc and cnonce.")
            if len(nc_text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in nc_text):
                return AuthResult(False, f"{what} header: nc {nc_text!r} is not 8 hex digits.")
            nc_value = int(nc_text, 16)
            if nc_value == 0:
                return AuthResult(False, f"{what} header: nc is zero.")
        if algorithm.endswith("-sess") and cred.cnonce is None:
            return AuthResult(False, f"{what} header: {algorithm} needs a cnonce.")
        cred_uri = cred.uri or ""
        if uri is not None and cred_uri != uri:
            return AuthResult(
                False, f"{what} header: uri {cred_uri!r} is not the Request-URI {uri!r}."
            )
        response = (cred.response or "").lower()

        username = self._username(cred, algorithm)
        password = self._lookup(username) if username is not None else None
        known_user = password is not None
        expected = compute_response(
            algorithm=algorithm,
            username=username if username is not None else "",
            realm=self.realm,
            # An unknown user is still hashed, so timing does not tell who exists.
            password=password if password is not None else "\0unknown",
            method=method,
            uri=cred_uri,
            nonce=cred.nonce or "",
            qop=qop,
            nc=nc_value if qop is not None else None,
            cnonce=cred.cnonce,
            body=body,
        )
        matches = hmac.compare_digest(expected.encode(), response.encode())
        if not known_user:
            return AuthResult(False, f"unknown user {cred.username!r}", algorithm=algorithm)
        if not matches:
            return AuthResult(
                False,
                f"wrong response for user {username!r}",
                username=username,
                algorithm=algorithm,
            )
        return self._check_nonce(
            cred.nonce or "", nc_value, qop is not None, now, username, algorithm
        )

    def _username(self, cred: Credentials, algorithm: str) -> str | None:
        if not cred.userhash:
            return cred.username
        if self._users is None:
            return None
        wanted = (cred.username or "").lower()
        for user in self._users:
            hashed = _hexdigest(algorithm, f"{user}:{self.realm}".encode())
            if hmac.compare_digest(hashed, wanted):
                return user
        return None

    def _check_nonce(
        self, nonce: str, nc: int, counted: bool, now: float, username: str | None, algorithm: str
    ) -> AuthResult:
        issued = self._nonce_issued(nonce)
        if issued is None:
            return AuthResult(False, "nonce not issued by this server", True, username, algorithm)
        if issued > now or now - issued > self.nonce_lifetime:
            return AuthResult(False, "nonce expired", True, username, algorithm)
        self._expire(now)
        entry = self._seen.get(nonce)
        if entry is None:
            if issued <= self._floor:
                return AuthResult(
                    False, "nonce forgotten (replay table full)", True, username, algorithm
                )
            self._seen[nonce] = (issued, nc)
            while len(self._seen) > self.max_nonces:
                _, (old_issued, _) = self._seen.popitem(last=False)
                self._floor = max(self._floor, old_issued)
        elif counted:
            if nc <= entry[1]:
                return AuthResult(
                    False, f"nonce count {nc:08x} replayed", True, username, algorithm
                )
            self._seen[nonce] = (issued, nc)
        return AuthResult(True, "", False, username, algorithm)

    def _expire(self, now: float) -> None:
        """Drop replay entries whose nonce has expired anyway (oldest first)."""
        while self._seen:
            nonce, (issued, _) = next(iter(self._seen.items()))
            if now - issued <= self.nonce_lifetime:
                break
            del self._seen[nonce]

    def remembered_nonces(self) -> int:
        """How many nonces the replay table holds (for tests and metrics)."""
        return len(self._seen)
