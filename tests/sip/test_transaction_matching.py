"""Transaction matching (RFC 3261 §17.1.3, §17.2.3, §9.2 and the RFC 2543
fallback), memory hygiene (no transaction or timer left behind) and
properties of the retransmission schedules, in virtual time."""

from __future__ import annotations

import gc
import itertools
import weakref

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.timers import TimerHeap
from sipflow.sip.transaction import ServerTransaction, TimerConfig, TransactionLayer
from sipflow.sip.types import Address

PEER = Address("udp", "192.0.2.7", 5060)
_ids = itertools.count(1)


def request(
    method: str = "INVITE",
    branch: str | None = "auto",
    *,
    via_host: str = "192.0.2.7:5060",
    cseq: int = 1,
    cseq_method: str | None = None,
    to_tag: str | None = None,
    call_id: str = "c1@host",
    uri: str = "sip:bob@example.com",
) -> Request:
    if branch == "auto":
        branch = f"z9hG4bK{next(_ids)}"
    via = f"SIP/2.0/UDP {via_host}" + (f";branch={branch}" if branch is not None else "")
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return Request(
        method,
        uri,
        [
            ("Via", via),
            ("From", "<sip:alice@example.com>;tag=f1"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {cseq_method or method}"),
            ("Max-Forwards", "70"),
        ],
    )


def reply(req: Request, status: int, to_tag: str = "t1") -> Response:
    response = make_response(req, status)
    if status > 100 and req.to_tag is None:
        response.headers.set("To", f"{req.headers.get('to')};tag={to_tag}")
    return response


class TU:
    def __init__(self) -> None:
        self.requests: list[tuple[ServerTransaction | None, str]] = []
        self.responses: list[int] = []
        self.stray: list[int] = []
        self.timeouts: list[str] = []

    def on_request(self, txn, req, source, now):
        self.requests.append((txn, req.method))

    def on_response(self, txn, response, now):
        self.responses.append(response.status)

    def on_stray_response(self, response, source, now):
        self.stray.append(response.status)

    def on_timeout(self, txn, timer, now):
        self.timeouts.append(timer)

    def on_transport_error(self, txn, now):
        raise AssertionError("no transport error expected")


def new_layer(config: TimerConfig | None = None) -> tuple[TransactionLayer, TU, list[bytes]]:
    tu = TU()
    sent: list[bytes] = []
    layer = TransactionLayer(tu, lambda data, dest: sent.append(data), config or TimerConfig())
    return layer, tu, sent


def drain(layer: TransactionLayer, limit: float = 1e6) -> None:
    deadline = layer.next_deadline()
    while deadline is not None and deadline <= limit:
        layer.handle_timers(deadline)
        deadline = layer.next_deadline()


# -- RFC 3261 matching ----------------------------------------------------------------


def test_cancel_matches_its_invite_by_branch_and_is_its_own_transaction():
    layer, tu, _ = new_layer()
    invite = request(branch="z9hG4bKinv1")
    layer.receive_request(invite, PEER, 0.0)
    inv_txn = tu.requests[0][0]
    cancel = request("CANCEL", branch="z9hG4bKinv1")
    layer.receive_request(cancel, PEER, 0.1)
    can_txn, method = tu.requests[1]
    assert method == "CANCEL" and can_txn is not inv_txn and not can_txn.is_invite
    assert layer.find_cancel_target(cancel) is inv_txn
    assert layer.counts() == {"invite_server": 1, "non_invite_server": 1}
    assert layer.find_cancel_target(request("CANCEL", branch="z9hG4bKother")) is None
    moved = request("CANCEL", branch="z9hG4bKinv1", via_host="192.0.2.8:5060")
    assert layer.find_cancel_target(moved) is None  # sent-by differs
    layer.respond(can_txn, reply(cancel, 200), 0.2)
    layer.respond(inv_txn, reply(invite, 487), 0.2)
    layer.receive_request(request("ACK", "z9hG4bKinv1", cseq_method="ACK", to_tag="t1"), PEER, 0.3)
    assert inv_txn.state == "Confirmed"
    drain(layer)
    assert layer.find_cancel_target(cancel) is None and layer.counts() == {}


def test_same_branch_from_another_sent_by_is_another_transaction():
    layer, tu, _ = new_layer()
    layer.receive_request(request("OPTIONS", "z9hG4bKsame"), PEER, 0.0)
    layer.receive_request(request("OPTIONS", "z9hG4bKsame", via_host="198.51.100.1"), PEER, 0.0)
    layer.receive_request(request("OPTIONS", "z9hG4bKsame"), PEER, 0.1)  # retransmission
    assert len(tu.requests) == 2 and layer.counts() == {"non_invite_server": 2}


def test_sent_by_without_port_matches_the_default_port_and_host_case():
    layer, tu, _ = new_layer()
    layer.receive_request(request("OPTIONS", "z9hG4bKp", via_host="Host.Example.com"), PEER, 0.0)
    layer.receive_request(
        request("OPTIONS", "z9hG4bKp", via_host="host.example.com:5060"), PEER, 0.1
    )
    assert len(tu.requests) == 1


def test_same_branch_different_method_is_another_transaction():
    layer, tu, _ = new_layer()
    layer.receive_request(request("OPTIONS", "z9hG4bKm"), PEER, 0.0)
    layer.receive_request(request("INFO", "z9hG4bKm"), PEER, 0.0)
    assert [m for _, m in tu.requests] == ["OPTIONS", "INFO"]


def test_ack_with_new_branch_for_a_2xx_goes_to_the_tu_without_transaction():
    layer, tu, _ = new_layer()
    invite = request(branch="z9hG4bKi")
    layer.receive_request(invite, PEER, 0.0)
    layer.respond(tu.requests[0][0], reply(invite, 200), 0.0)
    layer.receive_request(request("ACK", "z9hG4bKa", cseq_method="ACK", to_tag="t1"), PEER, 0.1)
    layer.receive_request(request("ACK", "z9hG4bKz", cseq_method="ACK", to_tag="x"), PEER, 0.1)
    assert tu.requests[1:] == [(None, "ACK"), (None, "ACK")]


# -- RFC 2543 fallback (§17.2.3) --------------------------------------------------------


def test_request_without_magic_cookie_is_matched_by_the_fallback():
    layer, tu, sent = new_layer()
    for branch in (None, "old-style-1"):
        invite = request(branch=branch, call_id=f"{branch}@host")
        layer.receive_request(invite, PEER, 0.0)
        layer.receive_request(invite, PEER, 0.5)  # retransmission: absorbed
    assert [m for _, m in tu.requests] == ["INVITE", "INVITE"]
    assert sum(data.startswith(b"SIP/2.0 100") for data in sent) == 4


def test_fallback_distinguishes_cseq_call_id_uri_and_from_tag():
    layer, tu, _ = new_layer()
    layer.receive_request(request("OPTIONS", None), PEER, 0.0)
    layer.receive_request(request("OPTIONS", None, cseq=2), PEER, 0.0)
    layer.receive_request(request("OPTIONS", None, call_id="other"), PEER, 0.0)
    layer.receive_request(request("OPTIONS", None, uri="sip:carol@example.com"), PEER, 0.0)
    layer.receive_request(request("OPTIONS", None, via_host="192.0.2.9"), PEER, 0.0)
    layer.receive_request(request("OPTIONS", None), PEER, 0.1)  # retransmission of the first
    assert len(tu.requests) == 5


def test_cancel_matched_by_the_fallback():
    layer, tu, _ = new_layer()
    invite = request(branch=None)
    layer.receive_request(invite, PEER, 0.0)
    cancel = request("CANCEL", None)
    layer.receive_request(cancel, PEER, 0.2)
    assert tu.requests[1][1] == "CANCEL"
    assert layer.find_cancel_target(cancel) is tu.requests[0][0]
    assert layer.find_cancel_target(request("CANCEL", None, cseq=9)) is None
    assert layer.find_cancel_target(request("CANCEL", None, call_id="x@y")) is None


def test_fallback_ack_matches_by_the_to_tag_of_the_response():
    layer, tu, _ = new_layer()
    invite = request(branch=None)
    layer.receive_request(invite, PEER, 0.0)
    txn = tu.requests[0][0]
    layer.respond(txn, reply(invite, 486, to_tag="busy7"), 0.1)
    wrong = request("ACK", None, cseq_method="ACK", to_tag="nope")
    layer.receive_request(wrong, PEER, 0.2)
    assert txn.state == "Completed" and tu.requests[-1] == (None, "ACK")
    layer.receive_request(request("ACK", None, cseq_method="ACK", to_tag="busy7"), PEER, 0.3)
    assert txn.state == "Confirmed" and len(tu.requests) == 2


def test_fallback_ack_of_a_reinvite_keeps_the_dialog_to_tag():
    layer, tu, _ = new_layer()
    reinvite = request(branch=None, to_tag="d1", cseq=5)
    layer.receive_request(reinvite, PEER, 0.0)
    txn = tu.requests[0][0]
    layer.respond(txn, reply(reinvite, 491), 0.1)
    layer.receive_request(request("ACK", None, cseq=5, cseq_method="ACK", to_tag="d1"), PEER, 0.2)
    assert txn.state == "Confirmed"


def test_malformed_via_raises_the_remote_error_with_the_header_named():
    layer, _, _ = new_layer()
    bad = Request(
        "OPTIONS",
        "sip:bob@example.com",
        [
            ("Via", "garbage"),
            ("From", "<sip:a@b>;tag=1"),
            ("To", "<sip:b@c>"),
            ("Call-ID", "x"),
            ("CSeq", "1 OPTIONS"),
        ],
    )
    from sipflow.sip.errors import RemoteProtocolError

    try:
        layer.receive_request(bad, PEER, 0.0)
    except RemoteProtocolError as error:
        assert "Via" in error.reason
    else:
        raise AssertionError("a malformed Via must be reported")
    assert layer.counts() == {}


# -- memory ------------------------------------------------------------------------------


def test_no_transaction_or_timer_left_after_10000_transactions():
    """2,500 each of: INVITE client (486 then ACK), non-INVITE client (200),
    INVITE server (200, then the TU's ACK), non-INVITE server (200); all UDP,
    so every Timer D, I, J, K, L, M runs."""
    layer, tu, sent = new_layer()
    now = 0.0
    for i in range(2_500):
        now = i * 0.01
        invite = request()
        layer.send_request(invite, PEER, now)
        layer.receive_response(reply(invite, 486), PEER, now)
        bye = request("BYE", to_tag="t1")
        layer.send_request(bye, PEER, now)
        layer.receive_response(reply(bye, 200), PEER, now)
        incoming = request(call_id=f"in{i}")
        layer.receive_request(incoming, PEER, now)
        layer.respond(tu.requests[-1][0], reply(incoming, 200), now)
        options = request("OPTIONS")
        layer.receive_request(options, PEER, now)
        layer.respond(tu.requests[-1][0], reply(options, 200), now)
        layer.handle_timers(now)
    # D, L and J (32 s) keep every server and INVITE client transaction; K (5 s)
    # only the non-INVITE clients of the last 5 s.
    assert layer.counts() == {
        "invite_client": 2_500,
        "invite_server": 2_500,
        "non_invite_server": 2_500,
        "non_invite_client": 500,
    }
    drain(layer)
    assert layer.counts() == {}
    assert len(layer.heap) == 0 and layer.next_deadline() is None
    assert layer._clients == {} and layer._servers == {}
    assert tu.timeouts == [] and tu.responses.count(486) == 2_500


def test_cancelled_timers_do_not_pile_up_in_the_heap():
    layer, _, _ = new_layer(TimerConfig())
    for _ in range(2_000):
        req = request("OPTIONS")
        layer.send_request(req, Address("tcp", "192.0.2.7", 5060), 0.0)
        layer.receive_response(reply(req, 200), PEER, 0.0)  # F cancelled, K = 0: gone
    assert layer.counts() == {}
    assert len(layer.heap) < 2 * TimerHeap.COMPACT_MIN
    assert layer.next_deadline() is None and len(layer.heap) == 0


# -- properties of the retransmission schedules -----------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    t1=st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0]),
    t2_factor=st.integers(min_value=1, max_value=16),
    proceed_after=st.one_of(st.none(), st.floats(min_value=0.0, max_value=40.0)),
)
def test_timer_e_schedule_property(t1, t2_factor, proceed_after):
    """Non-INVITE client over UDP: the k-th gap is min(T1*2^k, T2) while Trying,
    the first gap that ends in Proceeding is the Trying one and every later gap
    is T2; Timer F fires at 64*T1 exactly when no final response came."""
    config = TimerConfig(t1=t1, t2=t1 * t2_factor)
    layer, tu, _ = new_layer(config)
    times: list[float] = []
    clock = [0.0]

    def send(data: bytes, dest: Address) -> None:
        times.append(clock[0])

    layer.send = send
    req = request("OPTIONS")
    layer.send_request(req, PEER, 0.0)
    pending_1xx = proceed_after
    while (deadline := layer.next_deadline()) is not None:
        if pending_1xx is not None and pending_1xx < deadline:
            clock[0] = pending_1xx
            layer.receive_response(reply(req, 100), PEER, pending_1xx)
            pending_1xx = None
            continue
        clock[0] = deadline
        layer.handle_timers(deadline)
    assert tu.timeouts == ["F"]
    assert times[-1] < 64 * t1
    interval = t1
    for k, (a, b) in enumerate(itertools.pairwise(times)):
        in_proceeding = proceed_after is not None and a > proceed_after
        expected = config.t2 if in_proceeding else interval
        assert abs((b - a) - expected) < 1e-9, (k, a, b, expected)
        interval = min(interval * 2, config.t2)


