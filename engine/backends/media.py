"""Offer/answer bookkeeping of one call leg for the backends (RFC 3264, 3262, 3311).

Rules:

* One ``CallMedia`` per call leg (handle), created on first use; it owns the
  leg's ``SdpSession`` and remembers what the backend needs to re-send an
  INVITE (after a 401/407 or a 3xx) and how the last answer went out.
* Bodies received are fed in as they arrive (``take``): an SDP body is our
  pending offer's answer when we have one outstanding, the same answer again
  (a 183 and then the 200), else the peer's offer. What happened goes into
  the event data: ``sdp`` (``offer``/``answer``), ``sdp_error`` (the status
  RFC 3264 suggests: 488 nothing acceptable, 491 glare, 500, 400 garbage)
  and ``hold``. An unacceptable offer is withdrawn at once, so the SDP state
  stays that of the last completed exchange and the table answers 488.
* Bodies sent are made on demand by name (``body``): the names are the
  ``body`` values of the ``Send*`` actions. A failed request of ours that
  carried an offer rolls it back (``failed``); an error response to the
  peer's offer rejects it (``rejected``).

Theory of operation: everything here is a mechanism; which body a message
carries is the table's choice.
"""

from __future__ import annotations

from typing import Any

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.offer_answer import MediaConfig, SdpSession

SDP = "application/sdp"


def sdp_body(message: Any) -> bytes | None:
    """The SDP body of ``message``, or None."""
    body = message.body
    if not body:
        return None
    content_type = message.content_type
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != SDP:
        return None
    return body


class CallMedia:
    """The offer/answer state and INVITE details of one call leg."""

    __slots__ = ("sdp", "invite", "answer_unreliable", "challenge", "early_answer")

    def __init__(self, config: MediaConfig) -> None:
        self.sdp = SdpSession(config)
        self.invite: dict[str, Any] | None = None
        """How our INVITE was sent (uri, from_uri, body, rel100 ...), for a retry."""
        self.answer_unreliable = False
        """Our last answer went out in an unreliable provisional: repeat it in the 2xx."""
        self.challenge: Any = None
        """The last 3xx/401/407 to our INVITE (for FollowRedirect and RetryWithCredentials)."""
        self.early_answer: bytes | None = None
        """The answer taken from a provisional response, until the final one."""

    # -- received -------------------------------------------------------------
    def take(self, body: bytes, data: dict[str, Any], *, code: int = 0) -> None:
        """Feed a received SDP body (``code``: of the response carrying it; 0 for a
        request); note the outcome in ``data``.

        The answer to our offer, taken from a provisional response, may come
        again in the final one (a 183 and then the 200): that is the same
        answer. Any other body when no offer of ours is outstanding is an offer
        (an unchanged re-offer keeps its version, RFC 3264 8)."""
        sdp = self.sdp
        early, self.early_answer = self.early_answer, None
        try:
            if sdp.pending == "local":
                sdp.take_answer(body)
                data["sdp"] = "answer"
                if 100 <= code < 200:
                    self.early_answer = body
                return
            if code and early is not None and body == early:
                data["sdp"] = "answer"
                self.early_answer = early if code < 200 else None
                return
            offer = sdp.take_offer(body)
        except RemoteProtocolError as exc:
            data["sdp_error"] = exc.status or 400
            return
        data["sdp"] = "offer"
        try:
            offer.check_answerable(sdp.config, allow_all_disabled=sdp.established)
        except RemoteProtocolError as exc:
            sdp.reject_offer()
            data["sdp_error"] = exc.status or 488
            return
        data["hold"] = offer.hold

    def answered(self) -> None:
        """Our INVITE got a 2xx and we acknowledged it: nothing sends it again (a retry
        answers a 3xx, 401 or 407 only), so what a retry needs is dropped (measured: about
        400 B a held call of ours)."""
        self.invite = None
        self.challenge = None

    def failed(self) -> None:
        """Our request carrying an offer got no 2xx: withdraw the offer."""
        if self.sdp.pending == "local":
            self.sdp.rollback()

    def rejected(self) -> None:
        """We answered the peer's offer with an error: forget it."""
        if self.sdp.pending == "remote":
            self.sdp.reject_offer()

    # -- sent -----------------------------------------------------------------
    def body(self, kind: str | None, *, invite_response: bool = False,
             reliable: bool = False, answers: bool = True, reoffer: bool = False) -> bytes:
        """The body named ``kind`` (see ``sipflow.runtime.builtins``), or b"".

        ``answers=False``: the message does not answer the pending offer (a
        response to a PRACK or UPDATE that carried none), so ``sdp-answer``
        yields no body. ``reoffer``: a 2xx to a re-INVITE without an offer,
        which must carry ours (RFC 3261 14.2)."""
        sdp = self.sdp
        if kind is None or kind == "none":
            return b""
        if kind == "sdp-offer":
            return sdp.create_offer()
        if kind == "sdp-hold":
            return sdp.hold()
        if kind == "sdp-resume":
            return sdp.resume()
        if kind != "sdp-answer":
            raise ValueError(f"unknown body {kind!r}")
        if sdp.pending == "remote" and answers:
            body = sdp.create_answer()
            self.answer_unreliable = invite_response and not reliable
            return body
        if not invite_response:
            return b""
        if sdp.local is None or reoffer:  # the INVITE had no offer: ours goes in this response
            self.answer_unreliable = not reliable
            return sdp.create_offer()
        if self.answer_unreliable:  # RFC 3261 13.2.1: the same answer again in the 2xx
            if reliable:
                self.answer_unreliable = False
            return sdp.local
        return b""
