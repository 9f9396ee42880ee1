"""The UAS side of the UA core: incoming requests and our answers to them.

Rules:

- Incoming requests pass the RFC 3261 §8.2 checks in order — method (501/405
  with ``Allow``), Request-URI scheme (416), Max-Forwards (483, OPTIONS
  excepted), ``Require`` (420 with ``Unsupported``), ``Session-Expires`` (422
  with ``Min-SE``) — then dialog matching by tags (481), CSeq order (500) and
  glare (491; 500 with ``Retry-After`` for overlapping incoming offers).
- CANCEL is answered here (200, or 481 when it matches no INVITE); the 487 to
  the INVITE is the application's. ACK of our 2xx stops its retransmission.
- ``respond`` adds what the RFCs want in an answer (To tag, Contact,
  Record-Route, ``Allow``/``Supported``, session-timer headers), retransmits a
  2xx to INVITE until its ACK (§13.3.1.4) and sends reliable provisionals
  (RFC 3262: one outstanding at a time, the rest queued, T1 doubling until a
  PRACK whose RAck matches, 504 after 64*T1).

Theory of operation: ``ServerSide`` is a mixin of ``sipflow.sip.ua.UACore``
and uses its identifiers, timers and lifetime helpers; this module holds
everything that starts from a request the peer sent.
"""

from __future__ import annotations

import logging

from sipflow.sip import events as ev
from sipflow.sip import session_timer as st
from sipflow.sip.deadlines import DeadlineHeap
from sipflow.sip.dialog import Dialog, DialogStore, InviteUsage, has_sdp
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response
from sipflow.sip.reliable import RSEQ_MAX, ReliableSender
from sipflow.sip.transaction import ServerTransaction, TransactionLayer
from sipflow.sip.types import Address
from sipflow.sip.ua_config import KNOWN_METHODS, EndpointConfig
from sipflow.sip.ua_state import (
    DIALOG_ONLY,
    TARGET_REFRESH,
    HeaderList,
    Leg,
    MergeKey,
    Pending2xx,
    merge_key,
    names_of,
    set_to_tag,
)

__all__ = ["ServerSide"]

log = logging.getLogger("sipflow.sip.ua")