@settings(max_examples=40, deadline=None)
@given(
    t1=st.sampled_from([0.05, 0.1, 0.5, 2.0]),
    ack_at=st.one_of(st.none(), st.floats(min_value=0.0, max_value=100.0)),
    reliable=st.booleans(),
)
def test_invite_server_completed_property(t1, ack_at, reliable):
    """INVITE server after a 4xx: Timer G retransmits (UDP only) until the ACK or
    Timer H; after the ACK it is Confirmed for T4 (0 on TCP); nothing is left."""
    config = TimerConfig(t1=t1, t2=max(4.0, t1))
    source = Address("tcp" if reliable else "udp", "192.0.2.7", 5060)
    layer, tu, sent = new_layer(config)
    layer.tu.on_ack_timeout = lambda txn, now: tu.timeouts.append(("H", now))
    invite = request()
    layer.receive_request(invite, source, 0.0)
    txn = tu.requests[0][0]
    layer.respond(txn, reply(invite, 404), 0.0)
    ack_pending = ack_at
    while (deadline := layer.next_deadline()) is not None:
        if ack_pending is not None and ack_pending < deadline:
            ack = request("ACK", invite.top_via.branch, cseq_method="ACK", to_tag="t1")
            layer.receive_request(ack, source, ack_pending)
            ack_pending = None
            continue
        layer.handle_timers(deadline)
    responses = [parse_message(d).status for d in sent if d.startswith(b"SIP/2.0 404")]
    if reliable:
        assert responses == [404]
    if ack_at is None or ack_at >= 64 * t1:
        assert tu.timeouts == [("H", 64 * t1)]
    else:
        assert tu.timeouts == []
        assert txn.state == "Terminated"
    assert layer.counts() == {} and len(layer.heap) == 0


