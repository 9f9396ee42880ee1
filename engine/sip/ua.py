"""The UA core (RFC 3261 §8, §12-§15; RFC 3262, 3311, 4028): the transaction user.

Rules:

- Everything the RFCs require with no choice left happens here, by itself:
  rejecting what cannot be served (501/405 with ``Allow``, 416, 420 with
  ``Unsupported``, 422 with ``Min-SE``, 481, 483, 491, 500 for glare or a CSeq
  out of order, 400 for malformed headers), 200 to CANCEL, 2xx retransmission
  until the ACK (§13.3.1.4), re-ACK of retransmitted 2xx, ACK+BYE of extra
  forked 2xx (the first 2xx wins), retransmission of reliable provisionals
  until their PRACK (504 after 64*T1), RAck matching, session-timer headers,
  refresh and expiry (BYE), and 100 Trying for an INVITE not answered within
  ``EndpointConfig.trying_delay`` (200 ms, RFC 3261 §17.2.1; 0 sends it at
  once). ACK for non-2xx is the transaction layer's.
- Everything that is a choice is the application's (a state table via the
  backend): whether and how to answer, reliable provisional or not, bodies,
  487 after CANCEL, when to refresh, BYE after an ACK timeout, retries.
- No sockets, threads, sleeps or clock: every entry point takes ``now`` and
  ``next_deadline()`` says when to call ``handle_timers`` again. Randomness
  (tags, branches, Call-IDs, CSeq and RSeq starts) comes from the injected
  ``rng`` (anything with ``getrandbits``).
- A peer's mistake never raises out of the core: it becomes a response or a
  silent drop. Our own misuse (answering an unknown request id, a reliable
  provisional to a peer without 100rel …) raises ``LocalProtocolError``.

Theory of operation: each call leg or stand-alone request gets a *handle*
(``"c1"`` …) and a ``_Leg`` record; a leg owns at most one confirmed ``Dialog``
(and, as UAC, the early dialogs of its forks). Incoming requests are checked
(method, URI scheme, Max-Forwards, Require, Session-Expires), then matched to
a dialog by tags; those the application must answer get a request id
(``"r7"``) in their ``RequestReceived`` event. Responses reach the leg through
``txn.user_data``. The core's own timers (2xx, 100rel, session timer, ACK
keep-alive) live in one ``DeadlineHeap``. A leg is released (``HandleReleased``)
once no dialog, transaction or timer refers to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sipflow.sip import events as ev
from sipflow.sip import session_timer as st
from sipflow.sip.deadlines import Deadline, DeadlineHeap
from sipflow.sip.dialog import Dialog, DialogStore, InviteUsage, has_sdp
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.message import Headers, Request, Response
from sipflow.sip.parser import make_response
from sipflow.sip.reliable import RSEQ_MAX, ReliableReceiver, ReliableSender
from sipflow.sip.transaction import ClientTransaction, ServerTransaction, TransactionLayer
from sipflow.sip.types import Address
from sipflow.sip.ua_config import KNOWN_METHODS, EndpointConfig
from sipflow.sip.uri import SipUri

__all__ = ["UACore", "HeaderList"]

log = logging.getLogger("sipflow.sip.ua")

HeaderList = Iterable[tuple[str, str]]
"""Extra (name, value) header fields for a message."""

_TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
_DIALOG_ONLY = frozenset({"BYE", "PRACK", "UPDATE", "INFO", "ACK"})


class _Leg:
    """One handle: a call leg (``uac``/``uas``) or a stand-alone request
    (``req`` sent, ``srv`` received)."""

    __slots__ = (
        "handle",
        "role",
        "dialog",
        "early",
        "last_tag",
        "local_tag",
        "invite_txn",
        "invite_rid",
        "cancel_pending",
        "cancel_sent",
        "auto_ack",
        "ack_due",
        "offer",
        "requests",
        "clients",
        "released",
        "trying",
    )

    def __init__(self, handle: str, role: str) -> None:
        self.handle = handle
        self.role = role
        self.dialog: Dialog | None = None
        self.early: dict[str, Dialog] | None = None
        self.last_tag: str | None = None
        self.local_tag = ""
        self.invite_txn: ClientTransaction | None = None
        self.invite_rid: str | None = None
        self.cancel_pending = False
        self.cancel_sent = False
        self.auto_ack = True
        self.ack_due: int | None = None
        self.offer = False
        self.requests: list[str] = []  # pending request ids (a list: small when idle)
        self.clients = 0
        self.released = False
        self.trying: Deadline | None = None  # the pending 100 Trying of an INVITE


class _ClientCtx:
    """What a client transaction of ours is for (``txn.user_data``)."""

    __slots__ = ("leg", "dialog", "offer", "final")

    def __init__(self, leg: _Leg | None, dialog: Dialog | None, offer: bool) -> None:
        self.leg = leg
        self.dialog = dialog
        self.offer = offer
        self.final = False


class _Pending2xx:
    """Our 2xx to an INVITE, retransmitted until its ACK (§13.3.1.4)."""

    __slots__ = ("wire", "dest", "cseq", "interval", "retx", "give_up")

    def __init__(self, wire: bytes, dest: Address, cseq: int, interval: float) -> None:
        self.wire = wire
        self.dest = dest
        self.cseq = cseq
        self.interval = interval
        self.retx: Deadline | None = None
        self.give_up: Deadline | None = None


class UACore:
    """The transaction user of one endpoint: dialogs, legs, the application API.

    ``SipEndpoint`` creates it and forwards its public methods; see there for
    the application-facing documentation.
    """

    def __init__(
        self,
        local: Sequence[Address],
        config: EndpointConfig,
        rng: Any,
        send: Any,
    ) -> None:
        self.local = tuple(local)
        self.config = config
        self.rng = rng
        self.layer = TransactionLayer(self, send, config.timers, auto_trying=False)
        self.dialogs = DialogStore()
        self.timers = DeadlineHeap()
        self.events: list[ev.UAEvent] = []
        self.now = 0.0
        self._legs: dict[str, _Leg] = {}
        self._requests: dict[str, ServerTransaction] = {}
        self._next_handle = 0
        self._next_rid = 0
        self._allow = ", ".join(config.allow)
        self._supported = ", ".join(config.supported)
        self._allowed = frozenset(config.allow) | {"ACK", "CANCEL"}
        self._options = frozenset(config.supported)
        self._timer_on = "timer" in self._options
        self._rel_on = "100rel" in self._options
        self._contacts: dict[Address, str] = {}
        self._resolved: dict[tuple[str, str], Address] = {}

    # ==================================================================
    # identifiers
    # ==================================================================

    def _hex(self, bits: int) -> str:
        return format(self.rng.getrandbits(bits), "x")

    def _new_handle(self, role: str) -> _Leg:
        self._next_handle += 1
        leg = _Leg(f"c{self._next_handle}", role)
        self._legs[leg.handle] = leg
        return leg

    def _register_request(self, txn: ServerTransaction, leg: _Leg) -> str:
        self._next_rid += 1
        rid = f"r{self._next_rid}"
        txn.user_data = (leg, rid)
        self._requests[rid] = txn
        leg.requests.append(rid)
        return rid

    def _initial_seq(self) -> int:
        return self.rng.getrandbits(16) + 1

    # ==================================================================
    # addresses, Via, Contact
    # ==================================================================

    def _local_for(self, dest: Address) -> Address:
        v6 = ":" in dest.host
        fallback = None
        for addr in self.local:
            if addr.transport == dest.transport:
                if (":" in addr.host) == v6:
                    return addr
                fallback = fallback or addr
        return fallback or self.local[0]

    def _via(self, local: Address) -> str:
        host = f"[{local.host}]" if ":" in local.host else local.host
        branch = "z9hG4bK" + self._hex(64)
        return f"SIP/2.0/{local.transport.upper()} {host}:{local.port};branch={branch};rport"

    def _contact(self, local: Address) -> str:
        text = self._contacts.get(local)
        if text is None:
            host = f"[{local.host}]" if ":" in local.host else local.host
            params = "" if local.transport == "udp" else f";transport={local.transport}"
            text = f"<sip:{self.config.user}@{host}:{local.port}{params}>"
            self._contacts[local] = text
        return text

    def resolve(self, uri: str, default_transport: str = "udp") -> Address:
        """The transport address for ``uri`` (no DNS: the host is kept as
        written; the driver resolves names). Raises ``LocalProtocolError``
        for a URI we cannot send to. Results are cached (bounded)."""
        key = (uri, default_transport)
        found = self._resolved.get(key)
        if found is None:
            found = _resolve(uri, default_transport)
            if len(self._resolved) >= 4096:
                self._resolved.clear()
            self._resolved[key] = found
        return found

    def _send(self, message: Request | Response, dest: Address) -> None:
        try:
            self.layer.send_stateless(message, dest)
        except OSError as exc:  # the driver reports; a stateless send just fails
            log.warning("could not send %s to %s: %s", _first_line(message), dest, exc)

    def _send_wire(self, wire: bytes, dest: Address) -> None:
        try:
            self.layer.send(wire, dest)
        except OSError as exc:
            log.warning("could not send to %s: %s", dest, exc)

    # ==================================================================
    # TransactionUser: requests
    # ==================================================================

    def on_request(
        self, txn: ServerTransaction | None, request: Request, source: Address, now: float
    ) -> None:
        """A new request from the transaction layer (see ``TransactionUser``)."""
        self.now = now
        if txn is None:
            try:
                self._on_ack(request)
            except RemoteProtocolError as exc:
                log.info("dropped ACK from %s: %s", source, exc.reason)
            return
        try:
            self._on_request(txn, request, now)
            if txn.is_invite and txn.last_response is None and txn.user_data is not None:
                self._schedule_trying(txn, now)
        except RemoteProtocolError as exc:
            log.info("answered %s from %s with %d: %s", request.method, source,
                     exc.status or 400, exc.reason)
            if txn.last_response is None or txn.last_response.status < 200:
                self._reject(txn, exc.status or 400, now, warning=exc.reason)

    def _schedule_trying(self, txn: ServerTransaction, now: float) -> None:
        """100 Trying for an INVITE the application has not answered within
        ``EndpointConfig.trying_delay`` (RFC 3261 §17.2.1: 200 ms)."""
        delay = self.config.trying_delay
        if delay <= 0:
            self._send_trying(txn, now)
        else:
            leg = txn.user_data[0]
            leg.trying = self.timers.schedule(now + delay, "trying", txn)

    def _send_trying(self, txn: ServerTransaction, now: float) -> None:
        txn.user_data[0].trying = None
        if txn.last_response is None and not txn.terminated and txn.state == "Proceeding":
            self._respond_txn(txn, make_response(txn.request, 100), now)

    def _reject(
        self,
        txn: ServerTransaction,
        status: int,
        now: float,
        headers: HeaderList = (),
        reason: str | None = None,
        warning: str | None = None,
        to_tag: str | None = None,
    ) -> None:
        """Answer ``txn`` with a final error response the core chose."""
        response = make_response(txn.request, status, reason, headers)
        if warning:
            text = warning.replace("\\", "\\\\").replace('"', '\\"')[:200]
            response.headers.add("Warning", f'399 sipflow "{text}"')
        if txn.request.to_tag is None:
            _set_to_tag(response, to_tag or self._hex(48))
        self._respond_txn(txn, response, now)
        data = txn.user_data
        if data is not None:
            self._request_done(data[0], data[1])

    def _respond_txn(self, txn: ServerTransaction, response: Response, now: float) -> None:
        try:
            self.layer.respond(txn, response, now)
        except LocalProtocolError:
            raise
        except OSError as exc:  # pragma: no cover - the layer reports send errors itself
            log.warning("could not send %d: %s", response.status, exc)

    def _precheck(self, txn: ServerTransaction, request: Request, now: float) -> bool:
        """RFC 3261 §8.2.1-§8.2.2 checks; True when the request was rejected."""
        method = request.method
        if method not in self._allowed:
            status = 405 if method in KNOWN_METHODS else 501
            self._reject(txn, status, now, [("Allow", self._allow)])
            return True
        scheme = request.ruri.scheme.lower()
        if scheme not in ("sip", "sips"):
            self._reject(txn, 416, now, warning=f"Request-URI scheme {scheme!r} is not supported")
            return True
        if method != "CANCEL":
            if request.max_forwards == 0 and method != "OPTIONS":
                self._reject(txn, 483, now)
                return True
            unknown = sorted(tag for tag in request.require if tag not in self._options)
            if unknown:
                self._reject(txn, 420, now, [("Unsupported", ", ".join(unknown))])
                return True
            if self._timer_on and method in ("INVITE", "UPDATE"):
                min_se = st.check_request(request, self.config.session_timer)
                if min_se is not None:
                    self._reject(txn, 422, now, [("Min-SE", str(min_se))])
                    return True
        return False

    def _on_request(self, txn: ServerTransaction, request: Request, now: float) -> None:
        if self._precheck(txn, request, now):
            return
        method = request.method
        if method == "CANCEL":
            self._on_cancel(txn, request, now)
            return
        if request.to_tag is not None:
            dialog = self.dialogs.for_request(request)
            if dialog is None or not dialog.alive:
                self._reject(txn, 481, now, warning="no dialog matches the tags of this request")
                return
            self._on_in_dialog(txn, request, dialog, now)
            return
        if method in _DIALOG_ONLY:
            self._reject(txn, 481, now, warning=f"{method} outside a dialog")
            return
        if method == "INVITE":
            self._on_new_invite(txn, request, now)
            return
        leg = self._new_handle("srv")
        rid = self._register_request(txn, leg)
        self.events.append(ev.RequestReceived(leg.handle, rid, method, False, request))

    def _on_new_invite(self, txn: ServerTransaction, request: Request, now: float) -> None:
        leg = self._new_handle("uas")
        leg.local_tag = self._hex(48)
        try:
            dialog = Dialog.from_uas(request, leg.local_tag, leg.handle)
        except RemoteProtocolError:
            del self._legs[leg.handle]
            raise
        usage = dialog.invite
        assert usage is not None
        usage.in_invite = True
        usage.received(has_sdp(request))
        leg.dialog = dialog
        self.dialogs.add(dialog)
        rid = self._register_request(txn, leg)
        leg.invite_rid = rid
        self.events.append(ev.RequestReceived(leg.handle, rid, "INVITE", False, request))

    def _on_in_dialog(
        self, txn: ServerTransaction, request: Request, dialog: Dialog, now: float
    ) -> None:
        method = request.method
        usage = dialog.invite
        if not dialog.check_remote_cseq(request):
            self._reject(txn, 500, now, warning="CSeq lower than a previous request of this dialog")
            return
        leg = self._legs.get(dialog.handle)
        if leg is None:  # pragma: no cover - dialogs leave the store with their leg
            self._reject(txn, 481, now)
            return
        sdp = has_sdp(request)
        if method == "INVITE":
            if usage is None:
                self._reject(txn, 481, now, warning="the dialog has no INVITE usage")
                return
            if usage.in_invite:
                self._reject(txn, 500, now, [("Retry-After", str(self.config.retry_after))],
                             warning="another INVITE is pending on this dialog")
                return
            if usage.out_invite or usage.local_offer:
                self._reject(txn, 491, now)
                return
            dialog.refresh_target(request)
            usage.in_invite = True
            usage.oa_done = False
            usage.received(sdp)
        elif method == "UPDATE" and usage is not None:
            if sdp and usage.local_offer:
                self._reject(txn, 491, now)
                return
            if sdp and usage.remote_offer:
                self._reject(txn, 500, now, [("Retry-After", str(self.config.retry_after))],
                             warning="an offer is already pending on this dialog")
                return
            dialog.refresh_target(request)
            usage.received(sdp)
        elif method == "PRACK":
            rack = request.rack
            rel = usage.rel_tx if usage is not None else None
            if rack is None or rel is None or not rel.matches(rack):
                self._reject(txn, 481, now, warning="RAck matches no reliable provisional")
                return
            assert usage is not None
            rel.acknowledge()
            self._stop_rel_timer(usage)
            usage.received(sdp)
            self._send_waiting_reliable(leg, dialog, now)
        elif method in _TARGET_REFRESH:
            dialog.refresh_target(request)
        rid = self._register_request(txn, leg)
        self.events.append(ev.RequestReceived(leg.handle, rid, method, True, request))

    def _on_cancel(self, txn: ServerTransaction, request: Request, now: float) -> None:
        target = self.layer.find_cancel_target(request)
        data = target.user_data if target is not None else None
        if target is None or data is None:
            self._reject(txn, 481, now, warning="CANCEL matches no INVITE")
            return
        leg, rid = data
        response = make_response(request, 200)
        if request.to_tag is None:
            _set_to_tag(response, leg.local_tag or self._hex(48))
        self._respond_txn(txn, response, now)
        pending = target.last_response is None or target.last_response.status < 200
        if pending and rid in self._requests:
            self.events.append(ev.RequestReceived(leg.handle, None, "CANCEL", False, request))

    def _on_ack(self, request: Request) -> None:
        dialog = self.dialogs.for_request(request)
        if dialog is None or dialog.invite is None:
            return
        usage = dialog.invite
        pending = usage.pending_2xx
        if pending is None or pending.cseq != request.cseq.seq:
            return  # a retransmitted or stray ACK
        self._stop_2xx(usage)
        if not usage.oa_done:
            usage.received(has_sdp(request))
            usage.oa_done = True
        self.events.append(ev.RequestReceived(dialog.handle, None, "ACK", True, request))

    # ==================================================================
    # answering requests (application side)
    # ==================================================================

    def respond(
        self,
        request_id: str,
        status: int,
        reason: str | None = None,
        *,
        headers: HeaderList = (),
        body: bytes = b"",
        content_type: str | None = None,
        reliable: bool = False,
        now: float | None = None,
    ) -> None:
        """Answer the request ``request_id`` (see ``SipEndpoint.respond``)."""
        now = self.now if now is None else now
        txn = self._requests.get(request_id)
        if txn is None:
            raise LocalProtocolError(f"no pending request {request_id!r} to answer")
        if not isinstance(status, int) or not 100 <= status <= 699:
            raise LocalProtocolError(f"invalid status code {status!r}")
        if reliable and not 100 < status < 200:
            raise LocalProtocolError(f"a {status} cannot be sent reliably: only 101-199 can")
        leg, _ = txn.user_data
        request = txn.request
        if leg.trying is not None and txn.is_invite:
            leg.trying.cancel()
            leg.trying = None
        response = make_response(request, status, reason, headers, body)
        if body and "content-type" not in response.headers:
            response.headers.add("Content-Type", content_type or "application/sdp")
        if request.to_tag is None and status > 100:
            _set_to_tag(response, leg.local_tag or self._hex(48))
        if self.config.user_agent and "server" not in response.headers:
            response.headers.add("Server", self.config.user_agent)
        method = request.method
        dialog = leg.dialog
        if method == "INVITE" and dialog is not None and dialog.invite is not None:
            self._respond_invite(leg, dialog, txn, response, reliable, now)
        else:
            if reliable:
                raise LocalProtocolError("only provisional responses to INVITE can be reliable")
            self._respond_other(leg, dialog, request, response, txn.source)
            self._respond_txn(txn, response, now)
        if status >= 200:
            self._request_done(leg, request_id)
            if method == "BYE" and dialog is not None:
                self._end_dialog(leg, dialog, "bye-received", now)
            self._maybe_release(leg)

    def _respond_other(
        self,
        leg: _Leg,
        dialog: Dialog | None,
        request: Request,
        response: Response,
        source: Address,
    ) -> None:
        method = request.method
        status = response.status
        if dialog is None or dialog.invite is None or not 200 <= status < 300:
            if method == "UPDATE" and dialog is not None and dialog.invite is not None:
                if has_sdp(request) and status >= 200:
                    dialog.invite.remote_offer = False
            if method == "OPTIONS" and 200 <= status < 300:
                _add_capabilities(response, self._allow, self._supported)
            return
        usage = dialog.invite
        if method == "UPDATE":
            response.headers.add("Contact", self._contact(self._local_for(source)))
            self._uas_session_timer(dialog, request, response)
        if method in ("UPDATE", "PRACK"):
            usage.sent(has_sdp(response))

    def _peer_of(self, dialog: Dialog) -> Address | None:
        """Where the dialog's requests go (first route, else remote target);
        None, with a log line, when the peer gave a URI we cannot send to."""
        try:
            return self.resolve(dialog.next_hop_uri(), self.local[0].transport)
        except LocalProtocolError as exc:
            log.warning("dialog %s: %s", dialog.call_id, exc)
            return None

    def _respond_invite(
        self,
        leg: _Leg,
        dialog: Dialog,
        txn: ServerTransaction,
        response: Response,
        reliable: bool,
        now: float,
    ) -> None:
        usage = dialog.invite
        assert usage is not None
        request = txn.request
        status = response.status
        initial = leg.invite_rid is not None and txn is self._requests.get(leg.invite_rid)
        local = self._local_for(txn.source)
        headers = response.headers
        if status > 100 and status < 300:
            headers.add("Contact", self._contact(local))
            if initial:
                for value in request.headers.get_all("Record-Route"):
                    headers.add("Record-Route", value)
        if 100 < status < 200:
            if reliable:
                self._send_reliable(leg, dialog, txn, response, now)
                return
            self._respond_txn(txn, response, now)
            return
        if status == 100:
            if reliable:
                raise LocalProtocolError("100 Trying cannot be sent reliably")
            self._respond_txn(txn, response, now)
            return
        self._drop_reliable(usage)
        usage.in_invite = False
        if status >= 300:
            if has_sdp(request):
                usage.remote_offer = False
            self._respond_txn(txn, response, now)
            if initial:
                self._end_dialog(leg, dialog, "rejected", now)
            return
        headers.add("Allow", self._allow)
        if self._options:
            headers.add("Supported", self._supported)
        self._uas_session_timer(dialog, request, response)
        if not usage.oa_done:
            usage.sent(has_sdp(response))
        usage.oa_done = False
        self._respond_txn(txn, response, now)
        newly = not dialog.confirmed
        dialog.confirm()
        if newly:
            self.events.append(ev.DialogEstablished(leg.handle, dialog.remote_tag))
        self._start_2xx(dialog, response, txn, now)

    def _uas_session_timer(self, dialog: Dialog, request: Request, response: Response) -> None:
        usage = dialog.invite
        if usage is None or not self._timer_on:
            return
        policy = self.config.session_timer
        if policy.session_expires is None and "session-expires" not in request.headers:
            self._set_session_timer(dialog, None)  # nobody asked for one
            return
        answer = st.answer_2xx(request, policy, "timer" in request.supported)
        if answer is None:
            self._set_session_timer(dialog, None)
            return
        value, require = answer
        response.headers.set("Session-Expires", str(value))
        if require:
            response.headers.add("Require", "timer")
        self._set_session_timer(dialog, st.SessionTimer(value.delta, value.refresher == "uas"))

    # -- 2xx retransmission (§13.3.1.4) --------------------------------------

    def _start_2xx(
        self, dialog: Dialog, response: Response, txn: ServerTransaction, now: float
    ) -> None:
        usage = dialog.invite
        assert usage is not None
        self._stop_2xx(usage)
        t1 = self.config.timers.t1
        pending = _Pending2xx(response.serialize(), txn.source, txn.request.cseq.seq, t1)
        if txn.source.transport == "udp":
            pending.retx = self.timers.schedule(now + t1, "2xx", dialog)
        pending.give_up = self.timers.schedule(now + 64 * t1, "2xx-end", dialog)
        usage.pending_2xx = pending

    def _stop_2xx(self, usage: InviteUsage) -> None:
        pending = usage.pending_2xx
        if pending is not None:
            if pending.retx is not None:
                pending.retx.cancel()
            if pending.give_up is not None:
                pending.give_up.cancel()
            usage.pending_2xx = None

    # -- reliable provisionals (RFC 3262) --------------------------------------

    def _send_reliable(
        self, leg: _Leg, dialog: Dialog, txn: ServerTransaction, response: Response, now: float
    ) -> None:
        request = txn.request
        if not self._rel_on:
            raise LocalProtocolError("100rel is not in EndpointConfig.supported")
        if "100rel" not in request.supported and "100rel" not in request.require:
            raise LocalProtocolError(
                "the peer does not support 100rel: send the provisional unreliably, "
                "or answer 421 with 'Require: 100rel'"
            )
        usage = dialog.invite
        assert usage is not None
        rel = usage.rel_tx
        if rel is None:
            rel = usage.rel_tx = ReliableSender(request.cseq.seq, self.rng.getrandbits(30) + 1)
        response.headers.add("Require", "100rel")
        if rel.outstanding is not None:
            rel.waiting.append(response)  # RSeq assigned when it is sent (§3)
            return
        self._transmit_reliable(dialog, usage, rel, txn, response, now)

    def _transmit_reliable(
        self,
        dialog: Dialog,
        usage: InviteUsage,
        rel: ReliableSender,
        txn: ServerTransaction,
        response: Response,
        now: float,
    ) -> None:
        rseq = rel.take_rseq()
        if rseq > RSEQ_MAX:  # pragma: no cover - 2**31 provisionals on one INVITE
            raise LocalProtocolError("RSeq space exhausted")
        response.headers.set("RSeq", str(rseq))
        usage.sent(has_sdp(response))
        if has_sdp(response):
            usage.oa_done = True
        self._respond_txn(txn, response, now)
        out = rel.start(rseq, response, now, self.config.timers.t1)
        if txn.source.transport != "udp":
            out.next_at = out.give_up_at  # reliable transport: no retransmission
        self._schedule_rel(dialog, usage, rel)

    def _schedule_rel(self, dialog: Dialog, usage: InviteUsage, rel: ReliableSender) -> None:
        self._stop_rel_timer(usage)
        deadline = rel.next_deadline()
        if deadline is not None:
            usage.rel_timer = self.timers.schedule(deadline, "rel", dialog)

    def _stop_rel_timer(self, usage: InviteUsage) -> None:
        if usage.rel_timer is not None:
            usage.rel_timer.cancel()
            usage.rel_timer = None

    def _drop_reliable(self, usage: InviteUsage) -> None:
        self._stop_rel_timer(usage)
        if usage.rel_tx is not None:
            usage.rel_tx.outstanding = None
            usage.rel_tx.waiting.clear()

    def _send_waiting_reliable(self, leg: _Leg, dialog: Dialog, now: float) -> None:
        usage = dialog.invite
        if usage is None or usage.rel_tx is None or not usage.rel_tx.waiting:
            return
        txn = self._requests.get(leg.invite_rid or "")
        if txn is None:
            usage.rel_tx.waiting.clear()
            return
        response = usage.rel_tx.waiting.popleft()
        self._transmit_reliable(dialog, usage, usage.rel_tx, txn, response, now)

    # ==================================================================
    # TransactionUser: responses
    # ==================================================================

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        """A response from the transaction layer (see ``TransactionUser``)."""
        self.now = now
        ctx: _ClientCtx | None = txn.user_data
        if ctx is None or ctx.leg is None or ctx.leg.released:
            return
        try:
            if txn is ctx.leg.invite_txn or (txn.is_invite and ctx.dialog is None):
                self._on_invite_response(ctx, txn, response, now)
            else:
                self._on_other_response(ctx, txn, response, now)
        except RemoteProtocolError as exc:
            log.info("ignored malformed %d to %s: %s", response.status, txn.method, exc.reason)
        self._maybe_release(ctx.leg)

    def _on_invite_response(
        self, ctx: _ClientCtx, txn: ClientTransaction, response: Response, now: float
    ) -> None:
        leg = ctx.leg
        assert leg is not None
        code = response.status
        request = txn.request
        if code < 200:
            if leg.cancel_pending:
                self._send_cancel(leg, now)
            if code == 100:
                return
            self._on_provisional(leg, request, response)
            return
        tag = response.to_tag or ""
        if code < 300:
            if ctx.final:
                if leg.dialog is not None and tag == leg.dialog.remote_tag:
                    self._reack(leg.dialog, request.cseq.seq)
                else:
                    self._reject_fork(request, response, now)
                return
            ctx.final = True
            leg.clients -= 1
            leg.invite_txn = None
            leg.cancel_pending = False
            early = leg.early or {}
            dialog = early.pop(tag, None)
            if dialog is None:
                dialog = Dialog.from_uac(request, response, leg.handle)
                assert dialog.invite is not None
                dialog.invite.local_offer = leg.offer
                self.dialogs.add(dialog)
            else:
                dialog.refresh_target(response)
                dialog.route_set = Dialog.from_uac(request, response, "").route_set
            for other in early.values():
                self._drop_dialog(other)
            leg.early = None
            leg.dialog = dialog
            dialog.confirm()
            usage = dialog.invite
            assert usage is not None
            usage.out_invite = False
            if not usage.oa_done:
                usage.received(has_sdp(response))
            usage.oa_done = False
            self._uac_session_timer(dialog, response)
            self.events.append(ev.DialogEstablished(leg.handle, tag))
            self.events.append(_response_event(leg, response, "INVITE", False, tag))
            if leg.auto_ack:
                self._send_ack(dialog, request.cseq.seq, (), b"", None, now)
            else:
                leg.ack_due = request.cseq.seq
            return
        ctx.final = True
        leg.clients -= 1
        leg.invite_txn = None
        leg.cancel_pending = False
        for other in (leg.early or {}).values():
            self._drop_dialog(other)
        leg.early = None
        self.events.append(_response_event(leg, response, "INVITE", False, tag or None))

    def _on_provisional(self, leg: _Leg, request: Request, response: Response) -> None:
        tag = response.to_tag
        dialog: Dialog | None = None
        if tag:
            if leg.early is None:
                leg.early = {}
            dialog = leg.early.get(tag)
            if dialog is None:
                dialog = Dialog.from_uac(request, response, leg.handle)
                assert dialog.invite is not None
                dialog.invite.local_offer = leg.offer
                leg.early[tag] = dialog
                self.dialogs.add(dialog)
            else:
                dialog.refresh_target(response)
            leg.last_tag = tag
        reliable = False
        if "100rel" in response.require and dialog is not None:
            rseq = response.rseq
            usage = dialog.invite
            if rseq is not None and usage is not None:
                if usage.rel_rx is None:
                    usage.rel_rx = ReliableReceiver()
                if not usage.rel_rx.accept(rseq, request.cseq.seq):
                    return  # retransmission or out of order (RFC 3262 §4)
                reliable = True
                if has_sdp(response):
                    usage.received(True)
                    usage.oa_done = True
        self.events.append(_response_event(leg, response, "INVITE", reliable, tag))

    def _on_other_response(
        self, ctx: _ClientCtx, txn: ClientTransaction, response: Response, now: float
    ) -> None:
        leg = ctx.leg
        assert leg is not None
        code = response.status
        method = txn.method
        dialog = ctx.dialog
        if code == 100:
            return
        if code >= 200:
            if ctx.final:
                if method == "INVITE" and dialog is not None and 200 <= code < 300:
                    self._reack(dialog, txn.request.cseq.seq)
                return
            ctx.final = True
            leg.clients -= 1
        usage = dialog.invite if dialog is not None else None
        tag = response.to_tag
        if dialog is not None and usage is not None:
            if method in ("INVITE", "UPDATE") and code >= 200:
                if method == "INVITE":
                    usage.out_invite = False
                if 200 <= code < 300:
                    dialog.refresh_target(response)
                    if method == "UPDATE" or not usage.oa_done:
                        usage.received(has_sdp(response))
                    usage.oa_done = False
                    self._uac_session_timer(dialog, response)
                elif ctx.offer:
                    usage.local_offer = False
            elif method == "PRACK" and 200 <= code < 300:
                usage.received(has_sdp(response))
        reliable = False
        self.events.append(_response_event(leg, response, method, reliable, tag))
        if dialog is not None:
            if method == "INVITE" and 200 <= code < 300:
                if leg.auto_ack:
                    self._send_ack(dialog, txn.request.cseq.seq, (), b"", None, now)
                else:
                    leg.ack_due = txn.request.cseq.seq
            if method == "BYE" and code >= 200:
                self._end_dialog(leg, dialog, "bye", now)
            elif code in (481, 408) and dialog.alive:
                self._end_dialog(leg, dialog, str(code), now)

    def on_stray_response(self, response: Response, source: Address, now: float) -> None:
        """A response matching no transaction: re-ACK a retransmitted 2xx of a
        known dialog (after Timer M); drop anything else."""
        self.now = now
        try:
            if not 200 <= response.status < 300 or response.cseq.method != "INVITE":
                return
            dialog = self.dialogs.find(response.call_id, response.from_tag, response.to_tag)
        except RemoteProtocolError:
            return
        if dialog is not None:
            self._reack(dialog, response.cseq.seq)

    def on_timeout(self, txn: ClientTransaction, timer: str, now: float) -> None:
        """Timer B or F fired: report it; an INVITE that timed out ends its leg."""
        self.now = now
        self._client_failed(txn, now, lambda leg: ev.Timeout(leg.handle, timer, txn.method))

    def on_transport_error(self, txn: Any, now: float) -> None:
        """A message could not be sent (RFC 3261 §8.1.3.1: treated like 503)."""
        self.now = now
        if isinstance(txn, ClientTransaction):
            self._client_failed(txn, now, lambda leg: ev.TransportError(leg.handle, txn.method))
            return
        data = txn.user_data if txn is not None else None
        if data is not None:
            leg, rid = data
            if rid not in self._requests:
                return
            self._request_done(leg, rid)
            self.events.append(ev.TransportError(leg.handle, txn.method))
            dialog = leg.dialog
            if rid == leg.invite_rid and dialog is not None and not dialog.confirmed:
                self._end_dialog(leg, dialog, "transport-error", now)
            self._maybe_release(leg)

    def on_ack_timeout(self, txn: ServerTransaction, now: float) -> None:
        """Timer H: our non-2xx final to an INVITE was never ACKed; nothing to do."""
        self.now = now

    def on_terminated(self, txn: Any) -> None:
        """Bookkeeping hook of the transaction layer (nothing to do)."""

    def _client_failed(self, txn: ClientTransaction, now: float, make: Any) -> None:
        ctx: _ClientCtx | None = txn.user_data
        if ctx is None or ctx.leg is None or ctx.leg.released or ctx.final:
            return
        leg = ctx.leg
        ctx.final = True
        leg.clients -= 1
        self.events.append(make(leg))
        if txn is leg.invite_txn:
            leg.invite_txn = None
            leg.cancel_pending = False
            for other in (leg.early or {}).values():
                self._drop_dialog(other)
            leg.early = None
        elif ctx.dialog is not None and ctx.dialog.alive:
            usage = ctx.dialog.invite
            if usage is not None and txn.method == "INVITE":
                usage.out_invite = False
            self._end_dialog(leg, ctx.dialog, "timeout", now)
        self._maybe_release(leg)

    # ==================================================================
    # sending requests (application side)
    # ==================================================================

    def invite(
        self,
        uri: str,
        *,
        from_uri: str | None = None,
        to: str | None = None,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: HeaderList = (),
        dest: Address | None = None,
        rel100: str = "supported",
        session_expires: int | None = None,
        auto_ack: bool = True,
        call_id: str | None = None,
        from_tag: str | None = None,
        cseq: int | None = None,
        now: float | None = None,
    ) -> str:
        """Send an INVITE outside any dialog; returns the new handle.
        ``call_id``/``from_tag``/``cseq`` reuse identifiers, e.g. to retry
        with credentials after a 401/407 (same Call-ID and From tag, CSeq + 1,
        RFC 3261 §22.2)."""
        if rel100 not in ("none", "supported", "required"):
            raise LocalProtocolError(f"rel100 must be none, supported or required, not {rel100!r}")
        extra: list[tuple[str, str]] = []
        options = [o for o in self.config.supported if o != "100rel" or rel100 != "none"]
        if options:
            extra.append(("Supported", ", ".join(options)))
        if rel100 == "required":
            extra.append(("Require", "100rel"))
        if self._timer_on:
            policy = self.config.session_timer
            if session_expires is not None:
                policy = st.SessionTimerPolicy(session_expires, min(policy.min_se, session_expires))
            extra.extend(st.request_headers(policy, None))
        extra.append(("Allow", self._allow))
        leg = self._new_handle("uac")
        leg.auto_ack = auto_ack
        leg.offer = bool(body) and content_type == "application/sdp"
        try:
            txn = self._send_new(leg, "INVITE", uri, from_uri, to, body, content_type,
                                 [*extra, *headers], dest, now, (call_id, from_tag, cseq))
        except Exception:
            self._legs.pop(leg.handle, None)
            raise
        leg.invite_txn = txn
        return leg.handle

    def request(
        self,
        handle: str | None,
        method: str,
        *,
        uri: str | None = None,
        from_uri: str | None = None,
        to: str | None = None,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: HeaderList = (),
        dest: Address | None = None,
        dialog: str | None = None,
        call_id: str | None = None,
        from_tag: str | None = None,
        cseq: int | None = None,
        now: float | None = None,
    ) -> str:
        """Send ``method`` in the dialog of ``handle`` (or, with ``handle=None``,
        outside any dialog to ``uri``, optionally reusing ``call_id``,
        ``from_tag`` and ``cseq``); returns the handle."""
        now = self.now if now is None else now
        method = method.upper()
        if handle is None:
            if method in ("INVITE", "ACK", "CANCEL") or method in _DIALOG_ONLY:
                raise LocalProtocolError(f"{method} cannot be sent outside a dialog with request()")
            if uri is None:
                raise LocalProtocolError(f"{method} outside a dialog needs a uri")
            leg = self._new_handle("req")
            try:
                self._send_new(leg, method, uri, from_uri, to, body, content_type,
                               list(headers), dest, now, (call_id, from_tag, cseq))
            except Exception:
                self._legs.pop(leg.handle, None)
                raise
            return leg.handle
        leg = self._leg(handle)
        if method == "ACK":
            self.ack(handle, body=body, content_type=content_type, headers=headers, now=now)
            return handle
        if method == "CANCEL":
            self.cancel(handle, now=now)
            return handle
        target = self._dialog_for(leg, dialog)
        self._send_in_dialog(leg, target, method, body, content_type, headers, now)
        return handle

    def _leg(self, handle: str) -> _Leg:
        leg = self._legs.get(handle)
        if leg is None:
            raise LocalProtocolError(f"unknown or released handle {handle!r}")
        return leg

    def _dialog_for(self, leg: _Leg, remote_tag: str | None) -> Dialog:
        if remote_tag is not None:
            found = (leg.early or {}).get(remote_tag)
            if found is None and leg.dialog is not None and leg.dialog.remote_tag == remote_tag:
                found = leg.dialog
            if found is None:
                raise LocalProtocolError(f"handle {leg.handle!r} has no dialog {remote_tag!r}")
            return found
        if leg.dialog is not None and leg.dialog.alive:
            return leg.dialog
        if leg.early and leg.last_tag in leg.early:
            return leg.early[leg.last_tag]
        raise LocalProtocolError(f"handle {leg.handle!r} has no dialog")

    def _send_new(
        self,
        leg: _Leg,
        method: str,
        uri: str,
        from_uri: str | None,
        to: str | None,
        body: bytes,
        content_type: str,
        headers: list[tuple[str, str]],
        dest: Address | None,
        now: float | None,
        ids: tuple[str | None, str | None, int | None] = (None, None, None),
    ) -> ClientTransaction:
        now = self.now if now is None else now
        call_id, from_tag, cseq = ids
        if cseq is not None and not 0 < cseq < 2**31:
            raise LocalProtocolError(f"CSeq {cseq} is out of range (1 .. 2**31-1)")
        if dest is None:
            dest = self.resolve(uri, self.local[0].transport)
        local = self._local_for(dest)
        leg.local_tag = from_tag or self._hex(48)
        if from_uri is None:
            host = f"[{local.host}]" if ":" in local.host else local.host
            from_uri = f"sip:{self.config.user}@{host}"
        fields: list[tuple[str, str]] = [
            ("Via", self._via(local)),
            ("Max-Forwards", str(self.config.max_forwards)),
            ("From", f"{_angle(from_uri)};tag={leg.local_tag}"),
            ("To", _angle(to or uri)),
            ("Call-ID", call_id or self._hex(96)),
            ("CSeq", f"{cseq if cseq is not None else self._initial_seq()} {method}"),
        ]
        if method == "INVITE" or method in _TARGET_REFRESH:
            fields.append(("Contact", self._contact(local)))
        if self.config.user_agent:
            fields.append(("User-Agent", self.config.user_agent))
        fields.extend(headers)
        if body:
            fields.append(("Content-Type", content_type))
        request = Request(method, uri.strip("<>"), Headers(fields), body)
        txn = self.layer.send_request(request, dest, now)
        if not txn.terminated:
            txn.user_data = _ClientCtx(leg, None, leg.offer)
            leg.clients += 1
        else:  # transport error already reported to on_transport_error with no ctx
            self.events.append(ev.TransportError(leg.handle, method))
            self._maybe_release(leg)
        return txn

    def _send_in_dialog(
        self,
        leg: _Leg,
        dialog: Dialog,
        method: str,
        body: bytes,
        content_type: str,
        headers: HeaderList,
        now: float,
    ) -> None:
        usage = dialog.invite
        extra: list[tuple[str, str]] = []
        sdp = bool(body) and content_type == "application/sdp"
        dest = self._peer_of(dialog)
        if dest is None:  # the peer's Contact/Record-Route: like a 503 (§8.1.3.1)
            self.events.append(ev.TransportError(leg.handle, method))
            return
        if method == "INVITE":
            if usage is None:
                raise LocalProtocolError("re-INVITE on a dialog without INVITE usage")
            if usage.out_invite or usage.in_invite:
                raise LocalProtocolError(
                    "an INVITE is already in progress on this dialog (RFC 3261 §14.1)"
                )
        if method == "PRACK":
            rack = usage.rel_rx.rack() if usage is not None and usage.rel_rx else None
            if rack is None:
                raise LocalProtocolError("no reliable provisional to PRACK on this dialog")
            extra.append(("RAck", str(rack)))
        if method == "BYE":
            if leg.role == "uas" and not dialog.confirmed:
                raise LocalProtocolError(
                    "a UAS must not send BYE on an early dialog: answer the INVITE instead"
                )
            if usage is not None:
                self._set_session_timer(dialog, None)
        if method in ("INVITE", "UPDATE") and usage is not None:
            if self._options:
                extra.append(("Supported", self._supported))
            if self._timer_on:
                extra.extend(st.request_headers(self.config.session_timer, usage.timer))
        local = self._local_for(dest)
        contact = self._contact(local) if method in _TARGET_REFRESH else None
        if self.config.user_agent:
            extra.append(("User-Agent", self.config.user_agent))
        extra.extend(headers)
        if body:
            extra.append(("Content-Type", content_type))
        seq = dialog.next_local_seq(self._initial_seq())
        request = dialog.build_request(
            method, seq, self._via(local), max_forwards=self.config.max_forwards,
            contact=contact, extra=extra, body=body,
        )
        if usage is not None:
            if method == "INVITE":
                usage.out_invite = True
                usage.oa_done = False
            if method in ("INVITE", "UPDATE", "PRACK"):
                usage.sent(sdp)
        txn = self.layer.send_request(request, dest, now)
        if txn.terminated:
            self.events.append(ev.TransportError(leg.handle, method))
            if usage is not None and method == "INVITE":
                usage.out_invite = False
            return
        txn.user_data = _ClientCtx(leg, dialog, sdp)
        leg.clients += 1

    def ack(
        self,
        handle: str,
        *,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: HeaderList = (),
        now: float | None = None,
    ) -> None:
        """Send the ACK for a 2xx received on ``handle`` (only needed when the
        INVITE was sent with ``auto_ack=False``, e.g. to carry an SDP answer)."""
        now = self.now if now is None else now
        leg = self._leg(handle)
        if leg.ack_due is None or leg.dialog is None:
            raise LocalProtocolError(f"handle {handle!r} has no 2xx waiting for an ACK")
        seq, leg.ack_due = leg.ack_due, None
        self._send_ack(leg.dialog, seq, headers, body, content_type if body else None, now)

    def _send_ack(
        self,
        dialog: Dialog,
        seq: int,
        headers: HeaderList,
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> None:
        usage = dialog.invite
        dest = self._peer_of(dialog)
        if dest is None:
            return
        extra = list(headers)
        if body and content_type:
            extra.append(("Content-Type", content_type))
        ack = dialog.build_request(
            "ACK", seq, self._via(self._local_for(dest)),
            max_forwards=self.config.max_forwards, extra=extra, body=body,
        )
        wire = ack.serialize()
        self._send_wire(wire, dest)
        if usage is not None:
            if body:
                usage.sent(content_type == "application/sdp")
            old = usage.ack_wire
            if old is not None:
                old[3].cancel()
            # Kept a little longer than Timer M, for 2xx that arrive as strays.
            keep_for = 64 * self.config.timers.t1 + self.config.timers.t4
            keep = self.timers.schedule(now + keep_for, "ack-drop", dialog)
            usage.ack_wire = (seq, wire, dest, keep)

    def _reack(self, dialog: Dialog, seq: int) -> None:
        usage = dialog.invite
        if usage is not None and usage.ack_wire is not None and usage.ack_wire[0] == seq:
            self._send_wire(usage.ack_wire[1], usage.ack_wire[2])

    def _reject_fork(self, request: Request, response: Response, now: float) -> None:
        """ACK and BYE a 2xx from a second fork (§13.2.2.4): the first 2xx won."""
        try:
            fork = Dialog.from_uac(request, response, "")
        except RemoteProtocolError:
            return
        dest = self._peer_of(fork)
        if dest is None:
            return
        via_local = self._local_for(dest)
        seq = request.cseq.seq
        ack = fork.build_request("ACK", seq, self._via(via_local),
                                 max_forwards=self.config.max_forwards)
        self._send(ack, dest)
        bye = fork.build_request("BYE", seq + 1, self._via(via_local),
                                 max_forwards=self.config.max_forwards)
        self.layer.send_request(bye, dest, now)  # user_data None: responses are ignored

    def cancel(self, handle: str, *, now: float | None = None) -> bool:
        """CANCEL the pending INVITE of ``handle`` (§9.1). Sent at once if a
        provisional arrived, else as soon as one does. Returns False when there
        is nothing left to cancel (a final response already arrived)."""
        now = self.now if now is None else now
        leg = self._leg(handle)
        if leg.role != "uac" or leg.invite_txn is None:
            return False
        if leg.cancel_sent or leg.cancel_pending:
            return True
        if leg.invite_txn.last_response is None:
            leg.cancel_pending = True
            return True
        self._send_cancel(leg, now)
        return True

    def _send_cancel(self, leg: _Leg, now: float) -> None:
        txn = leg.invite_txn
        leg.cancel_pending = False
        if txn is None or leg.cancel_sent:
            return
        leg.cancel_sent = True
        invite = txn.request
        h = invite.headers
        fields: list[tuple[str, str]] = [("Via", str(invite.top_via))]
        routes = h.get_all("Route")
        if routes:
            fields.append(("Route", ", ".join(routes)))
        fields.append(("Max-Forwards", str(self.config.max_forwards)))
        fields.append(("From", h.get("From") or ""))
        fields.append(("To", h.get("To") or ""))
        fields.append(("Call-ID", invite.call_id))
        fields.append(("CSeq", f"{invite.cseq.seq} CANCEL"))
        cancel = Request("CANCEL", invite.uri, Headers(fields))
        ctxn = self.layer.send_request(cancel, txn.dest, now)
        if not ctxn.terminated:
            ctxn.user_data = _ClientCtx(leg, None, False)
            leg.clients += 1

    # ==================================================================
    # session timers (RFC 4028)
    # ==================================================================

    def _uac_session_timer(self, dialog: Dialog, response: Response) -> None:
        if not self._timer_on:
            return
        timer = st.timer_from_2xx(response, we_are_uac=True)
        usage = dialog.invite
        if (
            timer is None
            and usage is not None
            and usage.timer is not None
            and usage.timer.we_refresh
            and "timer" not in response.supported
        ):
            # A refresh we sent to a peer without session timers (we added the
            # timer as UAS, RFC 4028 §9): its 2xx cannot echo it; keep ours.
            timer = usage.timer
        self._set_session_timer(dialog, timer)

    def _set_session_timer(self, dialog: Dialog, timer: st.SessionTimer | None) -> None:
        usage = dialog.invite
        if usage is None:
            return
        for name in ("refresh_at", "expire_at"):
            deadline = getattr(usage, name)
            if deadline is not None:
                deadline.cancel()
                setattr(usage, name, None)
        usage.timer = timer
        if timer is None:
            return
        now = self.now
        if timer.we_refresh:
            usage.refresh_at = self.timers.schedule(now + timer.refresh_after, "st-refresh", dialog)
        usage.expire_at = self.timers.schedule(now + timer.expire_after, "st-expire", dialog)

    # ==================================================================
    # timers
    # ==================================================================

    def handle_timers(self, now: float) -> None:
        """Fire the transaction layer's and the core's due timers."""
        self.now = now
        self.layer.handle_timers(now)
        for deadline in self.timers.pop_due(now):
            self._fire(deadline, now)

    def next_deadline(self) -> float | None:
        """The earliest deadline of the layer and the core, or None."""
        a = self.layer.next_deadline()
        b = self.timers.next_deadline()
        if a is None:
            return b
        return a if b is None or a < b else b

    def _fire(self, deadline: Deadline, now: float) -> None:
        kind = deadline.kind
        if kind == "trying":
            self._send_trying(deadline.target, now)
            return
        dialog: Dialog = deadline.target
        usage = dialog.invite
        if usage is None:
            return
        if kind == "2xx":
            pending = usage.pending_2xx
            if pending is not None:
                self._send_wire(pending.wire, pending.dest)
                pending.interval = min(pending.interval * 2, self.config.timers.t2)
                pending.retx = self.timers.schedule(now + pending.interval, "2xx", dialog)
        elif kind == "2xx-end":
            self._stop_2xx(usage)
            self.events.append(ev.AckTimeout(dialog.handle))
        elif kind == "ack-drop":
            if usage.ack_wire is not None and usage.ack_wire[3] is deadline:
                usage.ack_wire = None
        elif kind == "rel":
            usage.rel_timer = None
            self._fire_reliable(dialog, usage, now)
        elif kind == "st-refresh":
            if usage.timer is not None:
                usage.refresh_at = None
                self.events.append(ev.SessionRefreshDue(dialog.handle, usage.timer.interval))
        elif kind == "st-expire":
            self._expire_session(dialog, now)

    def _fire_reliable(self, dialog: Dialog, usage: InviteUsage, now: float) -> None:
        rel = usage.rel_tx
        if rel is None or rel.outstanding is None:
            return
        out = rel.outstanding
        leg = self._legs.get(dialog.handle)
        txn = self._requests.get(leg.invite_rid or "") if leg is not None else None
        if txn is None or leg is None:
            self._drop_reliable(usage)
            return
        if now >= out.give_up_at:
            self._drop_reliable(usage)
            self.events.append(ev.PrackTimeout(leg.handle))
            self.respond(txn_rid(txn), 504, "Reliable provisional not acknowledged", now=now)
            return
        if now >= out.next_at:
            self._respond_again(txn, out.response)
            rel.retransmitted(now)
        self._schedule_rel(dialog, usage, rel)

    def _respond_again(self, txn: ServerTransaction, response: Response) -> None:
        self._send_wire(response.serialize(), txn.source)

    def _expire_session(self, dialog: Dialog, now: float) -> None:
        usage = dialog.invite
        if usage is None or not dialog.alive:
            return
        usage.expire_at = None
        leg = self._legs.get(dialog.handle)
        if leg is None:
            return
        self.events.append(ev.SessionExpired(leg.handle))
        if dialog.confirmed:
            self._send_in_dialog(leg, dialog, "BYE", b"", "", (), now)
        else:  # pragma: no cover - session timers run on confirmed dialogs only
            self._end_dialog(leg, dialog, "session-expired", now)

    # ==================================================================
    # lifetime
    # ==================================================================

    def _request_done(self, leg: _Leg, rid: str) -> None:
        txn = self._requests.pop(rid, None)
        if txn is not None and txn.is_invite and leg.trying is not None:
            leg.trying.cancel()
            leg.trying = None
        if rid in leg.requests:
            leg.requests.remove(rid)

    def _drop_dialog(self, dialog: Dialog) -> None:
        usage = dialog.invite
        if usage is not None:
            self._stop_usage_timers(usage)
        self.dialogs.remove(dialog)
        dialog.terminate()

    def _stop_usage_timers(self, usage: InviteUsage) -> None:
        self._stop_2xx(usage)
        self._drop_reliable(usage)
        for name in ("refresh_at", "expire_at"):
            deadline = getattr(usage, name)
            if deadline is not None:
                deadline.cancel()
                setattr(usage, name, None)
        if usage.ack_wire is not None:
            usage.ack_wire[3].cancel()
            usage.ack_wire = None

    def _end_dialog(self, leg: _Leg, dialog: Dialog, reason: str, now: float) -> None:
        if not dialog.alive:
            return
        was_confirmed = dialog.confirmed
        # RFC 3261 §15.1.2: pending requests of the dialog get 487.
        for rid in list(leg.requests):
            txn = self._requests.get(rid)
            if txn is not None and txn.is_invite and (
                txn.last_response is None or txn.last_response.status < 200
            ):
                if dialog.invite is not None:
                    self._drop_reliable(dialog.invite)
                response = make_response(txn.request, 487)
                if txn.request.to_tag is None:
                    _set_to_tag(response, leg.local_tag)
                self._respond_txn(txn, response, now)
                self._request_done(leg, rid)
        self._drop_dialog(dialog)
        if leg.dialog is dialog:
            leg.dialog = None
        if was_confirmed:
            self.events.append(ev.DialogTerminated(leg.handle, reason))
        self._maybe_release(leg)

    def _maybe_release(self, leg: _Leg) -> None:
        if leg.released or leg.clients > 0 or leg.requests or leg.invite_txn is not None:
            return
        if leg.dialog is not None and leg.dialog.alive:
            return
        if leg.early:
            return
        leg.released = True
        leg.dialog = None
        self._legs.pop(leg.handle, None)
        self.events.append(ev.HandleReleased(leg.handle))

    # ==================================================================
    # introspection
    # ==================================================================

    def pending_invite(self, handle: str) -> str | None:
        """The request id of the INVITE ``handle`` received and has not finally
        answered (for 487 after CANCEL), or None."""
        leg = self._legs.get(handle)
        if leg is None:
            return None
        for rid in leg.requests:
            txn = self._requests.get(rid)
            if txn is not None and txn.is_invite:
                return rid
        return None

    def dialog_of(self, handle: str) -> Dialog | None:
        """The confirmed (or, before that, current early) dialog of ``handle``."""
        leg = self._legs.get(handle)
        if leg is None:
            return None
        if leg.dialog is not None:
            return leg.dialog
        if leg.early and leg.last_tag in leg.early:
            return leg.early[leg.last_tag]
        return None

    def counts(self) -> dict[str, int]:
        """Live objects, for leak tests: handles, dialogs, pending requests,
        core timers, and the transaction layer's counts."""
        out = {
            "handles": len(self._legs),
            "dialogs": len(self.dialogs),
            "requests": len(self._requests),
            "timers": len(self.timers),
        }
        out.update(self.layer.counts())
        return out


