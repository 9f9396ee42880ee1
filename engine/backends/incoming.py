"""UA-core events → table events, for ``EndpointBackend`` (the incoming half).

Rules:

* ``RequestReceived`` → ``Dialog<METHOD>`` (``DialogReINVITE`` for an INVITE
  inside a dialog) with ``in_dialog``, ``method``, ``request_id``, ``has_sdp``
  (plus ``sdp``, ``sdp_error`` and ``hold`` from the offer/answer bookkeeping
  and ``digits`` for a DTMF INFO); ``ResponseReceived`` → ``Dialog180Ringing``
  … ``Dialog6xxFailure`` with ``code``, ``reason``, ``method``, ``reliable``,
  ``has_sdp``; the other notices through ``NOTICES``; ``HandleReleased`` →
  ``DialogReleased`` only while a session still owns the handle.
* Before any table: with ``auth``, an out-of-dialog INVITE, REGISTER,
  SUBSCRIBE, PUBLISH, MESSAGE or REFER without valid credentials gets 401;
  while draining, a new INVITE gets 503 (``Retry-After: 5``); while
  ``overload`` (an ``sipflow.app.overload.OverloadGate``, None by default)
  is ``busy`` and has no ``fast_path`` deciding before us, a new INVITE its
  ``refuse()`` refuses gets 503 with its ``retry_after``. No session,
  table or SDP work is done for either.
* When ``deliver`` returns False (no row), a request still gets an answer —
  the safe default: 405 with ``Allow`` outside a dialog (no table starts on
  it), 488 to a re-INVITE or UPDATE and 500 to any other request inside one,
  487 to the INVITE behind an unanswered CANCEL; ACK and responses need none.

Theory of operation: ``on_step`` is the transport driver's hook; it empties
``take_events()`` until nothing is left (an action may make new events), and
a failure on one event is logged without stopping the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sipflow.sip import events as ev
from sipflow.sip.digest import DigestServer
from sipflow.sip.endpoint import SipEndpoint

from .base import BackendEvent, DialogHandle
from .derive import Advertised
from .dtmf import parse_dtmf
from .media import CallMedia, sdp_body

log = logging.getLogger("sipflow.backends")

CHALLENGED = frozenset({"INVITE", "REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER"})
"""Out-of-dialog requests ``auth`` challenges (CONTRACTS §7)."""

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


class Incoming:
    """The incoming half of ``EndpointBackend`` (mixed in; see the module rules)."""

    clock: Any
    auth: DigestServer | None
    draining: bool
    runtime: Any
    advertised: Advertised
    defaults: dict[int, int]
    _deliver: Callable[[BackendEvent], bool] | None
    _calls: dict[str, CallMedia]
    _in_step: bool
    overload: Any = None
    """An overload gate (``busy``, ``retry_after``, ``refused``), or None: no overload control."""

    if TYPE_CHECKING:  # provided by EndpointBackend
        def _leg(self, handle: str) -> CallMedia: ...
        def _endpoint(self) -> SipEndpoint: ...
        def _touch(self) -> None: ...

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

    def _on_request(self, event: ev.RequestReceived) -> None:
        method, message, handle = event.method, event.message, event.handle
        rid = event.request_id
        if rid is not None and not event.in_dialog:
            if self.auth is not None and method in CHALLENGED and not self._authorized(rid, message):
                return
            if method == "INVITE":
                if self.draining:
                    self._answer(rid, 503, headers=[("Retry-After", "5")])
                    return
                overload = self.overload
                if (overload is not None and overload.busy and not overload.fast_path
                        and overload.refuse()):
                    self._answer(rid, 503, headers=[("Retry-After", overload.retry_after)])
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
