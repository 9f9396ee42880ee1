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
(``"c1"`` …) and a ``Leg`` record; a leg owns at most one confirmed ``Dialog``
(and, as UAC, the early dialogs of its forks). Incoming requests are checked
(method, URI scheme, Max-Forwards, Require, Session-Expires), then matched to
a dialog by tags; those the application must answer get a request id
(``"r7"``) in their ``RequestReceived`` event. Responses reach the leg through
``txn.user_data``. The core's own timers (2xx, 100rel, session timer, ACK
keep-alive) live in one ``DeadlineHeap``. A leg is released (``HandleReleased``)
once no dialog, transaction or timer refers to it.

Layout: this module holds ``UACore`` itself (identifiers, addresses, the
core's timers, session-timer scheduling, lifetime and introspection);
``ua_server`` the UAS side (incoming requests, ``respond``, 2xx and 100rel
retransmission), ``ua_client`` the UAC side (``invite``, ``request``,
``ack``, ``cancel``, responses, forking); ``ua_state`` the records they share.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sipflow.sip import events as ev
from sipflow.sip import session_timer as st
from sipflow.sip.deadlines import Deadline, DeadlineHeap
from sipflow.sip.dialog import Dialog, DialogStore, InviteUsage
from sipflow.sip.headers import CSeq
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response
from sipflow.sip.transaction import ServerTransaction, TransactionLayer
from sipflow.sip.types import Address
from sipflow.sip.ua_client import ClientSide
from sipflow.sip.ua_config import EndpointConfig
from sipflow.sip.ua_server import ServerSide
from sipflow.sip.ua_state import HeaderList, Leg, MergeKey, resolve_uri, set_to_tag, txn_rid

__all__ = ["UACore", "HeaderList"]

log = logging.getLogger("sipflow.sip.ua")


class UACore(ServerSide, ClientSide):
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
        self._legs: dict[str, Leg] = {}
        self._requests: dict[str, ServerTransaction] = {}
        self._ongoing: dict[tuple[str, str, CSeq], str] = {}  # merged-request check (482)
        self._answer_by: dict[str, Deadline] = {}  # non-INVITE requests not yet answered
        self._next_handle = 0
        self._next_rid = 0
        self._allow = ", ".join(config.allow)
        self._supported = ", ".join(config.supported)
        self._supported_no_rel = ", ".join(o for o in config.supported if o != "100rel")
        self._allowed = frozenset(config.allow) | {"ACK", "CANCEL"}
        self._options = frozenset(config.supported)
        self._timer_on = "timer" in self._options
        self._rel_on = "100rel" in self._options
        # Fixed per endpoint: the Server field and what every 2xx to INVITE
        # advertises (RFC 3261 §13.3.1.4, RFC 3262/4028 option tags).
        self._server = config.user_agent or None
        self._capabilities: tuple[tuple[str, str], ...] = (("Allow", self._allow),)
        if self._options:
            self._capabilities += (("Supported", self._supported),)
        self._contacts: dict[Address, str] = {}
        self._via_prefixes: dict[Address, str] = {}
        self._resolved: dict[tuple[str, str], Address] = {}

    # ==================================================================
    # identifiers
    # ==================================================================

    def _at(self, now: float | None) -> float:
        """The time of an application call: ``now`` when given (it becomes the
        core's current time), else the last time the core saw."""
        if now is not None:
            self.now = now
        return self.now

    def _hex(self, bits: int) -> str:
        return format(self.rng.getrandbits(bits), "x")

    def _new_handle(self, role: str) -> Leg:
        self._next_handle += 1
        leg = Leg(f"c{self._next_handle}", role)
        leg.auto_ack = self.config.auto_ack
        self._legs[leg.handle] = leg
        return leg

    def _register_request(
        self, txn: ServerTransaction, leg: Leg, merge: MergeKey | None = None
    ) -> str:
        """Give ``txn`` a request id; ``merge``: its ``merge_key`` when it came
        outside a dialog (kept in ``_ongoing`` until it is finally answered)."""
        self._next_rid += 1
        rid = f"r{self._next_rid}"
        txn.user_data = (leg, rid)
        self._requests[rid] = txn
        leg.requests += (rid,)
        if merge is not None:
            self._ongoing[merge] = rid
            leg.merge_key = merge
        if not txn.is_invite:
            # RFC 3261 §17.1.2.2: the peer gives up after 64*T1 (Timer F).
            when = self.now + 64 * self.config.timers.t1
            self._answer_by[rid] = self.timers.schedule(when, "unanswered", rid)
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

    def _branch(self) -> str:
        """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
        return "z9hG4bK" + self._hex(64)

    def _via(self, local: Address, branch: str | None = None) -> str:
        """Our Via for a request sent from ``local`` (a fresh branch unless given)."""
        prefix = self._via_prefixes.get(local)
        if prefix is None:
            host = f"[{local.host}]" if ":" in local.host else local.host
            prefix = f"SIP/2.0/{local.transport.upper()} {host}:{local.port};branch="
            self._via_prefixes[local] = prefix
        if branch is None:
            branch = self._branch()
        return f"{prefix}{branch};rport"

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
            found = resolve_uri(uri, default_transport)
            if len(self._resolved) >= 4096:
                self._resolved.clear()
            self._resolved[key] = found
        return found

    def _send(self, message: Request | Response, dest: Address) -> None:
        try:
            self.layer.send_stateless(message, dest)
        except OSError as exc:  # the driver reports; a stateless send just fails
            log.warning("could not send %s to %s: %s", message.start_line(), dest, exc)

    def _send_wire(self, wire: bytes, dest: Address) -> None:
        try:
            self.layer.send(wire, dest)
        except OSError as exc:
            log.warning("could not send to %s: %s", dest, exc)

    # ==================================================================
    # session timers (RFC 4028)
    # ==================================================================

    def _set_session_timer(self, dialog: Dialog, timer: st.SessionTimer | None) -> None:
        usage = dialog.invite
        if usage is None:
            return
        self._stop_session_timer(usage)
        usage.timer = timer
        if timer is None:
            return
        now = self.now
        if timer.we_refresh:
            usage.refresh_at = self.timers.schedule(now + timer.refresh_after, "st-refresh", dialog)
        usage.expire_at = self.timers.schedule(now + timer.expire_after, "st-expire", dialog)

    @staticmethod
    def _stop_session_timer(usage: InviteUsage) -> None:
        if usage.refresh_at is not None:
            usage.refresh_at.cancel()
            usage.refresh_at = None
        if usage.expire_at is not None:
            usage.expire_at.cancel()
            usage.expire_at = None

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

    def _answer_late(self, rid: str, now: float) -> None:
        """A non-INVITE request the application never answered: by now the
        peer's Timer F has fired; answer 500 so nothing is left behind."""
        self._answer_by.pop(rid, None)
        txn = self._requests.get(rid)
        if txn is None:
            return
        log.warning("%s %s was not answered within 64*T1: sent 500", txn.method, rid)
        self.respond(rid, 500, "Not Answered In Time", now=now)

    def _fire(self, deadline: Deadline, now: float) -> None:
        kind = deadline.kind
        if kind == "trying":
            self._send_trying(deadline.target, now)
            return
        if kind == "unanswered":
            self._answer_late(deadline.target, now)
            return
        dialog: Dialog = deadline.target
        usage = dialog.invite
        if usage is None:
            return
        if kind == "2xx":
            pending = usage.pending_2xx
            if pending is None:
                return
            if now >= pending.give_up_at:  # 64*T1 without the ACK
                self._stop_2xx(usage)
                self.events.append(ev.AckTimeout(dialog.handle))
                return
            self._send_wire(pending.bytes(), pending.dest)
            pending.interval = min(pending.interval * 2, self.config.timers.t2)
            when = min(now + pending.interval, pending.give_up_at)
            pending.retx = self.timers.schedule(when, "2xx", dialog)
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

    def _request_done(self, leg: Leg, rid: str) -> None:
        """``rid`` is finally answered (or failed). Its transaction may linger
        for 32 s; it then keeps, as ``user_data``, only our To tag (for the 200
        of a CANCEL that comes late, see ``_on_cancel``) instead of the leg,
        so a finished leg is freed at once (~800 B a call)."""
        txn = self._requests.pop(rid, None)
        late = self._answer_by.pop(rid, None)
        if late is not None:
            late.cancel()
        key = leg.merge_key
        if key is not None and self._ongoing.get(key) == rid:
            del self._ongoing[key]
            leg.merge_key = None
        if txn is not None:
            if txn.is_invite:
                if leg.trying is not None:
                    leg.trying.cancel()
                    leg.trying = None
                txn.user_data = leg.local_tag
            else:
                txn.user_data = None
        requests = leg.requests
        if requests == (rid,):  # the usual case: its only pending request
            leg.requests = ()
        elif rid in requests:
            leg.requests = tuple(r for r in requests if r != rid)
        if rid == leg.invite_rid:
            leg.invite_rid = None  # answered: only a pending INVITE's id is ever looked up

    def _drop_dialog(self, dialog: Dialog) -> None:
        usage = dialog.invite
        if usage is not None:
            self._stop_usage_timers(usage)
        self.dialogs.remove(dialog)
        dialog.terminate()

    def _stop_usage_timers(self, usage: InviteUsage) -> None:
        self._stop_2xx(usage)
        self._drop_reliable(usage)
        self._stop_session_timer(usage)
        if usage.ack_wire is not None:
            usage.ack_wire[3].cancel()
            usage.ack_wire = None

    def _end_dialog(self, leg: Leg, dialog: Dialog, reason: str, now: float) -> None:
        if not dialog.alive:
            return
        was_confirmed = dialog.confirmed
        # RFC 3261 §15.1.2: pending requests of the dialog get 487.
        for rid in list(leg.requests):
            txn = self._requests.get(rid)
            if txn is not None and txn.is_invite and (
                (txn.last_status or 0) < 200
            ):
                if dialog.invite is not None:
                    self._drop_reliable(dialog.invite)
                response = make_response(txn.request, 487)
                if txn.request.to_tag is None:
                    set_to_tag(response, leg.local_tag)
                self._respond_txn(txn, response, now)
                self._request_done(leg, rid)
        self._drop_dialog(dialog)
        if leg.dialog is dialog:
            leg.dialog = None
        if leg.early and leg.early.get(dialog.remote_tag) is dialog:
            del leg.early[dialog.remote_tag]
        if was_confirmed:
            self.events.append(ev.DialogTerminated(leg.handle, reason))
        self._maybe_release(leg)

    def _maybe_release(self, leg: Leg) -> None:
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
