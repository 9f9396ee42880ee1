"""Dialogs (RFC 3261 §12): identity, CSeqs, route set, remote target, usages.

Rules:

- A ``Dialog`` keeps what later requests need — Call-ID, tags, the From/To
  values, local and remote CSeq, the route set, the remote target, the secure
  flag — as short strings and ints, never parsed messages. An idle confirmed
  dialog costs well under 2 KiB (``tests/sip/test_dialog_memory.py``).
- A dialog is identified by ``(Call-ID, local tag, remote tag)``; ``DialogStore``
  finds it for in-dialog requests (To tag = local tag, From tag = remote tag)
  and for responses to our requests.
- Usages (RFC 5057): the INVITE usage lives in ``Dialog.invite`` (offer/answer,
  100rel, session timer and pending-transaction state, all in ``InviteUsage``);
  later usages (subscriptions, RFC 6665) go in ``Dialog.others`` keyed by
  (event, id). A dialog ends when its last usage ends (``alive``).
- This module builds in-dialog requests (§12.2.1.1) but sends nothing and
  keeps no clock; ``sipflow.sip.ua`` does both.

Theory of operation: the UAC side creates an early dialog from each 1xx with a
new To tag (``Dialog.from_uac``; forking gives several, keyed by their remote
tags) and confirms one on the first 2xx. The UAS side creates its dialog when
it receives the INVITE (``Dialog.from_uas``; the local tag is chosen then and
the peer cannot use it before our first response). Target refresh requests
and their 2xx replace ``remote_target``; the route set is fixed at creation
(Record-Route reversed for the UAC, as received for the UAS; loose routing).
"""

from __future__ import annotations

from typing import Any

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.message import Headers, Request, Response
from sipflow.sip.reliable import ReliableReceiver, ReliableSender
from sipflow.sip.session_timer import SessionTimer

__all__ = ["Dialog", "DialogStore", "InviteUsage", "DialogKey", "has_sdp", "contact_uri"]

DialogKey = tuple[str, str, str]
"""(Call-ID, local tag, remote tag)."""

EARLY = "early"
CONFIRMED = "confirmed"
TERMINATED = "terminated"

_NO_ROUTES: tuple[str, ...] = ()


def contact_uri(message: Request | Response) -> str | None:
    """The URI of the first Contact, as text, or None when there is none.

    The common ``<uri>;params`` and bare ``uri`` forms are cut out of the text
    directly; anything unusual goes through the full name-addr parser (which
    raises ``RemoteProtocolError`` when malformed)."""
    raw = message.headers.get("Contact")
    if raw is None:
        return None
    start = raw.find("<")
    if start >= 0 and '"' not in raw[:start]:
        end = raw.find(">", start)
        if end > start + 1:
            return raw[start + 1 : end]
    elif start < 0 and "," not in raw and '"' not in raw and raw.strip() != "*":
        return raw.partition(";")[0].strip() or None
    contacts = message.contact
    return str(contacts[0].uri) if contacts else None


def has_sdp(message: Request | Response) -> bool:
    """True when ``message`` carries a session description (a body whose
    Content-Type is ``application/sdp``); offer/answer tracking relies on it."""
    if not message.body:
        return False
    try:
        return message.content_type == "application/sdp"
    except RemoteProtocolError:
        return False


class InviteUsage:
    """The INVITE usage of a dialog (RFC 5057): offer/answer state, pending
    INVITE transactions, reliable provisionals, the session timer.

    ``local_offer``/``remote_offer``: an offer sent/received and not yet
    answered (RFC 3264; drives 491 and 500 for glare, RFC 3261 §14.2 and
    RFC 3311 §5.2). ``out_invite``/``in_invite``: an INVITE we sent/received
    on this dialog has no final response yet. ``oa_done``: the current INVITE's
    offer/answer already completed (a later 2xx body repeats the answer).
    """

    __slots__ = (
        "local_offer",
        "remote_offer",
        "out_invite",
        "in_invite",
        "oa_done",
        "rel_rx",
        "rel_tx",
        "rel_timer",
        "timer",
        "refresh_at",
        "expire_at",
        "pending_2xx",
        "ack_wire",
    )

    def __init__(self) -> None:
        self.local_offer = False
        self.remote_offer = False
        self.out_invite = False
        self.in_invite = False
        self.oa_done = False
        self.rel_rx: ReliableReceiver | None = None
        self.rel_tx: ReliableSender | None = None
        self.rel_timer: Any = None  # Deadline of the next 100rel retransmission/give-up
        self.timer: SessionTimer | None = None
        self.refresh_at: Any = None  # Deadline of the refresh (we are refresher)
        self.expire_at: Any = None  # Deadline of the expiry
        self.pending_2xx: Any = None  # our 2xx waiting for its ACK (ua._Pending2xx)
        self.ack_wire: Any = None  # (cseq, bytes, dest, Deadline) of our last ACK for re-ACK

    def sent(self, has_body: bool) -> None:
        """We sent an SDP body: an answer if an offer was waiting, else an offer."""
        if has_body:
            if self.remote_offer:
                self.remote_offer = False
            else:
                self.local_offer = True

    def received(self, has_body: bool) -> None:
        """We received an SDP body: an answer if we had offered, else an offer."""
        if has_body:
            if self.local_offer:
                self.local_offer = False
            else:
                self.remote_offer = True


