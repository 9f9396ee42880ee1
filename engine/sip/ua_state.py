"""Records and helpers shared by the two sides of the UA core (``sipflow.sip.ua``).

Rules: plain data and pure functions. ``Leg`` is one handle's record,
``ClientCtx`` what one of our client transactions is for (``txn.user_data``),
``Pending2xx`` our 2xx waiting for its ACK; the helpers build small pieces of
messages. Nothing here sends, schedules or keeps global state.

A server transaction's ``user_data`` is ``(leg, request id)`` while the
request waits for its final answer; once answered (``UACore._request_done``)
it is our To tag (an INVITE: a late CANCEL still gets its 200 with it) or
``None``, so 32 s of lingering transactions do not keep finished legs alive.
A client transaction's ``ClientCtx`` is dropped once a non-INVITE is final.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipflow.sip import events as ev
from sipflow.sip.deadlines import Deadline
from sipflow.sip.dialog import Dialog
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.headers import CSeq
from sipflow.sip.message import COMPACT_FORMS, Request, Response
from sipflow.sip.transaction import ClientTransaction, ServerTransaction
from sipflow.sip.types import Address
from sipflow.sip.uri import SipUri

__all__ = [
    "HeaderList", "TARGET_REFRESH", "DIALOG_ONLY", "Leg", "ClientCtx", "Pending2xx",
    "resolve_uri", "txn_rid", "angle", "set_to_tag", "response_event",
    "names_of", "merge_key", "MergeKey",
]

HeaderList = Iterable[tuple[str, str]]
"""Extra (name, value) header fields for a message."""

MergeKey = tuple[str, str, CSeq]
"""(Call-ID, From tag, CSeq) of an out-of-dialog request (see ``merge_key``)."""

TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
"""Methods whose Contact refreshes the remote target (RFC 3261 §12.2, RFC 6665)."""

DIALOG_ONLY = frozenset({"BYE", "PRACK", "UPDATE", "INFO", "ACK"})
"""Methods that only make sense inside a dialog (481 without a To tag)."""


class Leg:
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
        "merge_key",
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
        self.requests: tuple[str, ...] = ()  # pending request ids (idle: the shared empty tuple)
        self.clients = 0
        self.released = False
        self.trying: Deadline | None = None  # the pending 100 Trying of an INVITE
        # ``merge_key`` of the out-of-dialog request that created the leg, while
        # it is in ``UACore._ongoing`` (the 482 check).
        self.merge_key: MergeKey | None = None


class ClientCtx:
    """What a client transaction of ours is for (``txn.user_data``)."""

    __slots__ = ("leg", "dialog", "offer", "final")

    def __init__(self, leg: Leg | None, dialog: Dialog | None, offer: bool) -> None:
        self.leg = leg
        self.dialog = dialog
        self.offer = offer
        self.final = False


class Pending2xx:
    """Our 2xx to an INVITE, retransmitted until its ACK (§13.3.1.4), for at
    most 64*T1 (``give_up_at``). The response is serialized again only if a
    retransmission is due (most ACKs arrive first). One core timer
    (``retx``) serves both: it fires for the next retransmission, or at
    ``give_up_at`` when that comes first."""

    __slots__ = ("response", "wire", "dest", "cseq", "interval", "give_up_at", "retx")

    def __init__(
        self, response: Response, dest: Address, cseq: int, interval: float, give_up_at: float
    ) -> None:
        self.response: Response | None = response
        self.wire: bytes | None = None
        self.dest = dest
        self.cseq = cseq
        self.interval = interval
        self.give_up_at = give_up_at
        self.retx: Deadline | None = None

    def bytes(self) -> bytes:
        """The 2xx as sent (serialized once, on the first retransmission)."""
        if self.wire is None:
            assert self.response is not None
            self.wire = self.response.serialize()
            self.response = None
        return self.wire


def resolve_uri(uri: str, default_transport: str) -> Address:
    """The transport address for ``uri`` (no DNS); ``LocalProtocolError`` when
    it is not a sip:/sips: URI we can send to."""
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


def angle(uri: str) -> str:
    """``uri`` in angle brackets (as a name-addr) unless it already is."""
    uri = uri.strip()
    return uri if "<" in uri else f"<{uri}>"


def set_to_tag(response: Response, tag: str) -> None:
    """Add ``tag`` to the response's To header unless it has one."""
    to = response.headers.get("To")
    if to is not None and ";tag=" not in to.replace(" ", "").lower():
        response.headers.set("To", f"{to};tag={tag}")


def response_event(
    leg: Leg, response: Response, method: str, reliable: bool, tag: str | None
) -> ev.ResponseReceived:
    """The ``ResponseReceived`` event for ``response`` on ``leg``."""
    return ev.ResponseReceived(
        leg.handle, response.status, response.reason, method, reliable, tag, response
    )


def names_of(headers: list[tuple[str, str]]) -> frozenset[str]:
    """The lower-case full names among application-supplied header fields (so
    the core does not add a second Contact, Content-Type, To …; compact
    forms expanded)."""
    if not headers:
        return _NO_NAMES
    return frozenset(COMPACT_FORMS.get(n.strip().lower(), n.strip().lower()) for n, _ in headers)


_NO_NAMES: frozenset[str] = frozenset()


def merge_key(request: Request) -> MergeKey:
    """(Call-ID, From tag, CSeq) of an out-of-dialog request: two requests
    with the same key but different transactions are a merged request
    (RFC 3261 §8.2.2.2, answered 482). The parsed CSeq (a tuple) is the key
    itself: no text built per request."""
    return (request.call_id, request.from_tag or "", request.cseq)
