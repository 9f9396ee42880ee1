"""What client and server transactions share: states, slots, sending, ending.

Rules:

- A transaction never touches a socket or a clock. It sends through its
  layer's ``send`` callback, arms timers on the layer's one ``TimerHeap``, and
  reports to the layer's transaction user (TU).
- ``send`` may raise ``OSError``: the transaction then tells the TU
  (``on_transport_error``) and terminates (RFC 3261 §17.1.4, §17.2.4).
- Terminating is idempotent: the transaction leaves the layer's tables,
  cancels its timers, drops the bytes it kept for retransmission, and the TU
  hears ``on_terminated`` exactly once.
- State changes happen *before* the TU is called, so a TU may call back into
  the layer (respond, send a new request) from inside any callback.

Theory of operation: the layer (``sipflow.sip.transaction``) owns the tables
and the heap and routes each message or due timer to one transaction object;
``ClientTransaction`` (``transaction_client``) and ``ServerTransaction``
(``transaction_server``) hold the RFC 3261 / RFC 6026 state machines.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sipflow.sip.errors import LocalProtocolError
from sipflow.sip.message import rebuild
from sipflow.sip.timers import TimerConfig, TimerHeap
from sipflow.sip.types import Address

if TYPE_CHECKING:
    from sipflow.sip.message import Request, Response


class TxnState(StrEnum):
    """Transaction states (RFC 3261 §17, RFC 6026). Members compare equal to
    their names as plain strings: ``txn.state == "Proceeding"``."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


# The members as module constants: reading ``TxnState.X`` goes through the
# enum class (~140 ns on Python 3.11), a module global costs ~20 ns, and the
# state machines compare states on every message.
CALLING = TxnState.CALLING
TRYING = TxnState.TRYING
PROCEEDING = TxnState.PROCEEDING
ACCEPTED = TxnState.ACCEPTED
COMPLETED = TxnState.COMPLETED
CONFIRMED = TxnState.CONFIRMED
TERMINATED = TxnState.TERMINATED


class LayerPort(Protocol):
    """What a transaction needs from its layer (implemented by ``TransactionLayer``)."""

    tu: Any
    config: TimerConfig
    heap: TimerHeap
    send: Callable[[bytes, Address], None]
    _linger: list[Transaction]

    def _forget(self, txn: Transaction) -> None: ...

    def _cancel_pending(self, branch: str) -> bool: ...


