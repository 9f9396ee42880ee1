"""Live probes of the SIP core for ``sipflow compat``: parse a method, then send it.

Rules:

* Nothing here says what the core does with a method: every answer is
  observed, at compat time, by running the real code. The only method-specific
  text in this module is the start line and CSeq of the probe request, which
  are the method's own name.
* :func:`probe_parse` builds a minimal request of the method, runs it through
  ``sipflow.sip.parser.parse_message``, builds a 200 response to it with
  ``make_response``, serialises that and parses it back. The result says what
  happened (or the parser's own error sentence).
* :func:`probe_core` puts two ``SipEndpoint`` objects (``caller`` → ``callee``)
  on an in-memory wire and sends the method in four contexts, each on fresh
  endpoints and in virtual time:

  - ``outside``: the minimal request, as bytes, reaches the callee outside any dialog;
  - ``early``: the caller's INVITE got a reliable 183 (an early dialog, 100rel);
  - ``answered``: the INVITE got a 200 the caller has not ACKed yet (``auto_ack=False``);
  - ``confirmed``: INVITE, 200 and ACK are done.

  In the last three the caller's own API sends the method
  (``SipEndpoint.request(handle, method)``). For each context the probe
  records which transaction the callee's transaction layer created (by the
  difference of ``layer.counts()``), what the callee's core sent by itself
  (within 250 ms of virtual time, so a delayed 100 Trying shows), and whether
  the application heard of it (a ``RequestReceived``, with a request id to
  answer or without one). A context the caller's core refuses to send in, or
  sends nothing in, is reported as such.
* Both endpoints allow the methods sipflow covers (``compat`` passes
  ``SIP_METHODS`` as ``EndpointConfig.allow``), so the column shows what the
  core can do with each; a method outside them gets the core's 405/501. A
  second ``outside`` probe on a default-configured endpoint shows what the
  default ``Allow`` does (405).
* A probe never raises: an unexpected exception becomes the outcome text.

Theory of operation: :class:`_Wire` moves datagrams between the two endpoints
until nothing is left to send (bounded); :func:`_observe` wraps the step that
hands the method to the callee and reads the counters, transmits and events.
All fourteen methods take a few tens of milliseconds.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sipflow.sip import events as ev
from sipflow.sip.endpoint import EndpointConfig, SipEndpoint
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.types import Address

CALLER = Address("udp", "127.0.0.1", 5061)
CALLEE = Address("udp", "127.0.0.1", 5062)
CALLEE_URI = f"sip:probe@{CALLEE.host}:{CALLEE.port}"
CONTEXTS = ("outside", "early", "answered", "confirmed")
"""The situations a method is sent in, in the order they are tried."""

LOOK_AHEAD = 0.25
"""Virtual seconds the callee's timers run after the request (its 100 Trying waits 200 ms)."""

TXN_KINDS = {"invite_server": "INVITE txn", "non_invite_server": "non-INVITE txn"}


# -- parsing --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParseResult:
    """What ``parse_message`` made of a minimal request of the method and of a 200 to it."""

    ok: bool
    text: str


