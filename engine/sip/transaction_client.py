"""Client transactions: RFC 3261 §17.1 with the INVITE fix of RFC 6026.

Rules:

- INVITE client (§17.1.1, RFC 6026 §8.4):
  ``Calling`` — Timer A retransmits (UDP only: T1, 2*T1, 4*T1 … no cap),
  Timer B (64*T1) times out → TU ``on_timeout("B")``.
  1xx → ``Proceeding`` (no more retransmissions; B no longer applies, until
  a CANCEL is sent: then §9.1 gives the INVITE 64*T1 more, reported as "B").
  2xx → ``Accepted`` with Timer M (64*T1); every 2xx received in Accepted,
  retransmission or another fork, goes to the TU (the TU ACKs 2xx itself).
  300–699 → ``Completed``: the layer sends the ACK of §17.1.1.3, passes the
  response up once, re-sends the same ACK for each retransmission of it, and
  ends after Timer D (32 s on UDP, 0 on reliable transports).
- non-INVITE client (§17.1.2):
  ``Trying`` — Timer E retransmits (UDP only: T1 doubling, capped at T2),
  Timer F (64*T1) times out → TU ``on_timeout("F")``.
  1xx → ``Proceeding`` (Timer E goes on, every T2). Final → ``Completed``
  for Timer K (T4 on UDP, 0 on reliable), absorbing retransmissions.
- Everything that reaches the TU goes through ``on_response``; responses the
  state machine absorbs never do.

Theory of operation: the layer finds the transaction by top-Via branch plus
CSeq method (§17.1.3) and calls ``receive(response, now)``; due timers arrive
through ``fire(name, now)``. Each keeps the serialised request in ``_wire``
for retransmission (and, once Completed, the serialised ACK).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipflow.sip.transaction_base import (
    ACCEPTED,
    CALLING,
    COMPLETED,
    PROCEEDING,
    TRYING,
    LayerPort,
    Transaction,
)
from sipflow.sip.transaction_msg import build_non2xx_ack, status_of
from sipflow.sip.types import Address

if TYPE_CHECKING:
    from sipflow.sip.message import Request, Response


class ClientTransaction(Transaction):
    """One client transaction. Public: ``key``, ``method``, ``request``, ``dest``,
    ``state``, ``is_invite``, ``reliable``, ``last_response``, ``user_data``."""

    __slots__ = ("dest",)

    _sends_requests = True
    _KINDS = ("non_invite_client", "invite_client")

    def __init__(self, layer: LayerPort, key: tuple, request: Request, dest: Address) -> None:
        is_invite = request.method == "INVITE"
        super().__init__(
            layer,
            key,
            request,
            dest.transport.lower() != "udp",
            CALLING if is_invite else TRYING,
        )
        self.dest = dest

    def _peer(self) -> Address:
        return self.dest

    def start(self, now: float) -> None:
        """Send the request and arm A/B (INVITE) or E/F (non-INVITE)."""
        self._wire = self._sent = self.request.serialize()
        if not self._transmit(self._wire):
            self._fail_transport(now)
            return
        config = self._layer.config
        first = config.retransmit_first(self.reliable)
        if first is not None:
            self._interval = first
            self._arm("A" if self.is_invite else "E", first, now)
        else:
            self._wire = None  # nothing will ever be retransmitted
        self._arm("B" if self.is_invite else "F", config.timeout(), now)

    # -- responses -----------------------------------------------------------------

    def receive(self, response: Response, now: float) -> bool:
        """A response matched this transaction (§17.1.3). Returns ``False`` for a
        2xx that arrives after a non-2xx final response (Completed): no state
        machine owns it, so the layer hands it to ``on_stray_response`` and the
        UA core can ACK and BYE it."""
        if self.is_invite:
            return self._receive_invite(response, now)
        self._receive_non_invite(response, now)
        return True

    def cancel_sent(self, now: float) -> None:
        """A CANCEL for this INVITE was sent (RFC 3261 §9.1): if no final
        response comes within 64*T1, the transaction times out with Timer B
        even in Proceeding (in Calling, Timer B is already running)."""
        if self.is_invite and self.state is PROCEEDING:
            self._arm("B", self._layer.config.timeout(), now)

    def _receive_invite(self, response: Response, now: float) -> bool:
        code = status_of(response)
        state = self.state
        tu = self._layer.tu
        if state is CALLING or state is PROCEEDING:
            heap = self._layer.heap
            self.last_response = response
            if code < 200:
                if state is CALLING:
                    self.state = PROCEEDING
                    heap.cancel_all(self)  # no A retransmissions, no B (§17.1.1.2)
                    self._wire = None
                    if self._layer._cancel_pending(self.key[0]):
                        self.cancel_sent(now)  # CANCEL sent early: §9.1 still applies
                tu.on_response(self, response, now)
            elif code < 300:
                self.state = ACCEPTED
                self._linger()
                heap.cancel_all(self)
                self._wire = None
                self._arm("M", self._layer.config.timeout(), now)
                tu.on_response(self, response, now)
            else:
                self.state = COMPLETED
                self._linger()
                heap.cancel_all(self)
                self._wire = build_non2xx_ack(self.request, response).serialize()
                sent = self._transmit(self._wire)
                tu.on_response(self, response, now)
                if not sent:
                    self._fail_transport(now)
                    return True
                timer_d = self._layer.config.d(self.reliable)
                if timer_d <= 0:
                    self._end()
                elif self.state is COMPLETED:
                    self._arm("D", timer_d, now)
        elif state is ACCEPTED:
            if 200 <= code < 300:  # RFC 6026 §8.4: every 2xx goes up, the TU ACKs it
                self.last_response = response
                self._linger()  # dropped again once handled
                tu.on_response(self, response, now)
        elif state is COMPLETED:
            if code >= 300:  # §17.1.1.2: a retransmitted final response gets the ACK again
                self._retransmit(now)
            elif code >= 200:
                return False
        return True

    def _receive_non_invite(self, response: Response, now: float) -> None:
        code = status_of(response)
        state = self.state
        if state is not TRYING and state is not PROCEEDING:
            return  # Completed: absorb retransmissions (§17.1.2.2)
        self.last_response = response
        tu = self._layer.tu
        if code < 200:
            self.state = PROCEEDING
            tu.on_response(self, response, now)
            return
        self.state = COMPLETED
        self._linger()
        self._layer.heap.cancel_all(self)
        self._wire = None
        tu.on_response(self, response, now)
        if self.state is not COMPLETED:
            return
        timer_k = self._layer.config.k(self.reliable)
        if timer_k <= 0:
            self._end()
        else:
            self._arm("K", timer_k, now)

    # -- timers -------------------------------------------------------------------

    def fire(self, name: str, now: float) -> None:
        """Timer ``name`` is due (the heap only yields timers still armed)."""
        config = self._layer.config
        if name == "A":
            if self._retransmit(now):
                self._interval *= 2
                self._arm("A", self._interval, now)
        elif name == "E":
            if self._retransmit(now):
                if self.state is PROCEEDING:
                    self._interval = config.t2
                else:
                    self._interval = min(self._interval * 2, config.t2)
                self._arm("E", self._interval, now)
        elif name == "B" or name == "F":
            self._end(lambda: self._layer.tu.on_timeout(self, name, now))
        else:  # D, K, M: the transaction simply ends
            self._end()