class Transaction:
    """Common part of client and server transactions.

    Public attributes: ``key`` (the matching key), ``method``, ``request`` (the
    request that created the transaction), ``state`` (a ``TxnState``),
    ``is_invite``, ``kind`` (``invite_client``, ``non_invite_client``,
    ``invite_server`` or ``non_invite_server``), ``reliable``, ``last_response`` (the last response sent or
    received, ``None`` before any), ``last_status`` (its status code) and
    ``user_data`` (free for the TU; also readable and writable as ``pending``).

    A lingering transaction (see ``_slim``) keeps only what its state machine
    needs: ``last_status`` stays; ``last_response`` and (except for a client
    INVITE in Accepted, whose request is rebuilt from the bytes sent)
    ``request`` raise ``LocalProtocolError`` once dropped.
    """

    __slots__ = (
        "key",
        "method",
        "state",
        "is_invite",
        "kind",
        "reliable",
        "user_data",
        "_request",
        "_last_response",
        "_packed_request",
        "_status",
        "_to_tag",
        "_sent",
        "_layer",
        "_wire",
        "_interval",
        "_retx_token",
        "_life_token",
    )

    _sends_requests = False  # a client transaction sends its request, a server its responses
    _KINDS = ("non_invite_server", "invite_server")  # ``kind`` by ``is_invite``

    def __init__(
        self, layer: LayerPort, key: tuple, request: Request, reliable: bool, state: TxnState
    ) -> None:
        self.key = key
        self.method: str = request.method
        self._request: Request | None = request
        self.state = state
        self.is_invite = request.method == "INVITE"
        self.kind: str = self._KINDS[self.is_invite]
        self.reliable = reliable
        self._last_response: Response | None = None
        # What a lingering transaction keeps of its messages (see ``_slim``):
        self._packed_request: tuple[bytes, Any] | None = None
        self._status: int | None = None  # status of the dropped last response
        self._to_tag: str | None = None  # its To tag (server INVITE, RFC 2543 ACK matching)
        self._sent: bytes | None = None  # the request as sent (client), packed as is
        self.user_data: Any = None
        self._layer = layer
        self._wire: bytes | None = None  # bytes to retransmit (request or last response)
        self._interval = 0.0  # current retransmit interval (A, E, G)
        self._retx_token = 0
        self._life_token = 0

    @property
    def request(self) -> Request:
        """The request that created the transaction. A lingering transaction
        keeps it only where the TU may still need it (a client INVITE in
        Accepted: rebuilt from the bytes sent, on each access); otherwise
        reading it raises ``LocalProtocolError``."""
        msg = self._request
        if msg is not None:
            return msg
        packed = self._packed_request
        if packed is None:
            raise LocalProtocolError(
                f"{self!r} lingers and no longer keeps its request (see Transaction._slim)"
            )
        return rebuild(packed[0], packed[1])  # type: ignore[return-value]

    @request.setter
    def request(self, request: Request) -> None:
        self._request = request
        self._packed_request = None

    @property
    def last_response(self) -> Response | None:
        """The last response sent or received, ``None`` before any. A lingering
        transaction keeps only its status (``last_status``): reading the
        response then raises ``LocalProtocolError``."""
        msg = self._last_response
        if msg is None and self._status is not None:
            raise LocalProtocolError(
                f"{self!r} lingers and keeps only the status of its last response "
                "(read last_status)"
            )
        return msg

    @last_response.setter
    def last_response(self, response: Response | None) -> None:
        self._last_response = response
        self._status = None

    @property
    def last_status(self) -> int | None:
        """The status code of the last response sent or received, ``None``
        before any (kept when the transaction lingers)."""
        msg = self._last_response
        return msg.status if msg is not None else self._status

    def _slim(self) -> None:
        """Lingering (Accepted, Completed, Confirmed): keep only what the state
        machine still needs (called by the layer after the message that caused
        it is handled, so the TU read the parsed values first).

        Kept: the key, the state, the peer, the bytes to retransmit (``_wire``:
        the last non-2xx or non-INVITE final response of a server, the ACK of
        a client INVITE's non-2xx), the last status (``last_status``), a server
        INVITE's To tag (RFC 2543 ACK matching), and for a client INVITE in
        Accepted the bytes of the request, which the TU reads when a 2xx is
        retransmitted or another fork answers. Dropped: the parsed request
        and last response (``bench_sip.py lingering_bytes`` gives the figure).
        """
        response = self._last_response
        if response is not None:
            self._status = response.status
            if self.is_invite and not self._sends_requests and self.key[0] == "2543":
                self._to_tag = response.to_tag
            self._last_response = None
        request = self._request
        if request is not None:
            if self.is_invite and self._sends_requests and self.state is ACCEPTED:
                self._packed_request = (self._sent or request.serialize(), request.source)
            self._request = None
        self._sent = None

    def _sent_to_tag(self) -> str | None:
        """The To tag of the last response (live or dropped by ``_slim``)."""
        msg = self._last_response
        return msg.to_tag if msg is not None else self._to_tag

    @property
    def pending(self) -> Any:
        """Alias of ``user_data``: a place for the TU to hang its own object."""
        return self.user_data

    @pending.setter
    def pending(self, value: Any) -> None:
        self.user_data = value

    @property
    def terminated(self) -> bool:
        """True once the transaction has left the layer."""
        return self.state is TERMINATED

    def _peer(self) -> Address:
        raise NotImplementedError

    def _transmit(self, data: bytes) -> bool:
        """Send ``data`` to the peer; ``False`` when the transport raised ``OSError``."""
        try:
            self._layer.send(data, self._peer())
        except OSError:
            return False
        return True

    def _fail_transport(self, now: float) -> None:
        """A send failed: terminate and tell the TU (RFC 3261 §17.1.4, §17.2.4)."""
        self._end(lambda: self._layer.tu.on_transport_error(self, now))

    def _linger(self) -> None:
        """The transaction entered a state where it only absorbs, matches or
        retransmits kept bytes (Accepted, Completed, Confirmed): the layer packs
        its messages as bytes once the current message is handled (see
        ``TransactionLayer._slim``), so 32 s of lingering costs bytes, not objects."""
        self._layer._linger.append(self)

    def _arm(self, name: str, delay: float, now: float) -> None:
        self._layer.heap.arm(self, name, now + delay)

    def _retransmit(self, now: float) -> bool:
        """Resend the kept bytes; on a transport error fail and return ``False``."""
        if self._wire is None:  # pragma: no cover - guarded by the state machines
            return True
        if not self._transmit(self._wire):
            self._fail_transport(now)
            return False
        return True

    def _end(self, report: Callable[[], object] | None = None) -> None:
        """Terminate (idempotent): leave the layer, cancel timers, drop kept bytes;
        then run ``report`` (the TU callback that explains why), then the TU's
        optional ``on_terminated`` hook."""
        if self.state is TERMINATED:
            return
        self.state = TERMINATED
        layer = self._layer
        layer.heap.cancel_all(self)
        self._wire = None
        layer._forget(self)
        if report is not None:
            report()
        hook = getattr(layer.tu, "on_terminated", None)
        if hook is not None:
            hook(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.value} key={self.key!r}>"