class Dialog:
    """One dialog (see the module rules). ``handle`` is the UA core's handle of
    the call leg that owns it."""

    __slots__ = (
        "call_id",
        "local_tag",
        "remote_tag",
        "local_party",
        "remote_party",
        "local_seq",
        "remote_seq",
        "route_set",
        "remote_target",
        "secure",
        "state",
        "handle",
        "invite",
        "others",
    )

    def __init__(
        self,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_party: str,
        remote_party: str,
        local_seq: int | None,
        remote_seq: int | None,
        route_set: tuple[str, ...],
        remote_target: str,
        secure: bool,
        handle: str,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_party = local_party
        """The From value of our requests, with our tag."""
        self.remote_party = remote_party
        """The To value of our requests, with the peer's tag (once known)."""
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.route_set = route_set or _NO_ROUTES
        self.remote_target = remote_target
        self.secure = secure
        self.state = EARLY
        self.handle = handle
        self.invite: InviteUsage | None = InviteUsage()
        self.others: dict[Any, Any] | None = None

    # -- creation ---------------------------------------------------------------

    @classmethod
    def from_uac(
        cls, request: Request, response: Response, handle: str, local_tag: str | None = None
    ) -> Dialog:
        """The UAC's dialog from our ``request`` and a 1xx/2xx ``response``
        carrying a To tag (§12.1.2); ``local_tag``: our From tag when the
        caller knows it (else read from the request). Raises
        ``RemoteProtocolError`` for a malformed Contact or Record-Route."""
        routes, target = uac_route_and_target(request, response)
        return cls(
            request.call_id,
            local_tag if local_tag is not None else request.from_tag or "",
            response.to_tag or "",
            request.headers.get("From") or "",
            response.headers.get("To") or "",
            request.cseq.seq,
            None,
            routes,
            target,
            request.uri.lower().startswith("sips:"),
            handle,
        )

    @classmethod
    def from_uas(cls, request: Request, local_tag: str, handle: str) -> Dialog:
        """The UAS's dialog for ``request`` with our ``local_tag`` (§12.1.1);
        raises ``RemoteProtocolError`` for a malformed Contact or Record-Route."""
        routes = _routes(request, reverse=False)
        target = contact_uri(request)
        if target is None:
            raise RemoteProtocolError(f"{request.method} request: missing Contact header")
        to_value = request.headers.get("To") or ""
        return cls(
            request.call_id,
            local_tag,
            request.from_tag or "",
            f"{to_value};tag={local_tag}",
            request.headers.get("From") or "",
            None,
            request.cseq.seq,
            routes,
            target,
            request.uri.lower().startswith("sips:"),
            handle,
        )

    # -- identity ---------------------------------------------------------------

    @property
    def key(self) -> DialogKey:
        """(Call-ID, local tag, remote tag)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @property
    def alive(self) -> bool:
        """True while some usage remains (RFC 5057)."""
        return self.state != TERMINATED and (self.invite is not None or bool(self.others))

    @property
    def confirmed(self) -> bool:
        """True once a 2xx established the dialog."""
        return self.state == CONFIRMED

    def confirm(self) -> None:
        """Move to the confirmed state (a 2xx was sent or received)."""
        self.state = CONFIRMED

    def terminate(self) -> None:
        """End the dialog and all its usages."""
        self.state = TERMINATED
        self.invite = None
        self.others = None

    # -- updates from messages ----------------------------------------------------

    def refresh_target(self, message: Request | Response) -> None:
        """Replace the remote target with the message's Contact, when it has one
        (target refresh, §12.2). Raises ``RemoteProtocolError`` if malformed."""
        target = contact_uri(message)
        if target is not None:
            self.remote_target = target

    def check_remote_cseq(self, request: Request) -> bool:
        """Record the CSeq of an in-dialog request from the peer; False when it
        is lower than or equal to the last one (§12.2.2: answer 500)."""
        seq = request.cseq.seq
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def next_local_seq(self, initial: int) -> int:
        """The CSeq number of our next in-dialog request (``initial`` when we
        never sent one, §12.2.1.1)."""
        self.local_seq = initial if self.local_seq is None else self.local_seq + 1
        return self.local_seq

    # -- building requests --------------------------------------------------------

    def next_hop_uri(self) -> str:
        """The URI to send to: the first route (loose routing) or the remote target."""
        if self.route_set:
            text = self.route_set[0]
            start, end = text.find("<"), text.find(">")
            return text[start + 1 : end] if start >= 0 and end > start else text
        return self.remote_target

    def build_request(
        self,
        method: str,
        seq: int,
        via: str,
        *,
        max_forwards: int = 70,
        contact: str | None = None,
        extra: Any = (),
        body: bytes = b"",
    ) -> Request:
        """An in-dialog request (§12.2.1.1): Request-URI = remote target, Route =
        route set, From/To/Call-ID of the dialog, CSeq ``seq method``, ``via`` as
        the only Via, ``contact`` when given (target refresh requests), then the
        ``extra`` (name, value) headers and the body."""
        fields: list[tuple[str, str]] = [("Via", via)]
        if self.route_set:
            fields.append(("Route", ", ".join(self.route_set)))
        fields.append(("Max-Forwards", str(max_forwards)))
        fields.append(("From", self.local_party))
        fields.append(("To", self.remote_party))
        fields.append(("Call-ID", self.call_id))
        fields.append(("CSeq", f"{seq} {method}"))
        if contact is not None:
            fields.append(("Contact", contact))
        fields.extend(extra)
        return Request(method, self.remote_target, Headers(fields), body)

    def __repr__(self) -> str:
        return f"<Dialog {self.state} {self.call_id} {self.local_tag}/{self.remote_tag}>"


def uac_route_and_target(request: Request, response: Response) -> tuple[tuple[str, ...], str]:
    """The UAC's route set and remote target from a 1xx/2xx ``response`` to our
    ``request`` (§12.1.2: Record-Route reversed; Contact, else the
    Request-URI); raises ``RemoteProtocolError`` for a malformed Contact or
    Record-Route. A 2xx recomputes these for an early dialog (§13.2.2.4)."""
    return _routes(response, reverse=True), contact_uri(response) or request.uri


def _routes(message: Request | Response, reverse: bool) -> tuple[str, ...]:
    """The Record-Route values as text (reversed for the UAC), validated."""
    if "record-route" not in message.headers:
        return _NO_ROUTES
    routes = [str(r) for r in message.record_route]
    if reverse:
        routes.reverse()
    return tuple(routes)


class DialogStore:
    """Every live dialog of one UA, by ``(Call-ID, local tag, remote tag)``."""

    __slots__ = ("_dialogs",)

    def __init__(self) -> None:
        self._dialogs: dict[DialogKey, Dialog] = {}

    def add(self, dialog: Dialog) -> None:
        """Register ``dialog`` (replacing one with the same key)."""
        self._dialogs[dialog.key] = dialog

    def remove(self, dialog: Dialog) -> None:
        """Forget ``dialog`` (no error if it is not there)."""
        if self._dialogs.get(dialog.key) is dialog:
            del self._dialogs[dialog.key]

    def find(self, call_id: str, local_tag: str | None, remote_tag: str | None) -> Dialog | None:
        """The dialog with these identifiers, or None."""
        return self._dialogs.get((call_id, local_tag or "", remote_tag or ""))

    def for_request(self, request: Request) -> Dialog | None:
        """The dialog an incoming request belongs to (To tag is ours)."""
        return self._dialogs.get((request.call_id, request.to_tag or "", request.from_tag or ""))

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self):
        return iter(list(self._dialogs.values()))
