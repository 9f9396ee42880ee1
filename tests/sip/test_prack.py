"""RFC 3262 reliable provisionals between two in-memory endpoints, and the
RSeq/RAck bookkeeping of ``sipflow.sip.reliable``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, Net, one, requests, responses, uri  # noqa: E402

from sipflow.sip import events as ev  # noqa: E402
from sipflow.sip.errors import LocalProtocolError  # noqa: E402
from sipflow.sip.headers import RAck  # noqa: E402
from sipflow.sip.parser import parse_message  # noqa: E402
from sipflow.sip.reliable import ReliableReceiver, ReliableSender  # noqa: E402

OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=offer\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=answer\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"


def start(net: Net, **invite):
    h = net[A].invite(uri(B), **invite)
    inv = one(net.take(B), ev.RequestReceived)
    return h, inv


def wire_from(net: Net, src, prefix: bytes):
    return [(t, parse_message(d)) for t, s, _dst, d in net.wire if s == src and d.startswith(prefix)]


def test_reliable_183_carries_rseq_and_is_prack_matched_by_rack():
    net = Net(A, B)
    h, inv = start(net, body=OFFER)
    assert "100rel" in inv.message.supported
    net[B].respond(inv.request_id, 183, body=ANSWER, reliable=True)
    got = responses(net.take(A), 183)
    assert len(got) == 1 and got[0].reliable is True
    msg = got[0].message
    assert "100rel" in msg.require and msg.rseq is not None and msg.body == ANSWER
    net[A].request(h, "PRACK")
    prack = one(net.take(B), ev.RequestReceived)
    assert prack.method == "PRACK" and prack.in_dialog
    assert prack.message.rack == RAck(msg.rseq, inv.message.cseq.seq, "INVITE")
    net[B].respond(prack.request_id, 200)
    assert [(e.method, e.code) for e in responses(net.take(A))] == [("PRACK", 200)]
    net[B].respond(inv.request_id, 200, body=ANSWER)
    a = net.take(A)
    assert responses(a, 200)[0].method == "INVITE"
    one(a, ev.DialogEstablished)


def test_reliable_provisional_is_retransmitted_t1_doubling_until_prack():
    net = Net(A, B)
    h, inv = start(net)
    net[B].respond(inv.request_id, 180, reliable=True)
    net.take(A)
    net.run_for(3.6)  # retransmissions at 0.5, 1.5, 3.5
    sent = wire_from(net, B, b"SIP/2.0 180")
    times = [round(t, 3) for t, _ in sent]
    assert times == [0.0, 0.5, 1.5, 3.5]
    assert len({m.rseq for _, m in sent}) == 1
    # The retransmissions never reach the application a second time.
    assert responses(net.take(A)) == []
    net[A].request(h, "PRACK")
    prack = one(net.take(B), ev.RequestReceived)
    net[B].respond(prack.request_id, 200)
    net.run_for(20)
    assert len(wire_from(net, B, b"SIP/2.0 180")) == 4


def test_unacknowledged_reliable_provisional_gives_up_with_504():
    net = Net(A, B)
    net.drop = lambda src, dst, data: data.startswith(b"PRACK")
    h, inv = start(net)
    net[B].respond(inv.request_id, 180, reliable=True)
    for e in responses(net.take(A), 180):
        net[A].request(h, "PRACK")
        assert e.reliable
    net.run_for(40)
    b = net.take(B)
    assert one(b, ev.PrackTimeout).handle == inv.handle
    assert net[B].pending_invite(inv.handle) is None
    a = net.take(A)
    assert [(e.method, e.code) for e in responses(a) if e.method == "INVITE"] == [("INVITE", 504)]
    net.run_idle()
    assert {k: v for k, v in net[B].counts().items() if v} == {}


def test_offer_in_reliable_183_answer_in_prack():
    net = Net(A, B)
    h, inv = start(net)  # no offer in the INVITE
    net[B].respond(inv.request_id, 183, body=OFFER, reliable=True)
    r183 = responses(net.take(A), 183)[0]
    assert r183.message.body == OFFER
    net[A].request(h, "PRACK", body=ANSWER)
    prack = one(net.take(B), ev.RequestReceived)
    assert prack.message.body == ANSWER and prack.message.content_type == "application/sdp"
    net[B].respond(prack.request_id, 200)
    usage = net[B].core.dialog_of(inv.handle).invite
    assert usage.local_offer is False and usage.remote_offer is False
    usage_a = net[A].core.dialog_of(h).invite
    assert usage_a.local_offer is False and usage_a.remote_offer is False


def test_second_reliable_provisional_waits_for_the_first_prack():
    net = Net(A, B)
    h, inv = start(net)
    net[B].respond(inv.request_id, 180, reliable=True)
    net[B].respond(inv.request_id, 183, reliable=True)
    got = responses(net.take(A))
    assert [e.code for e in got] == [180]
    net[A].request(h, "PRACK")
    prack = one(net.take(B), ev.RequestReceived)
    net[B].respond(prack.request_id, 200)
    got = {(e.method, e.code): e for e in responses(net.take(A))}
    assert sorted(got) == [("INVITE", 183), ("PRACK", 200)]  # the 183 went once PRACKed
    assert got["INVITE", 183].message.rseq == prack.message.rack.rseq + 1


def test_prack_matching_nothing_gets_481():
    net = Net(A, B)
    h, inv = start(net)
    net[B].respond(inv.request_id, 180, reliable=True)
    net.take(A)
    net[A].request(h, "PRACK")
    prack = one(net.take(B), ev.RequestReceived)
    net[B].respond(prack.request_id, 200)
    net.take(A)
    # A second PRACK for the same RSeq (already acknowledged) matches nothing.
    net[A].request(h, "PRACK")
    a = net.take(A)
    assert [(e.method, e.code) for e in responses(a)] == [("PRACK", 481)]
    assert requests(net.take(B), "PRACK") == []


def test_reliable_provisional_to_a_peer_without_100rel_raises():
    net = Net(A, B)
    _h, inv = start(net, rel100="none")
    assert "100rel" not in inv.message.supported
    with pytest.raises(LocalProtocolError, match="421"):
        net[B].respond(inv.request_id, 180, reliable=True)
    net.run_for(0.25)  # the failed attempt did not cancel the 100 Trying
    assert [d for _t, s, _d, d in net.wire if s == B][0].startswith(b"SIP/2.0 100")
    # The table's alternative: 421 with Require: 100rel.
    net[B].respond(inv.request_id, 421, headers=[("Require", "100rel")])
    assert responses(net.take(A), 421)[0].message.require == frozenset({"100rel"})


def test_require_100rel_is_sent_and_accepted():
    net = Net(A, B)
    _h, inv = start(net, rel100="required")
    assert "100rel" in inv.message.require
    net[B].respond(inv.request_id, 180, reliable=True)
    assert responses(net.take(A), 180)[0].reliable


def test_prack_without_reliable_provisional_is_a_local_error():
    net = Net(A, B)
    h, inv = start(net)
    net[B].respond(inv.request_id, 180)
    assert responses(net.take(A), 180)[0].reliable is False
    with pytest.raises(LocalProtocolError):
        net[A].request(h, "PRACK")


def test_reliable_sender_and_receiver_bookkeeping():
    sender = ReliableSender(cseq=7, next_rseq=100)
    assert sender.take_rseq() == 100
    out = sender.start(100, object(), now=10.0, t1=0.5)
    assert (out.next_at, out.give_up_at) == (10.5, 42.0)
    sender.retransmitted(10.5)
    assert out.next_at == 11.5
    assert sender.matches(RAck(100, 7, "INVITE"))
    assert not sender.matches(RAck(101, 7, "INVITE"))
    assert not sender.matches(RAck(100, 8, "INVITE"))
    assert not sender.matches(RAck(100, 7, "BYE"))
    sender.acknowledge()
    assert sender.next_deadline() is None and not sender.matches(RAck(100, 7, "INVITE"))
    receiver = ReliableReceiver()
    assert receiver.rack() is None
    assert receiver.accept(5, 7)
    assert not receiver.accept(5, 7)  # retransmission
    assert not receiver.accept(7, 7)  # gap: out of order
    assert receiver.accept(6, 7)
    assert receiver.rack() == RAck(6, 7, "INVITE")


def test_each_fork_has_its_own_rseq_space_and_prack():
    from test_ua_harness import C

    net = Net(A, B, C)
    net.tee = lambda src, dst, data: [C] if dst == B and data.startswith(b"INVITE") else []
    h = net[A].invite(uri(B), body=OFFER)
    inv_b = one(net.take(B), ev.RequestReceived)
    inv_c = one(net.take(C), ev.RequestReceived)
    net[B].respond(inv_b.request_id, 183, body=ANSWER, reliable=True)
    net[C].respond(inv_c.request_id, 183, body=ANSWER, reliable=True)
    early = responses(net.take(A), 183)
    assert len(early) == 2 and all(e.reliable for e in early)
    assert early[0].dialog != early[1].dialog
    for e in early:
        net[A].request(h, "PRACK", dialog=e.dialog)
    prack_b = one(net.take(B), ev.RequestReceived)
    prack_c = one(net.take(C), ev.RequestReceived)
    assert prack_b.message.rack.rseq == early[0].message.rseq
    assert prack_c.message.rack.rseq == early[1].message.rseq
    assert prack_b.message.to_tag == early[0].dialog and prack_c.message.to_tag == early[1].dialog
    net[B].respond(prack_b.request_id, 200)
    net[C].respond(prack_c.request_id, 200)
    assert sorted(e.method for e in responses(net.take(A))) == ["PRACK", "PRACK"]
