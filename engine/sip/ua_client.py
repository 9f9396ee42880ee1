"""The UAC side of the UA core: the requests we send and their responses.

Rules:

- ``invite`` and ``request`` build requests (RFC 3261 §8.1.1, §12.2.1.1 in a
  dialog: remote target, route set, CSeq + 1, Contact on target refreshes,
  ``RAck`` on PRACK, ``Supported`` and session-timer headers on INVITE/UPDATE).
- Responses to an INVITE make early dialogs, one per To tag (forking); the
  first 2xx confirms its dialog, ends the other early ones, and is ACKed
  (unless ``auto_ack=False``); any later 2xx from another fork is ACKed and
  BYEd here and never reaches the application. Retransmitted 2xx are re-ACKed
  with the same bytes (also as strays after Timer M).
- Reliable provisionals (RFC 3262) are handed on once, in RSeq order;
  retransmissions and gaps are dropped. CANCEL waits for a provisional (§9.1);
  a 2xx that crosses our CANCEL is ACKed and BYEd here (its events still
  reach the application, then ``DialogTerminated``).
- 481 or 408 (or a timeout) to an in-dialog request ends the dialog
  (§12.2.1.2); any final response to BYE ends it.

Theory of operation: ``ClientSide`` is a mixin of ``sipflow.sip.ua.UACore``;
every client transaction carries a ``ClientCtx`` in ``txn.user_data`` naming
its leg and dialog.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from sipflow.sip import events as ev
from sipflow.sip import session_timer as st
from sipflow.sip.deadlines import DeadlineHeap
from sipflow.sip.dialog import Dialog, DialogStore, has_sdp, uac_route_and_target
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.message import Headers, Request, Response
from sipflow.sip.reliable import ReliableReceiver
from sipflow.sip.transaction import ClientTransaction, ServerTransaction, TransactionLayer
from sipflow.sip.types import Address
from sipflow.sip.ua_config import EndpointConfig
from sipflow.sip.ua_state import (
    DIALOG_ONLY,
    TARGET_REFRESH,
    ClientCtx,
    HeaderList,
    Leg,
    angle,
    names_of,
    response_event,
)

__all__ = ["ClientSide"]

log = logging.getLogger("sipflow.sip.ua")


class ClientSide:
    """Our requests and the peer's responses (mixed into ``UACore``, which
    defines the attributes below and the helpers used here: ``_at``, ``_hex``,
    ``_via``, ``_contact``, ``_local_for``, ``_peer_of``, ``_end_dialog``,
    ``_drop_dialog``, ``_maybe_release``, ``_set_session_timer`` …)."""

    config: EndpointConfig
    layer: TransactionLayer
    dialogs: DialogStore
    timers: DeadlineHeap
    events: list[ev.UAEvent]
    now: float

    # ==================================================================
    # TransactionUser: responses
    # ==================================================================

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        """A response from the transaction layer (see ``TransactionUser``)."""
        self.now = now
        ctx: ClientCtx | None = txn.user_data
        if ctx is None or ctx.leg is None or ctx.leg.released:
            return
        try:
            if txn is ctx.leg.invite_txn or (txn.is_invite and ctx.dialog is None):
                self._on_invite_response(ctx, txn, response, now)
            else:
                self._on_other_response(ctx, txn, response, now)
        except RemoteProtocolError as exc:
            log.info("ignored malformed %d to %s: %s", response.status, txn.method, exc.reason)
        if ctx.final and not txn.is_invite:
            # Completed (Timer K) absorbs what follows: nothing will read the
            # context again, so the lingering transaction keeps no leg or dialog.
            txn.user_data = None
        self._maybe_release(ctx.leg)

    def _on_invite_response(
        self, ctx: ClientCtx, txn: ClientTransaction, response: Response, now: float
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
            early = leg.early or {}
            dialog = early.get(tag)
            if dialog is not None and not dialog.alive:
                dialog = None
            try:  # validates Contact and Record-Route before anything changes
                if dialog is None:
                    fresh = Dialog.from_uac(request, response, leg.handle, leg.local_tag or None)
                else:  # the early dialog of this tag: recomputed from the 2xx (§13.2.2.4)
                    routes, target = uac_route_and_target(request, response)
            except RemoteProtocolError as exc:
                log.info("2xx to INVITE unusable (%s): the call fails", exc.reason)
                self._client_failed(txn, now, lambda leg: ev.TransportError(leg.handle, "INVITE"))
                return
            ctx.final = True
            leg.clients -= 1
            leg.invite_txn = None
            cancelled = leg.cancel_pending or leg.cancel_sent
            leg.cancel_pending = False
            early.pop(tag, None)
            if dialog is None:
                dialog = fresh
                assert dialog.invite is not None
                dialog.invite.local_offer = leg.offer
                self.dialogs.add(dialog)
            else:
                dialog.remote_target = target
                dialog.route_set = routes
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
            self.events.append(response_event(leg, response, "INVITE", False, tag))
            if leg.auto_ack or cancelled:
                self._send_ack(dialog, request.cseq.seq, (), b"", None, now)
            else:
                leg.ack_due = request.cseq.seq
            if cancelled:  # the 2xx crossed our CANCEL (RFC 3261 §9.1): hang up
                self._send_in_dialog(leg, dialog, "BYE", b"", "", (), now)
            return
        ctx.final = True
        leg.clients -= 1
        leg.invite_txn = None
        leg.cancel_pending = False
        for other in (leg.early or {}).values():
            self._drop_dialog(other)
        leg.early = None
        self.events.append(response_event(leg, response, "INVITE", False, tag or None))

    def _on_provisional(self, leg: Leg, request: Request, response: Response) -> None:
        tag = response.to_tag
        dialog: Dialog | None = None
        if tag:
            if leg.early is None:
                leg.early = {}
            dialog = leg.early.get(tag)
            if dialog is None:
                dialog = Dialog.from_uac(request, response, leg.handle, leg.local_tag or None)
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
        self.events.append(response_event(leg, response, "INVITE", reliable, tag))

    def _on_other_response(
        self, ctx: ClientCtx, txn: ClientTransaction, response: Response, now: float
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
        self.events.append(response_event(leg, response, method, reliable, tag))
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
        if type(data) is tuple:  # still pending: (leg, rid); once answered, a tag or None
            leg, rid = data
            if rid not in self._requests:
                return
            initial = rid == leg.invite_rid  # read before _request_done clears it
            self._request_done(leg, rid)
            self.events.append(ev.TransportError(leg.handle, txn.method))
            dialog = leg.dialog
            if initial and dialog is not None and not dialog.confirmed:
                self._end_dialog(leg, dialog, "transport-error", now)
            self._maybe_release(leg)

    def on_ack_timeout(self, txn: ServerTransaction, now: float) -> None:
        """Timer H: our non-2xx final to an INVITE was never ACKed; nothing to do."""
        self.now = now

    def on_terminated(self, txn: Any) -> None:
        """A transaction ended. Normally its outcome was already reported; a
        client transaction that ends without one (cannot happen with a correct
        layer) still fails its leg, so no handle is ever left behind."""
        ctx = txn.user_data if isinstance(txn, ClientTransaction) else None
        if ctx is not None and not ctx.final and ctx.leg is not None:
            self._client_failed(
                txn, self.now, lambda leg: ev.TransportError(leg.handle, txn.method)
            )

    def _client_failed(self, txn: ClientTransaction, now: float, make: Any) -> None:
        ctx: ClientCtx | None = txn.user_data
        if ctx is None or ctx.leg is None or ctx.leg.released or ctx.final:
            return
        leg = ctx.leg
        ctx.final = True
        leg.clients -= 1
        event = make(leg)
        self.events.append(event)
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
            reason = "timeout" if isinstance(event, ev.Timeout) else "transport-error"
            self._end_dialog(leg, ctx.dialog, reason, now)
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
        supported = self._supported if rel100 != "none" else self._supported_no_rel
        if supported:
            extra.append(("Supported", supported))
        if rel100 == "required":
            extra.append(("Require", "100rel"))
        headers = list(headers)
        given = names_of(headers)
        if self._timer_on and "session-expires" not in given:
            policy = self.config.session_timer
            if session_expires is not None:
                if session_expires < st.ABSOLUTE_MIN_SE:
                    raise LocalProtocolError(
                        f"session_expires={session_expires}: RFC 4028 allows no less than 90 s"
                    )
                policy = st.SessionTimerPolicy(session_expires, min(policy.min_se, session_expires))
            extra.extend(st.request_headers(policy, None))
        extra.append(("Allow", self._allow))
        leg = self._new_handle("uac")
        leg.auto_ack = auto_ack
        leg.offer = bool(body) and content_type == "application/sdp"
        try:
            txn = self._send_new(leg, "INVITE", uri, from_uri, to, body, content_type,
                                 [*extra, *headers], dest, now, (call_id, from_tag, cseq),
                                 given)
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
        now = self._at(now)
        method = sys.intern(method.upper())  # one shared string: lingering transactions keep it
        if handle is None:
            if method in ("INVITE", "ACK", "CANCEL") or method in DIALOG_ONLY:
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

    def _leg(self, handle: str) -> Leg:
        leg = self._legs.get(handle)
        if leg is None:
            raise LocalProtocolError(f"unknown or released handle {handle!r}")
        return leg

    def _dialog_for(self, leg: Leg, remote_tag: str | None) -> Dialog:
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
        leg: Leg,
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
        given: frozenset[str] | None = None,
    ) -> ClientTransaction:
        """Send ``method`` outside any dialog; ``given``: the names among the
        application's ``headers`` when the caller already has them (``headers``
        may then hold core fields too, none a Contact, User-Agent or Content-Type)."""
        now = self._at(now)
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
        branch = self._branch()
        fields: list[tuple[str, str]] = [
            ("Via", self._via(local, branch)),
            ("Max-Forwards", str(self.config.max_forwards)),
            ("From", f"{angle(from_uri)};tag={leg.local_tag}"),
            ("To", angle(to or uri)),
            ("Call-ID", call_id or self._hex(96)),
            ("CSeq", f"{cseq if cseq is not None else self._initial_seq()} {method}"),
        ]
        if given is None:
            given = names_of(headers)
        if method in TARGET_REFRESH and "contact" not in given:
            fields.append(("Contact", self._contact(local)))
        if self.config.user_agent and "user-agent" not in given:
            fields.append(("User-Agent", self.config.user_agent))
        fields.extend(headers)
        if body and "content-type" not in given:
            fields.append(("Content-Type", content_type))
        request = Request(method, uri.strip("<>"), Headers(fields), body)
        txn = self.layer.send_request(request, dest, now, branch=branch)
        if not txn.terminated:
            txn.user_data = ClientCtx(leg, None, leg.offer)
            leg.clients += 1
        else:  # transport error already reported to on_transport_error with no ctx
            self.events.append(ev.TransportError(leg.handle, method))
            self._maybe_release(leg)
        return txn

    def _send_in_dialog(
        self,
        leg: Leg,
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
            if method == "BYE":
                self._end_dialog(leg, dialog, "transport-error", now)
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
        headers = list(headers)
        given = names_of(headers)
        if usage is not None and (method == "INVITE" or method == "UPDATE"):
            if self._options:
                extra.append(("Supported", self._supported))
            if self._timer_on and "session-expires" not in given:
                extra.extend(st.request_headers(self.config.session_timer, usage.timer))
        local = self._local_for(dest)
        refresh = method in TARGET_REFRESH and "contact" not in given
        contact = self._contact(local) if refresh else None
        if self.config.user_agent and "user-agent" not in given:
            extra.append(("User-Agent", self.config.user_agent))
        extra.extend(headers)
        if body and "content-type" not in given:
            extra.append(("Content-Type", content_type))
        seq = dialog.next_local_seq(self._initial_seq())
        branch = self._branch()
        request = dialog.build_request(
            method, seq, self._via(local, branch), max_forwards=self.config.max_forwards,
            contact=contact, extra=extra, body=body,
        )
        if usage is not None:
            if method == "INVITE":
                usage.out_invite = True
                usage.oa_done = False
            if method in ("INVITE", "UPDATE", "PRACK"):
                usage.sent(sdp)
        txn = self.layer.send_request(request, dest, now, branch=branch)
        if txn.terminated:
            self.events.append(ev.TransportError(leg.handle, method))
            if usage is not None and method == "INVITE":
                usage.out_invite = False
            if method == "BYE":
                self._end_dialog(leg, dialog, "transport-error", now)
            return
        txn.user_data = ClientCtx(leg, dialog, sdp)
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
        now = self._at(now)
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
        now = self._at(now)
        leg = self._leg(handle)
        if leg.role != "uac" or leg.invite_txn is None:
            return False
        if leg.cancel_sent or leg.cancel_pending:
            return True
        if leg.invite_txn.last_status is None:
            leg.cancel_pending = True
            return True
        self._send_cancel(leg, now)
        return True

    def _send_cancel(self, leg: Leg, now: float) -> None:
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
            ctxn.user_data = ClientCtx(leg, None, False)
            leg.clients += 1

    # ==================================================================
    # session timers (RFC 4028), UAC side
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
