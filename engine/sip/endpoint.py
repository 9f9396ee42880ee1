"""``SipEndpoint``: the one sans-I/O object a driver runs (h11 style).

Rules:

- Drivers (asyncio UDP/TCP, the loopback network) use four methods:
  ``receive(data, source, now)`` for one datagram or one framed stream
  message, ``handle_timers(now)``, ``next_deadline()`` and
  ``take_transmits()``, plus the optional ``transport_failed(peer, now)``.
  Nothing here opens sockets, sleeps, starts threads or reads a clock;
  ``now`` is always an argument.
- The application (issue 12's backend, or a test) uses ``take_events()`` and
  the methods ``invite``, ``respond``, ``ack``, ``cancel``, ``request``,
  ``pending_invite`` and ``dialog``. Those take ``now`` as an optional
  keyword (it becomes the endpoint's current time); when omitted they use the
  last ``now`` the endpoint saw. Call ``take_transmits()`` after them.
- Bad bytes never raise: a parse error with a status gets that response
  (400, 505, 513 …, with a ``Warning`` naming the problem) sent back to the
  source; status 0 (no answer possible) and malformed responses are dropped
  with a log line. Only our own misuse raises (``LocalProtocolError``).
- RFC 3581: every request's top Via gets ``received`` (when the source host
  differs from sent-by, or ``rport`` is present) and ``rport`` filled in;
  responses go back to the address the request came from.

Theory of operation: bytes → ``parse_message`` → the transaction layer
(``sipflow.sip.transaction``) → the UA core (``sipflow.sip.ua``: dialogs,
100rel, UPDATE, session timers) → events. Everything either sends goes
through one ``send`` callback into the transmit queue the driver empties.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from sipflow.sip import events as ev
from sipflow.sip.dialog import Dialog
from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.message import Request
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.types import Address, Transmit
from sipflow.sip.ua import HeaderList, UACore
from sipflow.sip.ua_config import EndpointConfig

__all__ = ["SipEndpoint", "EndpointConfig"]

log = logging.getLogger("sipflow.sip.endpoint")

MAX_PEERS_KEPT = 4096
"""Peer addresses shared between messages (see ``SipEndpoint.receive``); past
this many the table starts again (a bound, not a cache policy)."""


class SipEndpoint:
    """A SIP user agent without I/O: feed it bytes and time, take what to send.

    ``local`` are the listening addresses (Via sent-by and Contact are chosen
    among them by the destination's transport and address family); ``rng``
    any object with ``getrandbits`` (default: a ``random.SystemRandom``) —
    pass ``random.Random(seed)`` for reproducible tags, branches and Call-IDs.
    """

    def __init__(
        self,
        local: Address | Sequence[Address],
        config: EndpointConfig | None = None,
        rng: Any = None,
    ) -> None:
        addresses = (local,) if isinstance(local, Address) else tuple(local)
        if not addresses:
            raise ValueError("SipEndpoint needs at least one local address")
        for addr in addresses:
            if not isinstance(addr, Address) or addr.transport not in ("udp", "tcp"):
                raise ValueError(f"SipEndpoint: {addr!r} is not a udp/tcp Address")
        self.local: tuple[Address, ...] = addresses
        self.config = config if config is not None else EndpointConfig()
        self._transmits: list[Transmit] = []
        # One Address object per peer: a UDP driver builds a new one (and a new
        # host string) per datagram, and each lingering server transaction
        # keeps its source for 32 s (~150 B a transaction saved; bounded).
        self._peers: dict[Address, Address] = {}
        self.core = UACore(addresses, self.config, rng or random.SystemRandom(), self._queue)

    def _queue(self, data: bytes, dest: Address) -> None:
        self._transmits.append(Transmit(data, dest))

    # ------------------------------------------------------------------
    # driver side
    # ------------------------------------------------------------------

    def receive(self, data: bytes, source: Address, now: float) -> None:
        """Handle one datagram or one framed stream message from ``source``."""
        self.core.now = now
        peers = self._peers
        known = peers.get(source)
        if known is None:
            if len(peers) >= MAX_PEERS_KEPT:
                peers.clear()
            peers[source] = source
        else:
            source = known
        try:
            message = parse_message(data)
        except RemoteProtocolError as exc:
            self._answer_parse_error(exc, source)
            return
        try:
            if isinstance(message, Request):
                _stamp_via(message, source)
                self.core.layer.receive_request(message, source, now)
            else:
                self.core.layer.receive_response(message, source, now)
        except RemoteProtocolError as exc:
            # A header the layer needed lazily was malformed; answer if we can.
            log.info("bad message from %s: %s", source, exc.reason)
            if isinstance(message, Request) and message.method != "ACK" and exc.status:
                self._answer(message, exc.status, exc.reason, source)

    def handle_timers(self, now: float) -> None:
        """Fire every timer due at ``now`` (transactions and the UA core)."""
        self.core.handle_timers(now)

    def next_deadline(self) -> float | None:
        """When ``handle_timers`` should next run, or None when idle."""
        return self.core.next_deadline()

    def transport_failed(self, peer: Address, now: float) -> None:
        """The driver learnt late that ``peer`` cannot be reached (e.g. a refused
        TCP connection): every transaction towards it ends with a transport
        error (``TransportError`` events for the requests we sent)."""
        self.core.now = now
        self.core.layer.transport_failed(peer, now)

    def take_transmits(self) -> list[Transmit]:
        """Everything to send since the last call, in order."""
        out, self._transmits = self._transmits, []
        return out

    def _answer_parse_error(self, exc: RemoteProtocolError, source: Address) -> None:
        message = getattr(exc, "message", None)
        if exc.status == 0 or not isinstance(message, Request) or message.method == "ACK":
            log.info("dropped unparseable message from %s: %s", source, exc.reason)
            return
        self._answer(message, exc.status, exc.reason, source)

    def _answer(self, request: Request, status: int, reason: str, source: Address) -> None:
        try:
            response = make_response(request, status)
            text = reason.replace("\\", "\\\\").replace('"', '\\"')[:200]
            response.headers.add("Warning", f'399 sipflow "{text}"')
            to = response.headers.get("To")
            if to is not None and ";tag=" not in to:
                response.headers.set("To", f"{to};tag={self.core._hex(48)}")
            self._queue(response.serialize(), source)
        except Exception as err:  # noqa: BLE001 - a broken request must never take us down
            log.info("could not answer a bad request from %s: %s", source, err)

    # ------------------------------------------------------------------
    # application side
    # ------------------------------------------------------------------

    def take_events(self) -> list[ev.UAEvent]:
        """Every event since the last call, in order (``sipflow.sip.events``)."""
        out, self.core.events = self.core.events, []
        return out

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
        """Send an INVITE to ``uri`` (outside any dialog) and return its handle.

        ``dest`` overrides where it goes (default: the URI's host, port and
        ``transport`` parameter — no DNS here). ``rel100``: ``"none"``,
        ``"supported"`` (default) or ``"required"``. ``session_expires`` asks
        for a session timer (RFC 4028) when ``timer`` is supported.
        ``auto_ack=False`` leaves the ACK of the 2xx to ``ack()`` (to carry an
        SDP answer after an offer in the 2xx). ``call_id``, ``from_tag`` and
        ``cseq`` reuse identifiers: retry after 401/407 with the same Call-ID
        and From tag and CSeq + 1 (RFC 3261 §22.2), plus ``Authorization``.
        """
        return self.core.invite(
            uri, from_uri=from_uri, to=to, body=body, content_type=content_type,
            headers=headers, dest=dest, rel100=rel100, session_expires=session_expires,
            auto_ack=auto_ack, call_id=call_id, from_tag=from_tag, cseq=cseq, now=now,
        )

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
        """Answer the request ``request_id`` of a ``RequestReceived`` event.

        The core adds the To tag, Contact, Record-Route, ``Allow``/``Supported``
        and session-timer headers where the RFCs want them, and keeps
        retransmitting a 2xx to INVITE until its ACK. ``reliable=True`` sends a
        101-199 as a reliable provisional (RFC 3262: ``Require: 100rel``,
        ``RSeq``, retransmitted until PRACK); it raises ``LocalProtocolError``
        when the peer did not offer 100rel — answer 421 with
        ``Require: 100rel`` instead, if the table requires it.
        """
        self.core.respond(
            request_id, status, reason, headers=headers, body=body,
            content_type=content_type, reliable=reliable, now=now,
        )

    def ack(
        self,
        handle: str,
        *,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: HeaderList = (),
        now: float | None = None,
    ) -> None:
        """ACK the 2xx of an INVITE sent with ``auto_ack=False``."""
        self.core.ack(handle, body=body, content_type=content_type, headers=headers, now=now)

    def cancel(self, handle: str, *, now: float | None = None) -> bool:
        """CANCEL the INVITE of ``handle`` (deferred until a provisional arrives,
        RFC 3261 §9.1). False when a final response already arrived."""
        return self.core.cancel(handle, now=now)

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
        """Send ``method`` (BYE, re-INVITE as ``INVITE``, UPDATE, PRACK, INFO,
        OPTIONS, MESSAGE …) in the dialog of ``handle``; ``dialog`` picks an
        early dialog by remote tag when forked. With ``handle=None`` the request
        goes outside any dialog to ``uri`` and a new handle is returned.
        PRACK gets its ``RAck`` from the last reliable provisional; INVITE and
        UPDATE get ``Contact``, ``Supported`` and session-timer headers."""
        return self.core.request(
            handle, method, uri=uri, from_uri=from_uri, to=to, body=body,
            content_type=content_type, headers=headers, dest=dest, dialog=dialog,
            call_id=call_id, from_tag=from_tag, cseq=cseq, now=now,
        )

    def pending_invite(self, handle: str) -> str | None:
        """The request id of the INVITE ``handle`` has not finally answered yet
        (answer it with 487 after a CANCEL), or None."""
        return self.core.pending_invite(handle)

    def dialog(self, handle: str) -> Dialog | None:
        """The confirmed (else the latest early) dialog of ``handle``, or None:
        Call-ID, tags, From/To values, CSeqs, route set, remote target. Read it;
        do not change it."""
        return self.core.dialog_of(handle)

    def counts(self) -> dict[str, int]:
        """Live handles, dialogs, pending requests, core timers and
        transactions: all zero (or absent) when the endpoint is idle."""
        return self.core.counts()

    def answering(self) -> int:
        """Transactions that may still answer a peer's retransmission (see
        ``TransactionLayer.answering``): 0 means exiting now leaves no peer unanswered."""
        return self.core.layer.answering()


def _stamp_via(request: Request, source: Address) -> None:
    """RFC 3581 / RFC 3261 §18.2.1: record the source in the top Via."""
    via = request.top_via
    rport = via.has_rport
    if not rport and via.host == source.host:
        return
    # The top Via was just built for this message by the parser's accessor
    # (nobody else holds it): stamp it in place instead of copying it.
    stamped = via
    params = stamped.params
    plain = rport and params["rport"] is None and "received" not in params
    params["received"] = source.host
    if rport:
        params["rport"] = str(source.port)
    # The common case (a bare ";rport" last, no "received"): append to the text
    # as written instead of writing the whole Via again.
    text = request.headers.get("Via") if plain else None
    if text is not None and text.endswith(";rport") and "," not in text:
        text = f"{text}={source.port};received={source.host}"
    else:
        text = str(stamped)
    request._replace_top_via(text, stamped)
