"""``EndpointBackend``: the table engine over sipflow's own SIP core (``SipEndpoint``).

Rules:

* This module maps, and does nothing else: UA-core events become table
  events (CONTRACTS §1) with the data tables test, and table actions become
  calls of the ``SipEndpoint`` API. Which answer, which body, whether to
  retry: all of that is in the tables. There is no flow-specific ``if`` here.
* Event mapping: ``RequestReceived`` → ``Dialog<METHOD>`` (``DialogReINVITE``
  for an INVITE inside a dialog) with ``in_dialog``, ``method``,
  ``request_id``, ``has_sdp`` (plus ``sdp``, ``sdp_error``, ``hold`` from the
  offer/answer bookkeeping and ``digits`` for a DTMF INFO);
  ``ResponseReceived`` → ``Dialog180Ringing`` … ``Dialog6xxFailure`` with
  ``code``, ``reason``, ``method``, ``reliable``, ``has_sdp``; ``Timeout`` →
  ``DialogTimeout`` (``timer`` B/F); ``AckTimeout`` → ``DialogTimeout``
  (``timer`` H); ``PrackTimeout`` → ``DialogTimeout`` (``timer`` PRACK);
  ``TransportError`` → ``DialogTransportError``; ``SessionRefreshDue`` →
  ``DialogSessionRefresh``; ``SessionExpired`` → ``DialogSessionExpired``;
  ``DialogTerminated`` → ``DialogTerminated``; ``HandleReleased`` →
  ``DialogReleased`` (only while a session still owns the handle).
* Safe defaults (``runtime.deliver`` returned False: no row): a request is
  answered — 405 with ``Allow`` outside a dialog (no table starts on it),
  488 to a re-INVITE or UPDATE inside one, 500 to other in-dialog requests;
  an unanswered CANCEL answers the INVITE with 487. Each is logged. ACK and
  responses need no answer.
* Before any table: with ``auth`` (a ``DigestServer``) an out-of-dialog
  INVITE, REGISTER, SUBSCRIBE, PUBLISH, MESSAGE or REFER without valid
  credentials gets 401 (CONTRACTS §7); while draining (``stop``), a new
  INVITE gets 503.
* ``Allow``, ``Supported`` and ``Accept`` come from the runtime's tables and
  ``capabilities`` (``sipflow.backends.derive``).
* Threading: none. Endpoint events are handled in the driver's ``on_step``;
  actions performed outside a step (an application command, a state timer)
  are flushed by one clock callback at the current time, so a handle
  ``perform`` returns is known to the runtime before its first event.

Theory of operation: the session key of every event is the core's handle
(``"c1"`` …). A new call session gets its handle from ``perform(None,
"SendINVITE", …)``; a UAS session is opened by the runtime from the
``DialogINVITE`` whose key no session owns (``starts_on``). A retry after
401/407 or 3xx is a new INVITE with a new handle, which ``perform`` returns
and the runtime adopts. Per-handle state (``CallMedia``) lives until the
core reports ``HandleReleased``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sipflow.clock import Clock
from sipflow.runtime.builtins import SIP_METHODS
from sipflow.sip import events as ev
from sipflow.sip.digest import DigestClient, DigestServer
from sipflow.sip.endpoint import EndpointConfig, SipEndpoint
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.offer_answer import MediaConfig
from sipflow.sip.session_timer import SessionTimerPolicy
from sipflow.sip.types import Address

from .base import BackendEvent, Capabilities, DialogHandle
from .derive import Advertised, derive
from .dtmf import dtmf_body, parse_dtmf
from .media import SDP, CallMedia, sdp_body

log = logging.getLogger("sipflow.backends")

CALL_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK", "UPDATE", "INFO", "MESSAGE")
"""The methods these backends deliver to tables (the others are later issues' tables)."""
CHALLENGED = frozenset({"INVITE", "REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER"})
"""Out-of-dialog requests ``auth`` challenges (CONTRACTS §7)."""
RESPONSE_EVENTS = ("Dialog180Ringing", "Dialog183SessionProgress", "Dialog1xxProvisional",
                   "Dialog200OK", "Dialog3xxRedirect", "DialogAuthChallenge", "Dialog4xxFailure",
                   "Dialog5xxFailure", "Dialog6xxFailure")
NOTICE_EVENTS = ("DialogTimeout", "DialogTransportError", "DialogSessionRefresh",
                 "DialogSessionExpired", "DialogTerminated", "DialogReleased")
REQUEST_ACTIONS = {"SendBYE": "BYE", "SendUPDATE": "UPDATE", "SendPRACK": "PRACK",
                   "SendINFO": "INFO", "SendOPTIONS": "OPTIONS", "SendMESSAGE": "MESSAGE",
                   "SendReINVITE": "INVITE"}
SDP_BODIES = frozenset({"sdp-offer", "sdp-answer", "sdp-hold", "sdp-resume"})
REL100 = {"never": "none", "none": "none", "supported": "supported", "required": "required"}


NOTICES: dict[type, Callable[[Any], tuple[str, dict[str, Any]]]] = {
    ev.Timeout: lambda e: ("DialogTimeout", {"timer": e.timer, "method": e.method}),
    ev.AckTimeout: lambda e: ("DialogTimeout", {"timer": "H", "method": "ACK"}),
    ev.PrackTimeout: lambda e: ("DialogTimeout", {"timer": "PRACK", "method": "PRACK"}),
    ev.TransportError: lambda e: ("DialogTransportError", {"method": e.method,
                                                            "reason": "transport error"}),
    ev.SessionRefreshDue: lambda e: ("DialogSessionRefresh", {"interval": e.interval}),
    ev.SessionExpired: lambda e: ("DialogSessionExpired", {}),
    ev.DialogTerminated: lambda e: ("DialogTerminated", {"reason": e.reason}),
}
"""UA-core notices and the table event each becomes (``DialogEstablished`` becomes none:
the response or ACK behind it already reached the table)."""


def _capabilities() -> Capabilities:
    requests = [f"Dialog{m}" for m in CALL_METHODS] + ["DialogReINVITE"]
    actions = ["SendINVITE", "SendACK", "SendCANCEL", "SendSIPResponse", "RetryWithCredentials",
               "FollowRedirect", *REQUEST_ACTIONS]
    return Capabilities(frozenset(requests + list(RESPONSE_EVENTS) + list(NOTICE_EVENTS)),
                        frozenset(actions), frozenset(SIP_METHODS))


def _headers(extra: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in (extra or {}).items()]


class EndpointBackend:
    """The shared part of the ``sip`` and ``loopback`` backends (see the module rules).

    Options: ``media`` (a ``MediaConfig``; default: audio on the first listen
    host), ``auth`` (a ``DigestServer``, or a mapping user → password with
    ``realm``), ``session_expires`` (seconds of RFC 4028 session timer to ask
    for; None: none), ``user`` (our Contact user part), ``rng`` (tags and
    branches: ``random.Random(seed)`` for reproducible runs), ``trying_delay``.
    """

    name: ClassVar[str] = "endpoint"
    capabilities: ClassVar[Capabilities] = _capabilities()

    def __init__(self, clock: Clock, *, media: MediaConfig | None = None,
                 auth: DigestServer | Mapping[str, str] | None = None, realm: str = "sipflow",
                 session_expires: int | None = None, user: str = "sipflow", rng: Any = None,
                 trying_delay: float = 0.2, tables: Any = None, registry: Any = None) -> None:
        self.clock = clock
        self.media = media
        self.auth = DigestServer(realm, dict(auth)) if isinstance(auth, Mapping) else auth
        self.session_expires = session_expires
        self.user = user
        self.rng = rng
        self.trying_delay = trying_delay
        self.tables = tables
        self.registry = registry
        self.runtime: Any = None
        self.driver: Any = None
        self.endpoint: SipEndpoint | None = None
        self.advertised = Advertised((), (), ())
        self.draining = False
        self.defaults: dict[int, int] = {}
        """Safe-default answers sent, by status code."""
        self._deliver: Callable[[BackendEvent], bool] | None = None
        self._calls: dict[str, CallMedia] = {}
        self._in_step = False
        self._flush_due = False
        self._fake = itertools.count(1)

    # -- wiring -------------------------------------------------------------------------
    def _bind(self, deliver: Callable[[BackendEvent], Any]) -> None:
        """Remember ``deliver``; find the runtime (and its tables and registry): the
        ``runtime`` attribute when set, else the object ``deliver`` is a method of."""
        self._deliver = deliver
        owner = getattr(deliver, "__self__", None)
        if self.runtime is None and owner is not None and hasattr(owner, "tables"):
            self.runtime = owner
        runtime = self.runtime
        if runtime is not None:
            if self.tables is None:
                self.tables = list(runtime.tables.values())
            if self.registry is None:
                self.registry = runtime.registry
        if self.registry is None:
            from sipflow.runtime.builtins import default_registry

            self.registry = default_registry()
        self.advertised = derive(self.tables or [], self.registry, self.capabilities)

    def make_endpoint(self, addresses: list[Address]) -> SipEndpoint:
        """The ``SipEndpoint`` on the bound ``addresses``, configured from the tables."""
        policy = SessionTimerPolicy(session_expires=self.session_expires)
        config = EndpointConfig(allow=self.advertised.allow or ("OPTIONS",),
                                supported=self.advertised.supported, session_timer=policy,
                                user=self.user, trying_delay=self.trying_delay)
        if self.media is None:
            host = addresses[0].host if addresses else "127.0.0.1"
            self.media = MediaConfig(address=host)
        endpoint = SipEndpoint(addresses, config, rng=self.rng)
        self.endpoint = endpoint
        return endpoint

    @property
    def local_addresses(self) -> list[Address]:
        """Where the backend listens (after ``start``)."""
        return list(self.endpoint.local) if self.endpoint is not None else []

    def counts(self) -> dict[str, int]:
        """Live SIP-core objects plus the backend's per-leg records (all 0 when idle)."""
        out = dict(self.endpoint.counts()) if self.endpoint is not None else {}
        out["legs"] = len(self._calls)
        return out

    # -- events from the core -------------------------------------------------------------
    def on_step(self, driver: Any) -> None:
        """The driver's hook: turn every pending endpoint event into a table event."""
        endpoint = driver.endpoint
        self._in_step = True
        try:
            while True:
                events = endpoint.take_events()
                if not events:
                    break
                for event in events:
                    try:
                        self._on_event(event)
                    except Exception:  # a bug must not stop the other events
                        log.exception("backend failed on %r", event)
        finally:
            self._in_step = False

    def _on_event(self, event: ev.UAEvent) -> None:
        kind = type(event)
        if kind is ev.RequestReceived:
            self._on_request(event)  # type: ignore[arg-type]
        elif kind is ev.ResponseReceived:
            self._on_response(event)  # type: ignore[arg-type]
        elif kind is ev.HandleReleased:
            self._calls.pop(event.handle, None)
            runtime = self.runtime
            if runtime is None or runtime.session_for(event.handle) is not None:
                self._send(event.handle, "DialogReleased", {})
        else:
            notice = NOTICES.get(kind)
            if notice is not None:
                name, data = notice(event)
                self._send(event.handle, name, data)

    def _send(self, handle: DialogHandle, name: str, data: dict[str, Any],
              message: Any = None) -> bool:
        deliver = self._deliver
        if deliver is None:
            return False
        try:
            return bool(deliver(BackendEvent(handle, name, data, message)))
        except Exception as exc:  # e.g. a table parameter that does not parse
            log.error("could not deliver %s for %s: %s: %s", name, handle, type(exc).__name__, exc)
            return False

    def _leg(self, handle: str) -> CallMedia:
        leg = self._calls.get(handle)
        if leg is None:
            assert self.media is not None
            leg = self._calls[handle] = CallMedia(self.media)
        return leg

    def _on_request(self, event: ev.RequestReceived) -> None:
        method, message, handle = event.method, event.message, event.handle
        rid = event.request_id
        if rid is not None and not event.in_dialog:
            if self.auth is not None and method in CHALLENGED and not self._authorized(rid, message):
                return
            if self.draining and method == "INVITE":
                self._answer(rid, 503, headers=[("Retry-After", "5")])
                return
        name = "DialogReINVITE" if method == "INVITE" and event.in_dialog else f"Dialog{method}"
        data: dict[str, Any] = {"in_dialog": event.in_dialog, "method": method,
                                "request_id": rid, "has_sdp": False}
        body = sdp_body(message)
        if body is not None:
            data["has_sdp"] = True
            self._leg(handle).take(body, data)
        if method == "INFO":
            digits = parse_dtmf(message.content_type, message.body)
            if digits:
                data["digits"] = digits
        if not self._send(handle, name, data, message):
            self._safe_default(event, name)

    def _on_response(self, event: ev.ResponseReceived) -> None:
        message, code, method = event.message, event.code, event.method
        data: dict[str, Any] = {"code": code, "reason": event.reason, "method": method,
                                "reliable": event.reliable, "has_sdp": False}
        leg = self._calls.get(event.handle)
        body = sdp_body(message)
        if body is not None:
            data["has_sdp"] = True
            if method in ("INVITE", "PRACK", "UPDATE"):
                self._leg(event.handle).take(body, data, code=code)
        if leg is not None and code >= 300 and method in ("INVITE", "UPDATE"):
            leg.failed()
            if method == "INVITE" and code < 400 or code in (401, 407):
                leg.challenge = message
        self._send(event.handle, ev.table_event(event), data, message)

    def _authorized(self, rid: str, message: Any) -> bool:
        auth = self.auth
        assert auth is not None
        values = message.headers.get_all(auth.credentials_header)
        now = self.clock.now()
        result = auth.verify(message.method, values or None, now, message.body,
                             uri=str(message.ruri))
        if result.ok:
            return True
        challenge = [(auth.challenge_header, value) for value in auth.challenge(now, result.stale)]
        self._answer(rid, auth.status, headers=challenge)
        return False

    def _safe_default(self, event: ev.RequestReceived, name: str) -> None:
        rid = event.request_id
        if rid is None:
            if event.method == "CANCEL":
                pending = self._endpoint().pending_invite(event.handle)
                if pending is not None:
                    log.info("no row for CANCEL (%s): answered the INVITE with 487", event.handle)
                    self.defaults[487] = self.defaults.get(487, 0) + 1
                    self._answer(pending, 487)
            return
        headers: list[tuple[str, str]] = []
        if not event.in_dialog:
            code = 405
            headers.append(("Allow", ", ".join(self.advertised.allow)))
        elif name in ("DialogReINVITE", "DialogUPDATE"):
            code = 488
        else:
            code = 500
        log.info("no row for %s (%s): safe default %d", name, event.handle, code)
        self.defaults[code] = self.defaults.get(code, 0) + 1
        leg = self._calls.get(event.handle)
        if leg is not None and code >= 300:
            leg.rejected()
        self._answer(rid, code, headers=headers)

    def _answer(self, rid: str, code: int, reason: str | None = None, *,
                headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                content_type: str | None = None, reliable: bool = False) -> None:
        self._endpoint().respond(rid, code, reason, headers=headers or (), body=body,
                                 content_type=content_type, reliable=reliable,
                                 now=self.clock.now())
        self._touch()

    def _endpoint(self) -> SipEndpoint:
        if self.endpoint is None:
            raise RuntimeError(f"the {self.name} backend is not started")
        return self.endpoint

    # -- actions from the tables -------------------------------------------------------
    def perform(self, handle: DialogHandle | None, action: str,
                params: Mapping[str, Any]) -> DialogHandle | None:
        """Do ``action`` for the leg ``handle``; returns a new handle for a new INVITE."""
        endpoint = self._endpoint()
        now = self.clock.now()
        try:
            if action == "SendSIPResponse":
                self._respond(handle, params, now)
                return None
            if action == "SendINVITE":
                return self._invite(params, now)
            if handle is None and action in ("SendOPTIONS", "SendMESSAGE") and params.get("target"):
                return self._out_of_dialog(REQUEST_ACTIONS[action], params, now)
            if handle is None or str(handle).startswith("x"):
                raise ValueError(f"{action}: the session has no dialog yet")
            if action == "SendACK":
                body = self._leg(handle).body(params.get("body") or "sdp-answer")
                endpoint.ack(handle, body=body, headers=_headers(params.get("headers")), now=now)
            elif action == "SendCANCEL":
                endpoint.cancel(handle, now=now)
            elif action in REQUEST_ACTIONS:
                self._request(handle, REQUEST_ACTIONS[action], params, now)
            elif action == "RetryWithCredentials":
                return self._retry_auth(handle, params, now)
            elif action == "FollowRedirect":
                return self._redirect(handle, now)
            else:
                raise ValueError(f"the {self.name} backend cannot perform {action}")
            return None
        finally:
            self._touch()

    def _request(self, handle: str, method: str, params: Mapping[str, Any], now: float) -> None:
        kind = params.get("body")
        headers = _headers(params.get("headers"))
        content_type = SDP
        if kind in ("dtmf-relay", "dtmf"):
            body, content_type, extra = dtmf_body(kind, params.get("digits", ""))
            headers.extend(extra)
        elif kind in SDP_BODIES:
            body = self._leg(handle).body(kind)
        else:
            body = b""
        self._endpoint().request(handle, method, body=body, content_type=content_type,
                                 headers=headers, now=now)

    def _out_of_dialog(self, method: str, params: Mapping[str, Any], now: float) -> DialogHandle:
        """A request outside any dialog (OPTIONS, MESSAGE) to ``params["target"]``; its handle."""
        target = str(params["target"])
        try:
            return self._endpoint().request(None, method, uri=target,
                                            headers=_headers(params.get("headers")), now=now)
        except (LocalProtocolError, RemoteProtocolError, ValueError) as exc:
            return self._failed_request(method, target, exc)

    def _respond(self, handle: DialogHandle | None, params: Mapping[str, Any], now: float) -> None:
        rid = params.get("request_id")
        method = params.get("method")
        current = True  # the request_* parameters describe the request answered
        if params.get("request") == "invite" or rid is None:
            rid = self._endpoint().pending_invite(handle) if handle is not None else None
            method = "INVITE"
            current = False
            if rid is None:
                raise ValueError(f"SendSIPResponse: no INVITE of {handle} waits for an answer")
        code = int(params["code"])
        reliable = bool(params.get("reliable"))
        headers = _headers(params.get("headers"))
        kind = params.get("body")
        leg = None
        if handle is not None:
            leg = self._leg(handle) if kind in SDP_BODIES else self._calls.get(handle)
        body = b""
        if leg is not None:
            if code >= 300:
                leg.rejected()
            else:
                invite = method == "INVITE"
                offered = params.get("request_sdp") == "offer"
                body = leg.body(kind, invite_response=invite,
                                reliable=reliable or 200 <= code < 300,
                                answers=invite or offered,
                                reoffer=current and invite and 200 <= code < 300 and not offered
                                and bool(params.get("request_in_dialog")))
        if method == "OPTIONS" and 200 <= code < 300:
            adv = self.advertised
            names = {k.lower() for k, _ in headers}
            for field, values in (("Allow", adv.allow), ("Accept", adv.accept),
                                  ("Supported", adv.supported)):
                if field.lower() not in names:
                    headers.append((field, ", ".join(values)))
        if code in (405, 501) and not any(k.lower() == "allow" for k, _ in headers):
            headers.append(("Allow", ", ".join(self.advertised.allow)))
        self._endpoint().respond(rid, code, params.get("reason"), headers=headers, body=body,
                                 content_type=SDP if body else None, reliable=reliable, now=now)

    def _invite(self, params: Mapping[str, Any], now: float) -> DialogHandle:
        target = str(params.get("target") or "")
        if not target:
            raise ValueError("SendINVITE needs a target: pass {target: {param: target}} and set the "
                             "parameter (start_session(..., params={'target': 'sip:bob@host'}))")
        expires = int(params.get("session_expires") or 0) or None
        details = {"from_uri": params.get("from_uri") or None,
                   "rel100": REL100.get(str(params.get("rel100") or "supported"), "supported"),
                   "session_expires": expires, "headers": _headers(params.get("headers"))}
        leg = CallMedia(self.media) if self.media is not None else None
        try:
            body = leg.body(params.get("body")) if leg is not None else b""
            handle = self._endpoint().invite(target, body=body, auto_ack=False, now=now, **details)
        except (LocalProtocolError, RemoteProtocolError, ValueError) as exc:
            return self._failed_request("INVITE", target, exc)
        if leg is not None:
            leg.invite = dict(details, uri=target, body=body)
            self._calls[handle] = leg
        return handle

    def _failed_request(self, method: str, target: str, exc: Exception) -> str:
        """A handle of our own whose only events are ``DialogTransportError`` and ``DialogReleased``."""
        fake = f"x{next(self._fake)}"
        log.warning("cannot send %s to %r: %s", method, target, exc)

        def fail() -> None:
            self._send(fake, "DialogTransportError", {"method": method, "reason": str(exc)})
            self._send(fake, "DialogReleased", {})

        self.clock.call_at(self.clock.now(), fail)
        return fake

    def _again(self, handle: str, uri: str, extra: list[tuple[str, str]], now: float) -> str:
        """Send the INVITE of ``handle`` again (to ``uri``), same Call-ID and From tag, CSeq + 1."""
        leg = self._calls.pop(handle, None)
        if leg is None or leg.invite is None or leg.challenge is None:
            raise ValueError(f"{handle}: no challenged or redirected INVITE to send again")
        response = leg.challenge
        leg.challenge = None
        details = dict(leg.invite)
        body = details.pop("body")
        details.pop("uri")
        headers = [h for h in details.pop("headers") if h[0].lower() not in
                   ("authorization", "proxy-authorization")] + extra
        if body and leg.sdp.pending != "local":
            body = leg.sdp.create_offer()  # the failure rolled our offer back: offer again
        leg.invite = dict(details, uri=uri, body=body, headers=headers)
        new = self._endpoint().invite(
            uri, body=body, headers=headers, auto_ack=False, now=now,
            call_id=response.call_id, from_tag=response.from_tag, cseq=response.cseq.seq + 1,
            **details)
        self._calls[new] = leg
        return new

    def _retry_auth(self, handle: str, params: Mapping[str, Any], now: float) -> str:
        leg = self._calls.get(handle)
        response = leg.challenge if leg is not None else None
        if leg is None or response is None or leg.invite is None:
            raise ValueError(f"{handle}: no 401/407 to answer")
        field = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        client = DigestClient(str(params.get("user") or ""), str(params.get("password") or ""))
        answer = client.answer(response.status, response.headers.get_all(field), "INVITE",
                               leg.invite["uri"], leg.invite["body"])
        extra = [(a.name, a.value) for a in answer.authorizations]
        return self._again(handle, leg.invite["uri"], extra, now)

    def _redirect(self, handle: str, now: float) -> str:
        leg = self._calls.get(handle)
        response = leg.challenge if leg is not None else None
        if response is None:
            raise ValueError(f"{handle}: no 3xx to follow")
        contacts = response.contact
        if not contacts:
            raise ValueError(f"{handle}: the {response.status} names no Contact")
        return self._again(handle, str(contacts[0].uri), [], now)

    # -- flushing ------------------------------------------------------------------------
    def _touch(self) -> None:
        """Make sure what the endpoint queued goes out (now, or right after this step)."""
        if self._in_step or self._flush_due or self.driver is None:
            return
        self._flush_due = True
        self.clock.call_at(self.clock.now(), self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        if self.driver is not None:
            self.driver.flush()

    # -- shutdown ---------------------------------------------------------------------
    def begin_shutdown(self) -> int:
        """Refuse new INVITEs (503) and send ``Shutdown`` to every live session; returns how many."""
        self.draining = True
        runtime = self.runtime
        if runtime is None:
            return 0
        sessions = list(runtime.sessions)
        for session in sessions:
            runtime.dispatch(session, "Shutdown")
        self._touch()
        return len(sessions)

    def idle(self) -> bool:
        """No session, dialog or transaction is left."""
        if self.runtime is not None and self.runtime.sessions:
            return False
        counts = self.endpoint.counts() if self.endpoint is not None else {}
        return not counts.get("handles") and not counts.get("dialogs")
