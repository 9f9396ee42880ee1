"""The SIP transaction layer: RFC 3261 §17 and RFC 6026, sans-I/O.

Rules:

- No sockets, threads, sleeps or clock. Every entry point takes ``now``
  (monotonic seconds, any origin); bytes leave through the ``send(data, dest)``
  callback given to the constructor; ``next_deadline()`` says when the layer
  next wants ``handle_timers(now)``. All timers live in one heap.
- Retransmissions (Timers A, E, G) happen on unreliable transports only:
  a client transaction is reliable iff ``dest.transport != "udp"``, a server
  transaction iff the request's ``source.transport != "udp"``. On reliable
  transports Timers D, I, J, K are zero: the transaction ends at once.
- Matching (``transaction_msg``): server transactions by top-Via branch,
  sent-by and method (ACK → its INVITE; CANCEL is its own transaction) when
  the branch carries the magic cookie, else by the RFC 2543 fallback
  (Request-URI, To tag, From tag, Call-ID, CSeq, top Via); client
  transactions by branch and CSeq method (§17.1.3).
- What the TU (``TransactionUser``) hears:
  ``on_request`` for each *new* request (retransmissions are absorbed or
  answered here), including CANCEL (see ``find_cancel_target``) and every ACK
  that no INVITE server transaction absorbs (the ACK of a 2xx), with
  ``txn=None``; ``on_response`` for every response the state machines pass
  up (each 1xx and 2xx, the first non-2xx final; in Accepted, every 2xx);
  ``on_stray_response`` for a response matching no client transaction (or a
  2xx arriving at an INVITE transaction already Completed by a non-2xx);
  ``on_timeout`` for Timers B and F (and for an INVITE still without final
  response 64*T1 after its CANCEL was sent, §9.1, reported as "B");
  ``on_transport_error`` when ``send``
  raised ``OSError`` (or ``transport_failed(peer, now)`` reports it later);
  ``on_ack_timeout`` (optional; else
  ``on_transport_error``) for Timer H; ``on_terminated`` (optional) once per
  transaction when it ends.
- An INVITE server transaction sends 100 Trying itself (§17.2.1) when the TU
  has not responded by the time ``on_request`` returns (turn off with
  ``auto_trying=False``).
- The ACK for a 2xx is not a transaction (§17.1.1.1): send it with
  ``send_stateless``; ``send_request`` refuses ACK.
- Misuse by the caller raises ``LocalProtocolError``; a received message
  whose Via, CSeq, From, To or Call-ID cannot be read raises the message
  model's ``RemoteProtocolError`` (the parser checks these eagerly, so a
  parsed message never does).

- A transaction that only lingers (Accepted, Completed, Confirmed: Timers
  D, I, J, K, L, M, up to 32 s on UDP) is slimmed on the next entry into the
  layer: it keeps its key, state, peer, the bytes it retransmits, its last
  status (``txn.last_status``) and, for a client INVITE in Accepted, the
  bytes of its request (the TU reads it for a retransmitted or forked 2xx);
  the parsed messages are dropped (``txn.request``/``txn.last_response``
  then raise ``LocalProtocolError``). At 1,000 calls/s that is ~64,000
  transactions, so their bytes are the held-call memory budget
  (``tools/bench_sip.py`` section ``lingering_bytes``).

Theory of operation: two dicts (client and server keys → transaction) and
one ``TimerHeap``. ``receive_*`` and ``respond`` route to the state machines
in ``transaction_client`` and ``transaction_server``; ``handle_timers`` pops
due heap entries and fires them. A transaction removes itself from its dict
when it ends, so ``counts()`` is empty once traffic and timers are done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Protocol

from sipflow.sip.errors import LocalProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response
from sipflow.sip.timers import TimerConfig, TimerHeap
from sipflow.sip.transaction_base import COMPLETED, PROCEEDING, TERMINATED, Transaction, TxnState
from sipflow.sip.transaction_client import ClientTransaction
from sipflow.sip.transaction_msg import (
    MAGIC_COOKIE,
    client_key,
    has_magic_cookie,
    server_key,
)
from sipflow.sip.transaction_server import ServerTransaction
from sipflow.sip.types import Address

__all__ = [
    "MAGIC_COOKIE",
    "ClientTransaction",
    "ServerTransaction",
    "TimerConfig",
    "Transaction",
    "TransactionLayer",
    "TransactionUser",
    "TxnState",
]


class TransactionUser(Protocol):
    """The layer above the transactions (the UA core). ``on_terminated`` and
    ``on_ack_timeout(txn, now)`` are optional: the layer calls them only when
    the TU defines them."""

    def on_request(
        self, txn: ServerTransaction | None, request: Request, source: Address, now: float
    ) -> None:
        """A new request; ``txn`` is ``None`` for an ACK no INVITE transaction absorbed."""
        ...

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        """A response the client transaction passes up."""
        ...

    def on_stray_response(self, response: Response, source: Address, now: float) -> None:
        """A response that matches no client transaction."""
        ...

    def on_timeout(self, txn: ClientTransaction, timer: str, now: float) -> None:
        """Timer ``"B"`` or ``"F"`` fired: no final response came."""
        ...

    def on_transport_error(self, txn: Transaction, now: float) -> None:
        """``send`` raised ``OSError``; the transaction is already terminated."""
        ...


class TransactionLayer:
    """Every client and server transaction of one user agent (see the module rules)."""

    __slots__ = (
        "tu",
        "send",
        "config",
        "heap",
        "auto_trying",
        "_clients",
        "_servers",
        "_counts",
        "_linger",
    )

    def __init__(
        self,
        tu: TransactionUser,
        send: Callable[[bytes, Address], None],
        timers: TimerConfig | None = None,
        *,
        auto_trying: bool = True,
    ) -> None:
        self.tu = tu
        self.send = send
        self.config = timers if timers is not None else TimerConfig()
        self.heap = TimerHeap()
        self.auto_trying = auto_trying
        self._clients: dict[tuple, ClientTransaction] = {}
        self._servers: dict[tuple, ServerTransaction] = {}
        self._counts: Counter[str] = Counter()
        self._linger: list[Transaction] = []  # entered a lingering state; slimmed on next entry

    # -- client side --------------------------------------------------------------

    def send_request(
        self, request: Request, dest: Address, now: float, *, branch: str | None = None
    ) -> ClientTransaction:
        """Start a client transaction for ``request`` and send it to ``dest``.

        The request must carry its top Via with a fresh RFC 3261 branch. A
        caller that built that Via may pass its ``branch`` (the key is then
        ``(branch, method)`` without reading the Via back; the CSeq method
        must be the request's method). When ``send`` raises ``OSError`` the
        TU hears ``on_transport_error`` and the returned transaction is
        already ``Terminated``.
        """
        if self._linger:
            self._slim()
        method = request.method
        if method == "ACK":
            raise LocalProtocolError(
                "ACK is not a transaction (RFC 3261 §17.1.1.1): use send_stateless()"
            )
        key = client_key(request) if branch is None else (branch, method)
        if not has_magic_cookie(key[0]):
            raise LocalProtocolError(
                f"{request.method} request: top Via branch {key[0]!r} does not start with "
                f"{MAGIC_COOKIE!r}; build requests with a fresh RFC 3261 branch"
            )
        if key in self._clients:
            raise LocalProtocolError(
                f"{request.method} request: a client transaction with branch {key[0]!r} exists"
            )
        txn = ClientTransaction(self, key, request, dest)
        self._clients[key] = txn
        self._counts[txn.kind] += 1
        txn.start(now)
        if request.method == "CANCEL" and not txn.terminated:
            invite = self._clients.get((key[0], "INVITE"))
            if invite is not None:
                invite.cancel_sent(now)
        return txn

    def receive_response(self, response: Response, source: Address, now: float) -> None:
        """A response arrived from ``source``: route it to its client transaction
        (§17.1.3) or, matching none, to ``on_stray_response``."""
        if self._linger:
            self._slim()
        txn = self._clients.get(client_key(response))
        if txn is None or not txn.receive(response, now):
            self.tu.on_stray_response(response, source, now)

    # -- server side --------------------------------------------------------------

    def receive_request(self, request: Request, source: Address, now: float) -> None:
        """A request arrived from ``source`` (§17.2.3 matching)."""
        if self._linger:
            self._slim()
        if request.method == "ACK":
            txn = self._match_ack(request)
            if txn is None or txn.receive_ack(request, now):
                self.tu.on_request(None, request, source, now)
            return
        key = server_key(request)
        txn = self._servers.get(key)
        if txn is not None:
            txn.receive_retransmission(now)
            return
        txn = ServerTransaction(self, key, request, source)
        self._servers[key] = txn
        self._counts[txn.kind] += 1
        self.tu.on_request(txn, request, source, now)
        if (
            self.auto_trying
            and txn.is_invite
            and txn.last_status is None
            and txn.state is PROCEEDING
        ):
            txn.respond(make_response(request, 100), now)

    def _match_ack(self, ack: Request) -> ServerTransaction | None:
        servers = self._servers
        key = server_key(ack)
        if key[0] == "3261":
            return servers.get(key)
        # RFC 2543: the ACK's To tag is the tag of the response; the INVITE had
        # none (initial INVITE) or the same one (re-INVITE).
        txn = servers.get(server_key(ack, to_tag=None)) or servers.get(key)
        if txn is None:
            return None
        if txn.last_status is None or txn._sent_to_tag() != ack.to_tag:
            return None
        return txn

    def respond(self, txn: ServerTransaction, response: Response, now: float) -> None:
        """Send ``response`` on server transaction ``txn`` (see ``transaction_server``)."""
        txn.respond(response, now)

    def find_cancel_target(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL cancels (§9.2), or ``None``."""
        return self._servers.get(server_key(cancel, method="INVITE"))

    def transport_failed(self, peer: Address, now: float) -> int:
        """The transport reported, after the fact, that ``peer`` cannot be reached
        (a driver that queues its sends learns it late, e.g. a refused TCP
        connection). Every live transaction whose peer (``dest`` or ``source``)
        is ``peer`` terminates with ``on_transport_error``. Returns how many."""
        victims: list[Transaction] = [t for t in self._clients.values() if t.dest == peer]
        victims += [t for t in self._servers.values() if t.source == peer]
        for txn in victims:
            txn._fail_transport(now)
        return len(victims)

    # -- stateless ----------------------------------------------------------------

    def send_stateless(self, message: Request | Response, dest: Address) -> None:
        """Send ``message`` outside any transaction (the ACK of a 2xx, a 2xx
        retransmission after the transaction ended). ``OSError`` from ``send``
        propagates to the caller."""
        self.send(message.serialize(), dest)

    # -- timers -------------------------------------------------------------------

    def handle_timers(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        if self._linger:
            self._slim()
        for txn, name in self.heap.pop_due(now):
            txn.fire(name, now)  # type: ignore[attr-defined]

    def next_deadline(self) -> float | None:
        """When ``handle_timers`` should next be called, or ``None`` when idle."""
        return self.heap.next_deadline()

    # -- bookkeeping --------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Live transactions by kind (``invite_client``, ``non_invite_client``,
        ``invite_server``, ``non_invite_server``); kinds with none are left out,
        so an idle layer gives ``{}`` (a ``Counter``: missing kinds read 0)."""
        return +self._counts

    def answering(self) -> int:
        """Transactions that may still have to answer a peer's retransmission: INVITE
        client transactions in Completed (Timer D: ACK a retransmitted non-2xx again)
        and server transactions in Completed (Timer H: our non-2xx until its ACK;
        Timer J: answer a retransmitted request again). An application that is about
        to exit waits for these (``sipflow call`` does)."""
        count = 0
        for client in self._clients.values():
            count += client.is_invite and client.state is COMPLETED
        for server in self._servers.values():
            count += server.state is COMPLETED
        return count

    def get_client(self, key: tuple) -> ClientTransaction | None:
        """The live client transaction with ``key``, if any."""
        return self._clients.get(key)

    def get_server(self, key: tuple) -> ServerTransaction | None:
        """The live server transaction with ``key``, if any."""
        return self._servers.get(key)

    def _slim(self) -> None:
        """Slim the transactions that entered a lingering state
        (``Transaction._slim``: only bytes and small values stay, so 32 s of
        Timers D/J/L/M cost little memory and nothing for the garbage
        collector to rescan). Deferred to the next entry into the layer, so
        the TU reads the parsed values while it handles the message that
        caused the state change."""
        for txn in self._linger:
            if txn.state is not TERMINATED:
                txn._slim()
        self._linger.clear()

    def _cancel_pending(self, branch: str) -> bool:
        return (branch, "CANCEL") in self._clients

    def _forget(self, txn: Transaction) -> None:
        table: dict = self._clients if txn._sends_requests else self._servers
        if table.get(txn.key) is txn:
            del table[txn.key]
            self._counts[txn.kind] -= 1

