"""RFC 3311 UPDATE in early and confirmed dialogs, with and without SDP, and
its glare rules (491, 500 with Retry-After)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, Net, one, requests, responses, uri  # noqa: E402

from sipflow.sip import events as ev  # noqa: E402
from sipflow.sip.parser import parse_message  # noqa: E402

OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
OFFER2 = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"


def confirmed(net: Net):
    h = net[A].invite(uri(B), body=OFFER)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=ANSWER)
    net.take(A)
    net.take(B)
    return h, inv.handle


def early(net: Net):
    """A reliable 183 with the answer, PRACKed: an early dialog with a
    completed offer/answer."""
    h = net[A].invite(uri(B), body=OFFER)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 183, body=ANSWER, reliable=True)
    assert responses(net.take(A), 183)[0].reliable
    net[A].request(h, "PRACK")
    prack = one(net.take(B), ev.RequestReceived)
    net[B].respond(prack.request_id, 200)
    net.take(A)
    return h, inv


def test_update_in_early_dialog_with_sdp():
    net = Net(A, B)
    h, inv = early(net)
    net[A].request(h, "UPDATE", body=OFFER2)
    upd = one(net.take(B), ev.RequestReceived)
    assert (upd.method, upd.in_dialog, upd.handle) == ("UPDATE", True, inv.handle)
    assert upd.message.body == OFFER2 and upd.message.headers.get("Contact")
    net[B].respond(upd.request_id, 200, body=ANSWER)
    ok = responses(net.take(A), 200)[0]
    assert (ok.method, ok.message.body) == ("UPDATE", ANSWER)
    assert ok.message.headers.get("Contact")  # a 2xx to UPDATE refreshes the target
    # The call still completes afterwards.
    net[B].respond(inv.request_id, 200, body=ANSWER)
    a = net.take(A)
    one(a, ev.DialogEstablished)
    assert responses(a, 200)[0].method == "INVITE"


def test_update_in_early_dialog_from_the_callee():
    net = Net(A, B)
    h, inv = early(net)
    net[B].request(inv.handle, "UPDATE", body=OFFER2)
    upd = one(net.take(A), ev.RequestReceived)
    assert (upd.method, upd.in_dialog, upd.handle) == ("UPDATE", True, h)
    net[A].respond(upd.request_id, 200, body=ANSWER)
    assert responses(net.take(B), 200)[0].method == "UPDATE"


def test_update_in_confirmed_dialog_without_sdp():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[B].request(hb, "UPDATE")
    upd = one(net.take(A), ev.RequestReceived)
    assert upd.message.body == b"" and upd.in_dialog
    net[A].respond(upd.request_id, 200)
    ok = responses(net.take(B), 200)[0]
    assert ok.method == "UPDATE" and ok.message.body == b""


def test_update_in_confirmed_dialog_with_sdp_updates_offer_answer_state():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[A].request(h, "UPDATE", body=OFFER2)
    assert net[A].core.dialog_of(h).invite.local_offer is True
    upd = one(net.take(B), ev.RequestReceived)
    assert net[B].core.dialog_of(hb).invite.remote_offer is True
    net[B].respond(upd.request_id, 200, body=ANSWER)
    net.flush()
    assert net[A].core.dialog_of(h).invite.local_offer is False
    assert net[B].core.dialog_of(hb).invite.remote_offer is False


def test_update_glare_gets_491_both_ways():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[A].request(h, "UPDATE", body=OFFER2)
    net[B].request(hb, "UPDATE", body=OFFER2)
    a, b = net.take(A), net.take(B)
    assert [(e.method, e.code) for e in responses(a)] == [("UPDATE", 491)]
    assert [(e.method, e.code) for e in responses(b)] == [("UPDATE", 491)]
    assert requests(a, "UPDATE") == [] and requests(b, "UPDATE") == []
    # The rejected offers are withdrawn: a new UPDATE goes through.
    assert net[A].core.dialog_of(h).invite.local_offer is False
    net[A].request(h, "UPDATE", body=OFFER2)
    upd = one(net.take(B), ev.RequestReceived)
    net[B].respond(upd.request_id, 200, body=ANSWER)
    assert responses(net.take(A), 200)


def test_update_without_sdp_is_not_glare():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[A].request(h, "UPDATE", body=OFFER2)
    net[B].request(hb, "UPDATE")  # no offer: a session refresh
    a, b = net.take(A), net.take(B)
    assert [e.method for e in requests(a, "UPDATE")] == ["UPDATE"]
    assert [e.method for e in requests(b, "UPDATE")] == ["UPDATE"]


def test_reinvite_while_our_update_offer_is_pending_gets_491():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[A].request(h, "UPDATE", body=OFFER2)
    net[B].request(hb, "INVITE", body=OFFER2)
    assert [(e.method, e.code) for e in responses(net.take(B))] == [("INVITE", 491)]
    assert requests(net.take(A), "INVITE") == []


def test_update_offer_while_a_remote_offer_is_unanswered_gets_500_retry_after():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[A].request(h, "UPDATE", body=OFFER2)
    first = one(net.take(B), ev.RequestReceived)
    net[A].request(h, "UPDATE", body=OFFER)  # A misbehaves: a second offer
    a = net.take(A)
    rejected = responses(a, 500)
    assert len(rejected) == 1 and rejected[0].message.headers.get("Retry-After") == "5"
    assert requests(net.take(B), "UPDATE") == []
    assert first.request_id


def test_update_refreshes_remote_target():
    net = Net(A, B)
    h, hb = confirmed(net)
    net[A].request(h, "UPDATE", headers=[])
    upd = one(net.take(B), ev.RequestReceived)
    dialog = net[B].core.dialog_of(hb)
    # Replay the UPDATE with a new Contact (new CSeq and branch).
    msg = upd.message
    raw = msg.serialize()
    seq = msg.cseq.seq
    raw = raw.replace(msg.top_via.branch.encode(), b"z9hG4bKnewtarget")
    raw = raw.replace(f"CSeq: {seq} UPDATE".encode(), f"CSeq: {seq + 1} UPDATE".encode())
    raw = raw.replace(b"<sip:sipflow@127.0.0.1:5061>", b"<sip:moved@127.0.0.1:5061>")
    net[B].respond(upd.request_id, 200)
    net[B].receive(raw, A, net.now)
    assert dialog.remote_target == "sip:moved@127.0.0.1:5061"
    second = one(net.take(B), ev.RequestReceived)
    net[B].respond(second.request_id, 200)
    out = [parse_message(d) for _t, s, _d, d in net.wire if s == B]
    assert out[-1].status == 200 and out[-1].headers.get("Contact")