# -- the deadline heap -------------------------------------------------------------------


class Owner:
    def __init__(self) -> None:
        self._retx_token = 0
        self._life_token = 0


def test_timer_heap_orders_replaces_and_cancels():
    heap = TimerHeap()
    a, b = Owner(), Owner()
    heap.arm(a, "A", 2.0)
    heap.arm(a, "B", 5.0)
    heap.arm(b, "E", 1.0)
    heap.arm(b, "E", 3.0)  # replaces b's first E
    assert heap.next_deadline() == 2.0
    assert list(heap.pop_due(2.5)) == [(a, "A")]
    heap.cancel_lifetime(a)
    assert heap.next_deadline() == 3.0
    assert list(heap.pop_due(1e9)) == [(b, "E")]
    assert heap.next_deadline() is None and len(heap) == 0


def test_timer_heap_entries_hold_no_owner_and_a_stale_one_pins_nothing():
    heap = TimerHeap()
    owner = Owner()
    gone = weakref.ref(owner)
    heap.arm(owner, "F", 32.0)
    heap.arm(owner, "K", 5.0)  # replaces F: its entry is stale
    gc.collect()
    assert len(heap) == 2 and not any(gc.is_tracked(entry) for entry in heap._heap)
    assert list(heap.pop_due(5.0)) == [(owner, "K")]
    del owner
    gc.collect()
    assert gone() is None  # ended: freed though the stale F entry waits until 32 s
    assert len(heap) == 1 and heap.next_deadline() is None and len(heap) == 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["A", "B", "E", "K"]),
                          st.integers(0, 50), st.booleans()), max_size=60))
