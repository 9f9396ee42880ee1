"""Two transaction layers talking through the real serializer and parser over
an in-memory lossy UDP network, in virtual time: retransmissions repair loss,
each side's TU sees each message once, and nothing is left behind."""

from __future__ import annotations

import heapq
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.message import Request
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.transaction import TimerConfig, TransactionLayer
from sipflow.sip.types import Address

ALICE = Address("udp", "127.0.0.1", 5061)
BOB = Address("udp", "127.0.0.1", 5062)
DELAY = 0.05


class Net:
    """Datagrams delivered after DELAY; the datagrams whose send index is in
    ``drop`` are lost. Runs both layers' timers and deliveries in time order."""

    def __init__(self, drop: set[int] = frozenset()) -> None:
        self.now = 0.0
        self.drop = drop
        self.count = itertools.count()
        self.queue: list[tuple[float, int, bytes, Address, Address]] = []
        self.layers: dict[Address, TransactionLayer] = {}
        self.log: list[tuple[float, Address, bytes]] = []

    def sender(self, src: Address):
        def send(data: bytes, dest: Address) -> None:
            index = next(self.count)
            self.log.append((self.now, src, data))
            if index not in self.drop:
                heapq.heappush(self.queue, (self.now + DELAY, index, data, src, dest))

        return send

    def run(self, until: float = 1_000.0) -> None:
        while True:
            candidates = [(d, 1, a) for a, lay in self.layers.items() if (d := lay.next_deadline())]
            if self.queue:
                candidates.append((self.queue[0][0], 0, None))
            if not candidates:
                return
            when, kind, addr = min(candidates, key=lambda c: (c[0], c[1]))
            if when > until:
                return
            self.now = when
            if kind == 0:
                _, _, data, src, dest = heapq.heappop(self.queue)
                message = parse_message(data)
                layer = self.layers[dest]
                if message.is_request:
                    layer.receive_request(message, src, when)
                else:
                    layer.receive_response(message, src, when)
            else:
                self.layers[addr].handle_timers(when)

    def sent_lines(self, src: Address, start: bytes) -> int:
        return sum(1 for _, s, data in self.log if s == src and data.startswith(start))


class UA:
    """A TU that records what it hears; as a UAS it answers with ``answers``."""

    def __init__(self, net: Net, addr: Address, answers: tuple[int, ...] = ()) -> None:
        self.net = net
        self.heard: list[tuple[str, object]] = []
        self.answers = answers
        self.layer = TransactionLayer(self, net.sender(addr), TimerConfig())
        net.layers[addr] = self.layer

    def on_request(self, txn, request, source, now):
        self.heard.append(("request", request.method))
        if txn is None:
            return
        for status in self.answers:
            response = make_response(request, status)
            if status > 100:
                response.headers.set("To", f"{request.headers.get('to')};tag=bob")
            self.layer.respond(txn, response, now)

    def on_response(self, txn, response, now):
        self.heard.append(("response", response.status))

    def on_stray_response(self, response, source, now):
        self.heard.append(("stray", response.status))

    def on_timeout(self, txn, timer, now):
        self.heard.append(("timeout", timer))

    def on_transport_error(self, txn, now):
        self.heard.append(("transport_error", None))

    def on_ack_timeout(self, txn, now):
        self.heard.append(("ack_timeout", None))


_branches = itertools.count(1)


def new_request(method: str) -> Request:
    return Request(
        method,
        "sip:bob@127.0.0.1:5062",
        [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKpair{next(_branches)}"),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@127.0.0.1>;tag=alice"),
            ("To", "<sip:bob@127.0.0.1>"),
            ("Call-ID", f"pair-{next(_branches)}@127.0.0.1"),
            ("CSeq", f"1 {method}"),
        ],
    )


def test_invite_rejected_with_loss_of_invite_final_and_ack():
    # Datagrams by send order: 0 INVITE (lost), 1 INVITE (Timer A), 2 180,
    # 3 486 (lost), 4 486 (Timer G), 5 ACK (lost), 6 486 (Timer G), 7 ACK.
    net = Net(drop={0, 3, 5})
    alice = UA(net, ALICE)
    bob = UA(net, BOB, answers=(180, 486))
    alice.layer.send_request(new_request("INVITE"), BOB, 0.0)
    net.run()
    assert bob.heard == [("request", "INVITE")]  # retransmissions absorbed
    assert alice.heard == [("response", 180), ("response", 486)]
    assert net.sent_lines(ALICE, b"INVITE ") == 2
    assert net.sent_lines(BOB, b"SIP/2.0 486") == 3  # Timer G until the ACK
    assert net.sent_lines(ALICE, b"ACK ") == 2  # the ACK is re-sent for the repeated 486
    assert alice.layer.counts() == {} and bob.layer.counts() == {}


def test_non_invite_with_lost_final_response_gets_the_stored_answer():
    net = Net(drop={1})  # Bob's 200 is lost; Alice's retransmission gets it again
    alice = UA(net, ALICE)
    bob = UA(net, BOB, answers=(200,))
    alice.layer.send_request(new_request("OPTIONS"), BOB, 0.0)
    net.run()
    assert bob.heard == [("request", "OPTIONS")]
    assert alice.heard == [("response", 200)]
    assert net.sent_lines(BOB, b"SIP/2.0 200") == 2
    assert alice.layer.counts() == {} and bob.layer.counts() == {}


@settings(max_examples=80, deadline=None)
@given(drop=st.sets(st.integers(min_value=0, max_value=15), max_size=8))
def test_any_loss_pattern_gives_one_request_and_at_most_one_final(drop):
    net = Net(drop=drop)
    alice = UA(net, ALICE)
    bob = UA(net, BOB, answers=(200,))
    alice.layer.send_request(new_request("MESSAGE"), BOB, 0.0)
    net.run()
    assert bob.heard in ([], [("request", "MESSAGE")])
    finals = [h for h in alice.heard if h[0] == "response"]
    timeouts = [h for h in alice.heard if h[0] == "timeout"]
    assert (finals, timeouts) in (([("response", 200)], []), ([], [("timeout", "F")]))
    if finals:
        assert bob.heard == [("request", "MESSAGE")]
    assert alice.layer.counts() == {} and bob.layer.counts() == {}
    assert len(alice.layer.heap) == 0 and len(bob.layer.heap) == 0


@settings(max_examples=60, deadline=None)
@given(drop=st.sets(st.integers(min_value=0, max_value=20), max_size=10))
def test_any_loss_pattern_on_a_rejected_invite(drop):
    net = Net(drop=drop)
    alice = UA(net, ALICE)
    bob = UA(net, BOB, answers=(603,))
    alice.layer.send_request(new_request("INVITE"), BOB, 0.0)
    net.run()
    # Bob hears the INVITE at most once; a lost ACK may add a Timer H notice (checked below).
    assert [h for h in bob.heard if h[0] == "request"] in ([], [("request", "INVITE")])
    results = [h for h in alice.heard if h[0] in ("response", "timeout")]
    assert results in ([("response", 603)], [("timeout", "B")])
    assert [h for h in bob.heard if h[0] == "ack_timeout"] in ([], [("ack_timeout", None)])
    assert alice.layer.counts() == {} and bob.layer.counts() == {}