def minimal_request(method: str, branch: str = "z9hG4bKcompat") -> bytes:
    """The smallest well-formed request of ``method`` from the caller to the callee."""
    tag = "compat"
    return (
        f"{method} {CALLEE_URI} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {CALLER.host}:{CALLER.port};branch={branch}{method.lower()}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:compat@{CALLER.host}:{CALLER.port}>;tag={tag}\r\n"
        f"To: <{CALLEE_URI}>\r\n"
        f"Call-ID: compat-{method.lower()}@{CALLER.host}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Contact: <sip:compat@{CALLER.host}:{CALLER.port}>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def probe_parse(method: str) -> ParseResult:
    """Parse a minimal ``method`` request and a 200 response to it; say what happened."""
    try:
        request = parse_message(minimal_request(method))
    except RemoteProtocolError as exc:
        return ParseResult(False, f"request rejected: {exc.reason} ({exc.status or 'dropped'})")
    if not isinstance(request, Request) or request.method != method:
        return ParseResult(False, f"request parsed as {type(request).__name__} "
                                  f"{getattr(request, 'method', '')!s}".rstrip())
    try:
        response = parse_message(make_response(request, 200).serialize())
    except (RemoteProtocolError, LocalProtocolError) as exc:
        return ParseResult(False, f"request ok; 200 response failed: {exc}")
    if not isinstance(response, Response) or response.cseq.method != method:
        return ParseResult(False, "request ok; the 200 response did not answer it")
    return ParseResult(True, "request and 200 response round-trip")


# -- the core -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to the method in one context."""

    context: str
    sent: bool
    """False when the caller's core refused (or declined) to send it here."""
    server_txn: str | None = None
    """``invite_server``, ``non_invite_server`` or None (no transaction)."""
    client_txn: str | None = None
    core_statuses: tuple[int, ...] = ()
    """Responses the callee's core sent by itself, in order."""
    app: str | None = None
    """``answer`` (the application must answer it), ``told`` (already answered, or
    nothing to answer) or None (the application never heard of it)."""
    note: str = ""

    @property
    def accepted(self) -> bool:
        """The request reached the application."""
        return self.app is not None

    def text(self) -> str:
        """A few words: ``app answers``, ``core 481``, ``not sent (…)`` …"""
        if not self.sent:
            return "probe failed" if self.note.startswith("probe failed") else "not sent"
        provisional = [s for s in self.core_statuses if s < 200]
        final = [s for s in self.core_statuses if s >= 200]
        if self.app == "answer":
            before = f" after core {'/'.join(map(str, provisional))}" if provisional else ""
            return f"app answers{before}"
        if self.app == "told":
            if self.core_statuses:
                return f"core {'/'.join(map(str, self.core_statuses))}, app told"
            return "app told, nothing to answer"
        if final:
            return f"core {'/'.join(map(str, final))}"
        return "dropped silently"


@dataclass(frozen=True, slots=True)
class CoreResult:
    """The transaction handling of one method: the outcome in every context."""

    method: str
    outcomes: tuple[Outcome, ...]
    default_allow: Outcome | None = None
    """The ``outside`` probe on a default-configured callee, when it differs."""

    @property
    def kind(self) -> str:
        """``INVITE txn``, ``non-INVITE txn`` or ``no transaction`` (as the callee saw it)."""
        kinds = sorted({TXN_KINDS.get(o.server_txn or "", "") for o in self.outcomes if o.sent} - {""})
        return " + ".join(kinds) if kinds else "no transaction"

    @property
    def accepted(self) -> bool:
        """The request reached the application in at least one context."""
        return any(o.accepted for o in self.outcomes)

    def text(self, tag: str = "") -> str:
        """``non-INVITE txn; app answers: early, confirmed; core 481: outside``
        (``tag``, when given, follows the kind: ``non-INVITE txn [sip]; …``)."""
        groups: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            groups.setdefault(outcome.text(), []).append(outcome.context)
        ordered = sorted(groups.items(), key=lambda item: (not item[0].startswith(("app", "core 200")),
                                                          CONTEXTS.index(item[1][0])))
        kind = f"{self.kind} {tag}" if tag else self.kind
        parts = [kind] + [f"{what}: {', '.join(where)}" for what, where in ordered]
        if self.default_allow is not None:
            parts.append(f"default Allow: {self.default_allow.text()}")
        return "; ".join(parts)


class _Wire:
    """Two endpoints and the datagrams between them (virtual time 0)."""

    def __init__(self, config: EndpointConfig, seed: int) -> None:
        rng = random.Random(seed)
        self.caller = SipEndpoint(CALLER, config, random.Random(rng.getrandbits(32)))
        self.callee = SipEndpoint(CALLEE, config, random.Random(rng.getrandbits(32)))

    def to_callee(self) -> int:
        sent = self.caller.take_transmits()
        for transmit in sent:
            self.callee.receive(transmit.data, CALLER, 0.0)
        return len(sent)

    def pump(self) -> None:
        for _ in range(20):
            back = self.callee.take_transmits()
            for transmit in back:
                self.caller.receive(transmit.data, CALLEE, 0.0)
            if not self.to_callee() and not back:
                return
        raise RuntimeError("the two endpoints never stopped talking")

    def callee_request(self, method: str) -> str:
        """The request id of the last ``method`` the callee's application received."""
        for event in reversed(self.callee.take_events()):
            if isinstance(event, ev.RequestReceived) and event.method == method and event.request_id:
                return event.request_id
        raise RuntimeError(f"the callee never received the {method}")


def _setup(context: str, wire: _Wire) -> str | None:
    """Bring the pair into ``context``; the caller's handle (None for ``outside``)."""
    if context == "outside":
        return None
    handle = wire.caller.invite(CALLEE_URI, rel100="supported", auto_ack=context != "answered")
    wire.pump()
    rid = wire.callee_request("INVITE")
    if context == "early":
        wire.callee.respond(rid, 183, reliable=True)
    else:
        wire.callee.respond(rid, 200)
    wire.pump()
    wire.caller.take_events()
    wire.callee.take_events()
    return handle


def _observe(context: str, wire: _Wire, method: str, send: Callable[[], object]) -> Outcome:
    before_client = Counter(wire.caller.core.layer.counts())
    before_server = Counter(wire.callee.core.layer.counts())
    try:
        send()
    except LocalProtocolError as exc:
        return Outcome(context, False, note=f"caller's core: {exc}")
    client = _new_kind(before_client, wire.caller.core.layer.counts())
    if context != "outside" and not wire.to_callee():
        return Outcome(context, False, note="caller's core sent nothing")
    server = _new_kind(before_server, wire.callee.core.layer.counts())
    events = wire.callee.take_events()
    wire.callee.handle_timers(LOOK_AHEAD)
    events += wire.callee.take_events()
    statuses = tuple(
        msg.status for msg in _parsed(t.data for t in wire.callee.take_transmits())
        if isinstance(msg, Response) and msg.cseq.method == method
    )
    app = None
    for event in events:
        if isinstance(event, ev.RequestReceived) and event.method == method:
            app = "answer" if event.request_id is not None else "told"
    return Outcome(context, True, server, client, statuses, app)


def _parsed(datagrams: Iterable[bytes]) -> list[Request | Response]:
    return [parse_message(data) for data in datagrams]


def _new_kind(before: Counter[str], after: dict[str, int]) -> str | None:
    grown = [kind for kind, n in after.items() if n > before.get(kind, 0)]
    return grown[0] if grown else None


def _probe_context(context: str, method: str, config: EndpointConfig, seed: int) -> Outcome:
    try:
        wire = _Wire(config, seed)
        handle = _setup(context, wire)
        if handle is None:
            data = minimal_request(method)
            return _observe(context, wire, method, lambda: wire.callee.receive(data, CALLER, 0.0))
        return _observe(context, wire, method, lambda: wire.caller.request(handle, method))
    except Exception as exc:  # noqa: BLE001 - a probe reports, it never raises
        return Outcome(context, False, note=f"probe failed: {type(exc).__name__}: {exc}")


def probe_core(method: str, allow: Iterable[str], seed: int = 1) -> CoreResult:
    """Send ``method`` in every context of ``CONTEXTS`` and report what the core did.

    ``allow`` is the ``EndpointConfig.allow`` of both endpoints: pass every
    method sipflow covers (it must hold INVITE, which sets the contexts up).
    """
    config = EndpointConfig(allow=tuple(allow))
    outcomes = tuple(_probe_context(c, method, config, seed) for c in CONTEXTS)
    default = _probe_context("outside", method, EndpointConfig(), seed)
    differs = default.text() != outcomes[0].text()
    return CoreResult(method, outcomes, default if differs else None)