class ServerSide:
    """Requests from the peer and the application's answers (mixed into
    ``UACore``, which defines the attributes below and the helpers used here:
    ``_at``, ``_hex``, ``_new_handle``, ``_register_request``, ``_request_done``,
    ``_end_dialog``, ``_maybe_release``, ``_set_session_timer`` …)."""

    config: EndpointConfig
    layer: TransactionLayer
    dialogs: DialogStore
    timers: DeadlineHeap
    events: list[ev.UAEvent]
    now: float

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
            if txn.is_invite and txn.last_status is None and txn.user_data is not None:
                self._schedule_trying(txn, now)
        except RemoteProtocolError as exc:
            log.info("answered %s from %s with %d: %s", request.method, source,
                     exc.status or 400, exc.reason)
            if (txn.last_status or 0) < 200:
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
        if txn.last_status is None and not txn.terminated and txn.state == "Proceeding":
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
            set_to_tag(response, to_tag or self._hex(48))
        self._respond_txn(txn, response, now)
        data = txn.user_data
        if data is not None:
            self._request_done(data[0], data[1])
            self._maybe_release(data[0])

    def _respond_txn(self, txn: ServerTransaction, response: Response, now: float) -> None:
        """Send ``response`` on ``txn`` (send errors reach ``on_transport_error``)."""
        txn.respond(response, now)  # what ``TransactionLayer.respond`` does

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
            require = request.require
            if require and not require <= self._options:
                unknown = sorted(require - self._options)
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
        if method in DIALOG_ONLY:
            self._reject(txn, 481, now, warning=f"{method} outside a dialog")
            return
        merge = merge_key(request)
        if self._ongoing.get(merge) is not None:
            # The same request reached us twice by different paths (§8.2.2.2).
            self._reject(txn, 482, now, warning="merged request: already being processed")
            return
        if method == "INVITE":
            self._on_new_invite(txn, request, merge)
            return
        leg = self._new_handle("srv")
        leg.local_tag = self._hex(48)  # one To tag for every response (§8.2.6.2)
        rid = self._register_request(txn, leg, merge)
        self.events.append(ev.RequestReceived(leg.handle, rid, method, False, request))

    def _on_new_invite(
        self, txn: ServerTransaction, request: Request, merge: MergeKey
    ) -> None:
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
        rid = self._register_request(txn, leg, merge)
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
        elif method in TARGET_REFRESH:
            dialog.refresh_target(request)
        rid = self._register_request(txn, leg)
        self.events.append(ev.RequestReceived(leg.handle, rid, method, True, request))

    def _on_cancel(self, txn: ServerTransaction, request: Request, now: float) -> None:
        target = self.layer.find_cancel_target(request)
        data = target.user_data if target is not None else None
        if target is None or data is None:
            self._reject(txn, 481, now, warning="CANCEL matches no INVITE")
            return
        response = make_response(request, 200)
        if type(data) is str:  # finally answered: only our To tag is kept (_request_done)
            if request.to_tag is None:
                set_to_tag(response, data or self._hex(48))
            self._respond_txn(txn, response, now)
            return
        leg, rid = data
        if request.to_tag is None:
            set_to_tag(response, leg.local_tag or self._hex(48))
        self._respond_txn(txn, response, now)
        pending = (target.last_status or 0) < 200
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
        now = self._at(now)
        txn = self._requests.get(request_id)
        if txn is None:
            raise LocalProtocolError(f"no pending request {request_id!r} to answer")
        if not isinstance(status, int) or not 100 <= status <= 699:
            raise LocalProtocolError(f"invalid status code {status!r}")
        if reliable and not 100 < status < 200:
            raise LocalProtocolError(f"a {status} cannot be sent reliably: only 101-199 can")
        leg, _ = txn.user_data
        request = txn.request
        method = request.method
        if reliable:
            self._check_reliable(request)
        if leg.trying is not None and txn.is_invite:
            leg.trying.cancel()
            leg.trying = None
        to_tag = request.to_tag
        # The dialog the request belongs to (a UAC's early dialog is not leg.dialog).
        dialog = leg.dialog if to_tag is None else self.dialogs.for_request(request)
        usage = dialog.invite if dialog is not None else None
        # Every header field the core adds goes in with the application's, in
        # one build (make_response); the fields the application wrote itself
        # are the only ones the response could already have besides the copied
        # Via/From/To/Call-ID/CSeq.
        fields = list(headers)
        given = names_of(fields)
        tag = copy_tag = None
        if to_tag is None and status > 100:
            tag = leg.local_tag or self._hex(48)
            # Tagged while copied, unless the application wrote a To of its own.
            if "to" not in given:
                copy_tag = tag
        if body and "content-type" not in given:
            fields.append(("Content-Type", content_type or "application/sdp"))
        if self._server is not None and "server" not in given:
            fields.append(("Server", self._server))
        initial = False
        if method == "INVITE" and usage is not None:
            initial = leg.invite_rid is not None and txn is self._requests.get(leg.invite_rid)
            if 100 < status < 300:
                if "contact" not in given:  # the application may set its own
                    fields.append(("Contact", self._contact(self._local_for(txn.source))))
                if initial and dialog.route_set:  # (from the request's Record-Route)
                    for value in request.headers.get_all("Record-Route"):
                        fields.append(("Record-Route", value))
                if status >= 200:
                    fields += self._capabilities
        elif 200 <= status < 300:
            if method == "UPDATE" and usage is not None:
                if "contact" not in given:
                    fields.append(("Contact", self._contact(self._local_for(txn.source))))
            elif method == "OPTIONS" and usage is None:
                # RFC 3261 §11.2: what we allow, support and accept.
                if "allow" not in given:
                    fields.append(("Allow", self._allow))
                if self._supported and "supported" not in given:
                    fields.append(("Supported", self._supported))
                if "accept" not in given:
                    fields.append(("Accept", "application/sdp"))
        response = make_response(request, status, reason, fields, body, copy_tag)
        if tag is not None and copy_tag is None:
            set_to_tag(response, tag)
        if method == "INVITE" and usage is not None:
            self._respond_invite(leg, dialog, txn, response, reliable, initial, now)  # type: ignore[arg-type]
        else:
            if reliable:
                raise LocalProtocolError("only provisional responses to INVITE can be reliable")
            if usage is not None and method in ("UPDATE", "PRACK"):
                self._respond_in_usage(dialog, request, response)  # type: ignore[arg-type]
            self._respond_txn(txn, response, now)
        if status >= 200:
            self._request_done(leg, request_id)
            if method == "BYE" and dialog is not None:
                self._end_dialog(leg, dialog, "bye-received", now)
            self._maybe_release(leg)

    def _respond_in_usage(self, dialog: Dialog, request: Request, response: Response) -> None:
        """Offer/answer and session-timer state of an answer to UPDATE or PRACK
        inside an INVITE usage (its Contact is already in ``response``)."""
        usage = dialog.invite
        assert usage is not None
        status = response.status
        if not 200 <= status < 300:
            if request.method == "UPDATE" and has_sdp(request) and status >= 200:
                usage.remote_offer = False
            return
        if request.method == "UPDATE":
            self._uas_session_timer(dialog, request, response)
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
        leg: Leg,
        dialog: Dialog,
        txn: ServerTransaction,
        response: Response,
        reliable: bool,
        initial: bool,
        now: float,
    ) -> None:
        """Send ``response`` (its header fields complete, see ``respond``) to an
        INVITE of ``dialog``'s usage; ``initial``: the INVITE that created it."""
        usage = dialog.invite
        assert usage is not None
        request = txn.request
        status = response.status
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
        pending = Pending2xx(response, txn.source, txn.request.cseq.seq, t1, now + 64 * t1)
        # On every transport (§13.3.1.4): reliability is hop by hop, and a proxy
        # may forward over UDP what reached it over TCP.
        pending.retx = self.timers.schedule(now + t1, "2xx", dialog)
        usage.pending_2xx = pending

    def _stop_2xx(self, usage: InviteUsage) -> None:
        pending = usage.pending_2xx
        if pending is not None:
            if pending.retx is not None:
                pending.retx.cancel()
            usage.pending_2xx = None

    # -- reliable provisionals (RFC 3262) --------------------------------------

    def _check_reliable(self, request: Request) -> None:
        """Raise ``LocalProtocolError`` unless a reliable provisional may answer
        ``request`` (an INVITE from a peer that offered 100rel, RFC 3262 §3)."""
        if request.method != "INVITE":
            raise LocalProtocolError("only provisional responses to INVITE can be reliable")
        if not self._rel_on:
            raise LocalProtocolError("100rel is not in EndpointConfig.supported")
        if "100rel" not in request.supported and "100rel" not in request.require:
            raise LocalProtocolError(
                "the peer does not support 100rel: send the provisional unreliably, "
                "or answer 421 with 'Require: 100rel'"
            )

    def _send_reliable(
        self, leg: Leg, dialog: Dialog, txn: ServerTransaction, response: Response, now: float
    ) -> None:
        request = txn.request
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
        rel.start(rseq, response, now, self.config.timers.t1)  # any transport (RFC 3262 §3)
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

    def _send_waiting_reliable(self, leg: Leg, dialog: Dialog, now: float) -> None:
        usage = dialog.invite
        if usage is None or usage.rel_tx is None or not usage.rel_tx.waiting:
            return
        txn = self._requests.get(leg.invite_rid or "")
        if txn is None:
            usage.rel_tx.waiting.clear()
            return
        response = usage.rel_tx.waiting.popleft()
        self._transmit_reliable(dialog, usage, usage.rel_tx, txn, response, now)
