"""Server transactions: RFC 3261 §17.2 with the INVITE fix of RFC 6026.

Rules:

- INVITE server (§17.2.1, RFC 6026 §8.5–8.7): created in ``Proceeding``.
  The TU answers through ``respond``:
  1xx → stays in Proceeding (a retransmitted INVITE gets the last 1xx again);
  2xx → ``Accepted`` with Timer L (64*T1): retransmitted INVITEs are absorbed,
  further 2xx from the TU (its §13.3.1.4 retransmissions) are sent, the 2xx's
  ACK (when it matches this transaction) goes up to the TU;
  300–699 → ``Completed``: Timer G retransmits the response (UDP only: T1
  doubling, capped at T2), a retransmitted INVITE gets it again, the ACK moves
  to ``Confirmed`` (Timer I: T4 on UDP, 0 reliable; further ACKs absorbed);
  Timer H (64*T1) without ACK ends it and tells the TU (see below).
- non-INVITE server (§17.2.2): created in ``Trying`` (retransmissions
  dropped); 1xx → ``Proceeding`` (retransmissions get the last 1xx); final →
  ``Completed`` for Timer J (64*T1 on UDP, 0 reliable), every retransmission
  answered with the final response.
- Timer H is reported to the TU as ``on_ack_timeout(txn, now)`` when the TU
  defines it, otherwise as ``on_transport_error(txn, now)`` (the RFC asks to
  "indicate a transaction failure"; both end the transaction).
- Responding in a state that allows no response (Completed, Confirmed,
  Terminated, or a non-2xx after a 2xx), or with a response whose CSeq
  method is not the transaction's, is our own bug: ``LocalProtocolError``.

Theory of operation: the layer matches a request to this transaction and
calls ``receive_retransmission``/``receive_ack``; the TU calls ``respond``
through the layer; due timers come in through ``fire``. ``_wire`` holds the
serialised last response, re-sent on request retransmissions and Timer G.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipflow.sip.errors import LocalProtocolError
from sipflow.sip.transaction_base import (
    ACCEPTED,
    COMPLETED,
    CONFIRMED,
    PROCEEDING,
    TRYING,
    LayerPort,
    Transaction,
)
from sipflow.sip.types import Address

if TYPE_CHECKING:
    from sipflow.sip.message import Request, Response


class ServerTransaction(Transaction):
    """One server transaction. Public: ``key``, ``method``, ``request``, ``source``,
    ``state``, ``is_invite``, ``reliable``, ``last_response``, ``user_data``
    (alias ``pending``)."""

    __slots__ = ("source",)

    def __init__(self, layer: LayerPort, key: tuple, request: Request, source: Address) -> None:
        is_invite = request.method == "INVITE"
        super().__init__(
            layer,
            key,
            request,
            source.transport.lower() != "udp",
            PROCEEDING if is_invite else TRYING,
        )
        self.source = source

    def _peer(self) -> Address:
        return self.source

    # -- requests from the peer --------------------------------------------------

    def receive_retransmission(self, now: float) -> None:
        """The request was received again: answer with the last response where the
        state machine says so, absorb it otherwise."""
        state = self.state
        if state is PROCEEDING or state is COMPLETED:
            if self._wire is not None:
                self._retransmit(now)
        # Trying: no response yet; Accepted, Confirmed: absorbed.

    def receive_ack(self, ack: Request, now: float) -> bool:
        """An ACK matched this INVITE transaction. Returns ``True`` when the ACK
        belongs to the TU (the ACK of a 2xx, in Accepted), ``False`` when absorbed."""
        state = self.state
        if state is COMPLETED:
            self.state = CONFIRMED
            self._linger()
            heap = self._layer.heap
            heap.cancel_all(self)  # G and H
            self._wire = None
            timer_i = self._layer.config.i(self.reliable)
            if timer_i <= 0:
                self._end()
            else:
                self._arm("I", timer_i, now)
            return False
        return state is ACCEPTED

    # -- responses from the TU ---------------------------------------------------

    def respond(self, response: Response, now: float) -> None:
        """Send ``response`` and move the state machine (see the module rules)."""
        code = response.status
        state = self.state
        if self.is_invite:
            if state is ACCEPTED and not 200 <= code < 300:
                raise LocalProtocolError(
                    f"cannot send {code} on INVITE server transaction {self.key!r}: a 2xx was sent"
                )
            if state is not PROCEEDING and state is not ACCEPTED:
                raise LocalProtocolError(
                    f"cannot send {code} on INVITE server transaction {self.key!r} in {state.value}"
                )
        elif state is not TRYING and state is not PROCEEDING:
            raise LocalProtocolError(
                f"cannot send {code} on {self.method} server transaction {self.key!r} in {state.value}"
            )
        # The CSeq method from the field text: a response built from the request
        # shares its field, so parsing it into the response's cache again
        # would be wasted (one CSeq parse and cache dict per response sent);
        # get_all scans the fields without building the response's header
        # index, which nothing else reads.
        cseq = response.headers.get_all("cseq")
        answered = cseq[0].rpartition(" ")[2] if cseq else ""
        if answered != self.method:
            raise LocalProtocolError(
                f"response {code} with CSeq method {answered} sent on {self.method} "
                f"server transaction {self.key!r}"
            )
        self.last_response = response
        wire = response.serialize()
        config = self._layer.config
        if code < 200:
            self.state = PROCEEDING
            self._wire = wire
            if not self._transmit(wire):
                self._fail_transport(now)
            return
        if self.is_invite and code < 300:
            first = state is PROCEEDING
            self.state = ACCEPTED
            self._linger()
            self._wire = None  # 2xx retransmission is the TU's job (§13.3.1.4)
            if first:
                self._arm("L", config.timeout(), now)
            if not self._transmit(wire):
                self._fail_transport(now)
            return
        self.state = COMPLETED
        self._linger()
        self._wire = wire
        if not self._transmit(wire):
            self._fail_transport(now)
            return
        if self.is_invite:
            first = config.retransmit_first(self.reliable)
            if first is not None:
                self._interval = first
                self._arm("G", first, now)
            self._arm("H", config.timeout(), now)
            return
        timer_j = config.j(self.reliable)
        if timer_j <= 0:
            self._end()
        else:
            self._arm("J", timer_j, now)

    # -- timers -------------------------------------------------------------------

    def fire(self, name: str, now: float) -> None:
        """Timer ``name`` is due (the heap only yields timers still armed)."""
        if name == "G":
            if self._retransmit(now):
                self._interval = min(self._interval * 2, self._layer.config.t2)
                self._arm("G", self._interval, now)
        elif name == "H":
            tu = self._layer.tu
            hook = getattr(tu, "on_ack_timeout", None)
            if hook is not None:
                self._end(lambda: hook(self, now))
            else:
                self._end(lambda: tu.on_transport_error(self, now))
        else:  # I, J, L: the transaction simply ends
            self._end()
