"""Table actions → ``SipEndpoint`` calls, for ``EndpointBackend`` (the outgoing half).

Rules:

* ``perform(handle, action, params)`` does one action for the leg ``handle``
  and returns a new handle when it makes one (``SendINVITE``, the retried
  INVITE of ``RetryWithCredentials`` and ``FollowRedirect``, an OPTIONS or
  MESSAGE outside a dialog); it raises for what it cannot do (the runtime
  logs that against the row) and never blocks.
* Bodies are named (``sdp-offer``, ``sdp-answer``, ``sdp-hold``,
  ``sdp-resume``, ``dtmf-relay``, ``dtmf``, ``none``) and made by the leg's
  ``CallMedia``; a 2xx to the peer's OPTIONS gets ``Allow``, ``Accept`` and
  ``Supported`` from the tables, a 405/501 gets ``Allow``.
* A request that cannot even be sent (a target that is no SIP URI) gets a
  handle of its own (``x1`` …) whose only events are ``DialogTransportError``
  and ``DialogReleased``, so the session ends through its rows.
* A new offer (``sdp-offer``, ``sdp-hold``, ``sdp-resume`` in a re-INVITE or
  UPDATE) while an offer is still unanswered in either direction is not sent
  (RFC 3261 §14.1, RFC 3311 §5.1): the leg gets the answer a peer would give,
  a ``Dialog4xxFailure`` with code 491 and ``local: true``, so the table's
  glare rows retry after the back-off instead of the action raising.
* Retries keep the Call-ID and From tag and raise the CSeq (RFC 3261 §8.1.3.4,
  §22.2), and offer the SDP again when the failure rolled the offer back.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sipflow.sip.digest import DigestClient
from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.offer_answer import MediaConfig

from .base import DialogHandle
from .derive import Advertised
from .dtmf import dtmf_body
from .media import SDP, CallMedia

log = logging.getLogger("sipflow.backends")

REQUEST_ACTIONS = {"SendBYE": "BYE", "SendUPDATE": "UPDATE", "SendPRACK": "PRACK",
                   "SendINFO": "INFO", "SendOPTIONS": "OPTIONS", "SendMESSAGE": "MESSAGE",
                   "SendReINVITE": "INVITE"}
"""Actions that send a request inside the leg's dialog, and their methods."""
OWN_ACTIONS = ("SendINVITE", "SendACK", "SendCANCEL", "SendSIPResponse", "RetryWithCredentials",
               "FollowRedirect")
"""The other actions ``perform`` accepts."""
SDP_BODIES = frozenset({"sdp-offer", "sdp-answer", "sdp-hold", "sdp-resume"})
OFFERS = frozenset({"sdp-offer", "sdp-hold", "sdp-resume"})
REL100 = {"never": "none", "none": "none", "supported": "supported", "required": "required"}


def _headers(extra: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not extra:
        return []
    return [(str(k), str(v)) for k, v in extra.items()]


class Actions:
    """The outgoing half of ``EndpointBackend`` (mixed in; see the module rules)."""

    name: str
    clock: Any
    media: MediaConfig | None
    advertised: Advertised
    _calls: dict[str, CallMedia]
    _fake: itertools.count[int]

    if TYPE_CHECKING:  # provided by EndpointBackend (_send by Incoming)
        def _leg(self, handle: str) -> CallMedia: ...
        def _endpoint(self) -> SipEndpoint: ...
        def _touch(self) -> None: ...
        def _send(self, handle: DialogHandle, name: str, data: dict[str, Any],
                  message: Any = None) -> bool: ...

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
                leg = self._leg(handle)
                body = leg.body(params.get("body") or "sdp-answer")
                endpoint.ack(handle, body=body, headers=_headers(params.get("headers")), now=now)
                leg.answered()
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
            leg = self._leg(handle)
            if kind in OFFERS and leg.sdp.pending is not None:
                self._request_pending(handle, method)
                return
            body = leg.body(kind)
        else:
            body = b""
        self._endpoint().request(handle, method, body=body, content_type=content_type,
                                 headers=headers, now=now)

    def _request_pending(self, handle: str, method: str) -> None:
        """Answer our own too-early offer with 491, as the peer would (see the module rules)."""
        data = {"code": 491, "reason": "Request Pending", "method": method, "reliable": False,
                "has_sdp": False, "local": True}
        self.clock.call_at(self.clock.now(), lambda: self._send(handle, "Dialog4xxFailure", data))

    def _out_of_dialog(self, method: str, params: Mapping[str, Any], now: float) -> DialogHandle:
        """A request outside any dialog (OPTIONS, MESSAGE) to ``params["target"]``; its handle."""
        target = str(params["target"])
        try:
            return self._endpoint().request(None, method, uri=target,
                                            headers=_headers(params.get("headers")), now=now)
        except (LocalProtocolError, RemoteProtocolError, ValueError) as exc:
            return self._failed_request(method, target, exc)

    def _respond(self, handle: DialogHandle | None, params: Mapping[str, Any], now: float) -> None:
        endpoint = self._endpoint()
        rid = params.get("request_id")
        method = params.get("method")
        current = True  # the request_* parameters describe the request answered
        if params.get("request") == "invite" or rid is None:
            rid = endpoint.pending_invite(handle) if handle is not None else None
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
            elif kind is not None and kind != "none":  # no body named: none made
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
        endpoint.respond(rid, code, params.get("reason"), headers=headers, body=body,
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