def test_timer_heap_matches_a_plain_model(ops):
    """Arms and cancels on a few owners against a dict model: what pops, in
    which order, and the next deadline agree after every step."""
    heap = TimerHeap()
    owners = [Owner() for _ in range(5)]
    model: dict[tuple[int, bool], tuple[int, int, str]] = {}  # (owner, retx?) -> (when, seq, name)
    for seq, (i, name, when, cancel) in enumerate(ops):
        retx = name in ("A", "E")
        if cancel:
            (heap.cancel_retransmit if retx else heap.cancel_lifetime)(owners[i])
            model.pop((i, retx), None)
        else:
            heap.arm(owners[i], name, float(when))
            model[(i, retx)] = (when, seq, name)
        expected = min((w for w, _, _ in model.values()), default=None)
        assert heap.next_deadline() == (None if expected is None else float(expected))
    fired = list(heap.pop_due(1e9))
    expect = sorted(model.items(), key=lambda kv: (kv[1][0], kv[1][1]))
    assert fired == [(owners[i], name) for (i, _), (_, _, name) in expect]
    assert heap.next_deadline() is None


def test_timer_heap_yields_timers_rearmed_during_iteration_when_due():
    heap = TimerHeap()
    owner = Owner()
    heap.arm(owner, "G", 1.0)
    fired = []
    for item, name in heap.pop_due(10.0):
        fired.append(name)
        if len(fired) < 3:
            heap.arm(item, name, 1.0 + len(fired))
    assert fired == ["G", "G", "G"]


def test_nothing_fires_before_its_deadline_and_a_late_call_does_not_burst():
    layer, _, sent = new_layer()
    layer.send_request(request(), PEER, 0.0)
    assert layer.next_deadline() == 0.5
    layer.handle_timers(0.49)
    assert len(sent) == 1
    layer.handle_timers(10.0)  # the driver woke up late: one retransmission, not five
    assert len(sent) == 2
    assert layer.next_deadline() == 11.0  # Timer A goes on from now, doubled