# ----------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------

def _resolve(uri: str, default_transport: str) -> Address:
    try:
        parsed = SipUri.parse(uri.strip("<>"))
    except RemoteProtocolError as exc:
        raise LocalProtocolError(f"cannot send to {uri!r}: {exc.reason}") from None
    scheme = parsed.scheme.lower()
    if scheme not in ("sip", "sips") or not parsed.host:
        raise LocalProtocolError(f"cannot send to {uri!r}: not a sip: or sips: URI")
    maddr = parsed.params.get("maddr")
    transport = (parsed.transport or default_transport).lower()
    if transport == "tls":
        transport = "tcp"
    port = parsed.port or (5061 if scheme == "sips" else 5060)
    return Address(transport, maddr or parsed.host, port)


def txn_rid(txn: ServerTransaction) -> str:
    """The request id the core gave ``txn``."""
    return txn.user_data[1]


def _angle(uri: str) -> str:
    uri = uri.strip()
    return uri if "<" in uri else f"<{uri}>"


def _set_to_tag(response: Response, tag: str) -> None:
    to = response.headers.get("To")
    if to is not None and ";tag=" not in to.replace(" ", "").lower():
        response.headers.set("To", f"{to};tag={tag}")


def _add_capabilities(response: Response, allow: str, supported: str) -> None:
    if "allow" not in response.headers:
        response.headers.add("Allow", allow)
    if supported and "supported" not in response.headers:
        response.headers.add("Supported", supported)


def _first_line(message: Request | Response) -> str:
    return message.start_line()


def _response_event(
    leg: _Leg, response: Response, method: str, reliable: bool, tag: str | None
) -> ev.ResponseReceived:
    return ev.ResponseReceived(
        leg.handle, response.status, response.reason, method, reliable, tag, response
    )
