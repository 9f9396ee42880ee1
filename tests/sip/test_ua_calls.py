"""UA core: complete calls between two in-memory SipEndpoints (virtual time)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, C, Net, one, requests, responses, uri  # noqa: E402

from sipflow.sip import events as ev  # noqa: E402
from sipflow.sip.errors import LocalProtocolError  # noqa: E402
from sipflow.sip.parser import parse_message  # noqa: E402
from sipflow.sip.types import Address  # noqa: E402

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def idle(net: Net) -> None:
    net.run_idle()
    for addr, ep in net.eps.items():
        counts = {k: v for k, v in ep.counts().items() if v}
        assert counts == {}, f"{addr} not idle: {counts}"


def establish(net: Net, caller=A, callee=B):
    """INVITE/180/200/ACK; returns (caller handle, callee handle)."""
    h = net[caller].invite(uri(callee), body=SDP, now=net.now)
    inv = one(net.take(callee), ev.RequestReceived)
    assert (inv.method, inv.in_dialog) == ("INVITE", False)
    net[callee].respond(inv.request_id, 180)
    net[callee].respond(inv.request_id, 200, body=SDP)
    a = net.take(caller)
    assert [e.code for e in responses(a)] == [180, 200]
    assert one(a, ev.DialogEstablished).dialog == responses(a)[1].dialog
    b = net.take(callee)
    assert [e.method for e in requests(b, "ACK")] == ["ACK"]
    one(b, ev.DialogEstablished)
    return h, inv.handle


def test_complete_call_invite_180_200_ack_bye_200():
    net = Net(A, B)
    h, hb = establish(net)
    assert net.methods_on_wire() == ["INVITE", "180", "200", "ACK"]
    net[A].request(h, "BYE")
    bye = one(net.take(B), ev.RequestReceived)
    assert (bye.method, bye.in_dialog, bye.handle) == ("BYE", True, hb)
    net[B].respond(bye.request_id, 200)
    a = net.take(A)
    assert [type(e).__name__ for e in a] == ["ResponseReceived", "DialogTerminated", "HandleReleased"]
    assert (a[0].code, a[0].method) == (200, "BYE")
    assert one(net.take(B), ev.DialogTerminated).reason == "bye-received"
    assert net.methods_on_wire()[-2:] == ["BYE", "200"]
    idle(net)


def test_in_dialog_requests_carry_dialog_identity_and_increasing_cseq():
    net = Net(A, B)
    h, hb = establish(net)
    net[A].request(h, "INFO", body=b"x", content_type="application/dtmf-relay")
    info = one(net.take(B), ev.RequestReceived)
    msg = info.message
    invite = parse_message(net.wire[0][3])
    assert msg.call_id == invite.call_id
    assert msg.from_tag == invite.from_tag and msg.to_tag
    assert msg.cseq.seq == invite.cseq.seq + 1
    assert msg.uri.startswith("sip:sipflow@127.0.0.1:5062")  # B's Contact = remote target
    net[B].respond(info.request_id, 200)
    net[B].request(hb, "INFO", body=b"y", content_type="text/plain")
    back = one(net.take(A), ev.RequestReceived)
    assert back.message.to_tag == invite.from_tag and back.message.from_tag == msg.to_tag
    net[A].respond(back.request_id, 200)
    assert responses(net.take(B), 200)[0].method == "INFO"


def test_cancel_before_answer_gets_200_and_the_app_answers_487():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=SDP)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 180)
    assert net[A].cancel(h) is True
    cancel = one(net.take(B), ev.RequestReceived)
    assert (cancel.method, cancel.request_id, cancel.handle) == ("CANCEL", None, inv.handle)
    assert net[B].pending_invite(inv.handle) == inv.request_id
    net[B].respond(net[B].pending_invite(inv.handle), 487)
    a = net.take(A)
    assert sorted((e.method, e.code) for e in responses(a)) == [
        ("CANCEL", 200), ("INVITE", 180), ("INVITE", 487)]
    assert isinstance(a[-1], ev.HandleReleased)
    assert "DialogTerminated" not in [type(e).__name__ for e in a]
    wire = net.methods_on_wire()
    assert wire.count("ACK") == 1 and "CANCEL" in wire  # ACK of the 487 by the transaction
    idle(net)


def test_cancel_is_deferred_until_a_provisional_arrives():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    assert net[A].cancel(h) is True  # before anything came back: no CANCEL yet
    assert [parse_message(t.data).method for t in net[A].take_transmits()] == ["INVITE"]


def test_cancel_after_final_response_returns_false():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    net.flush()
    assert net[A].cancel(h) is False


def test_cancel_matching_nothing_gets_481():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 486)
    net.flush()
    invite = parse_message(net.wire[0][3])
    cancel = invite.serialize().replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(
        f"CSeq: {invite.cseq.seq} INVITE".encode(), f"CSeq: {invite.cseq.seq} CANCEL".encode())
    cancel = cancel.replace(invite.top_via.branch.encode(), b"z9hG4bKother")
    net[B].receive(cancel, A, net.now)
    out = [parse_message(t.data) for t in net[B].take_transmits()]
    assert [m.status for m in out] == [481]
    assert h


def test_busy_486_is_reported_and_everything_is_released():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 486)
    a = net.take(A)
    assert [(e.code, e.reason) for e in responses(a)] == [(486, "Busy Here")]
    assert a[-1] == ev.HandleReleased(h)
    assert one(net.take(B), ev.HandleReleased).handle == inv.handle
    assert net.methods_on_wire() == ["INVITE", "486", "ACK"]
    with pytest.raises(LocalProtocolError):
        net[B].respond(inv.request_id, 200)
    idle(net)


def test_forking_two_early_dialogs_first_2xx_wins_second_is_acked_and_byed():
    net = Net(A, B, C)
    net.tee = lambda src, dst, data: [C] if dst == B and data.startswith(b"INVITE") else []
    h = net[A].invite(uri(B), body=SDP)
    inv_b = one(net.take(B), ev.RequestReceived)
    inv_c = one(net.take(C), ev.RequestReceived)
    net[B].respond(inv_b.request_id, 180)
    net[C].respond(inv_c.request_id, 180)
    early = responses(net.take(A), 180)
    assert len(early) == 2 and early[0].dialog != early[1].dialog
    assert net[A].counts()["dialogs"] == 2
    net[B].respond(inv_b.request_id, 200, body=SDP)
    a = net.take(A)
    established = one(a, ev.DialogEstablished)
    assert established.dialog == early[0].dialog
    assert net[A].counts()["dialogs"] == 1
    net[C].respond(inv_c.request_id, 200, body=SDP)
    a = net.take(A)
    assert responses(a) == []  # the losing fork never reaches the application
    c = net.take(C)
    assert [e.method for e in c if isinstance(e, ev.RequestReceived)] == ["ACK", "BYE"]
    bye = requests(c, "BYE")[0]
    net[C].respond(bye.request_id, 200)
    assert one(net.take(C), ev.DialogTerminated).reason == "bye-received"
    assert net[A].counts()["dialogs"] == 1  # the winner is untouched
    net[A].request(h, "BYE")
    bye = requests(net.take(B), "BYE")[0]
    net[B].respond(bye.request_id, 200)
    idle(net)


def test_reinvite_glare_gets_491_both_ways():
    net = Net(A, B)
    h, hb = establish(net)
    net[A].request(h, "INVITE", body=SDP)
    net[B].request(hb, "INVITE", body=SDP)
    a, b = net.take(A), net.take(B)
    assert [(e.code, e.method) for e in responses(a)] == [(491, "INVITE")]
    assert [(e.code, e.method) for e in responses(b)] == [(491, "INVITE")]
    assert requests(a, "INVITE") == [] and requests(b, "INVITE") == []
    # After the glare, a re-INVITE goes through.
    net[A].request(h, "INVITE", body=SDP)
    reinv = one(net.take(B), ev.RequestReceived)
    assert (reinv.method, reinv.in_dialog) == ("INVITE", True)
    net[B].respond(reinv.request_id, 200, body=SDP)
    assert responses(net.take(A), 200)[0].method == "INVITE"
    assert requests(net.take(B), "ACK")


def test_second_incoming_reinvite_while_one_is_pending_gets_500_with_retry_after():
    net = Net(A, B)
    h, hb = establish(net)
    net[A].request(h, "INVITE", body=SDP)
    first = one(net.take(B), ev.RequestReceived)
    # Forge a second re-INVITE from A (a well-behaved UA would not send it).
    second = first.message.serialize().replace(
        first.message.top_via.branch.encode(), b"z9hG4bKsecond")
    seq = first.message.cseq.seq
    second = second.replace(f"CSeq: {seq} INVITE".encode(), f"CSeq: {seq + 1} INVITE".encode())
    net[B].receive(second, A, net.now)
    answers = [parse_message(t.data) for t in net[B].take_transmits()]
    assert [m.status for m in answers] == [500]
    assert answers[0].headers.get("Retry-After") == "5"
    assert first.request_id


def test_reinvite_and_its_2xx_refresh_the_remote_target():
    net = Net(A, B)
    h, hb = establish(net)
    moved_a = "<sip:moved-a@127.0.0.1:5061>"
    net[B].request(hb, "INVITE", body=SDP)
    reinv = one(net.take(A), ev.RequestReceived)
    net[A].respond(reinv.request_id, 200, body=SDP, headers=[("Contact", moved_a)])
    net.flush()
    assert net[B].core.dialog_of(hb).remote_target == "sip:moved-a@127.0.0.1:5061"
    # The next 2xx carries A's default Contact again: the target follows it.
    net[B].request(hb, "INVITE", body=SDP, headers=[])
    second = requests(net.take(A), "INVITE")[0]
    assert second.message.uri == "sip:moved-a@127.0.0.1:5061"
    net[A].respond(second.request_id, 200, body=SDP)
    net.flush()
    net[B].request(hb, "INFO", body=b"x", content_type="text/plain")
    info = [e for e in net.take(A) if isinstance(e, ev.RequestReceived)][-1]
    assert info.message.uri == "sip:sipflow@127.0.0.1:5061"  # A's own Contact again
    ok = [parse_message(d) for _t, s, _d, d in net.wire if s == A and d.startswith(b"SIP/2.0 200")]
    assert ok[-1].headers.get_all("Contact") == ["<sip:sipflow@127.0.0.1:5061>"]


def test_lower_cseq_in_dialog_gets_500():
    net = Net(A, B)
    h, hb = establish(net)
    net[A].request(h, "INFO", body=b"1", content_type="text/plain")
    info = one(net.take(B), ev.RequestReceived)
    net[B].respond(info.request_id, 200)
    net.flush()
    old = info.message.serialize().replace(info.message.top_via.branch.encode(), b"z9hG4bKold")
    seq = info.message.cseq.seq
    old = old.replace(f"CSeq: {seq} INFO".encode(), f"CSeq: {seq - 1} INFO".encode())
    net[B].receive(old, A, net.now)
    assert [parse_message(t.data).status for t in net[B].take_transmits()] == [500]


def test_request_for_unknown_dialog_gets_481_and_stray_ack_is_dropped():
    net = Net(A, B)
    h, hb = establish(net)
    net[A].request(h, "INFO", body=b"1", content_type="text/plain")
    info = one(net.take(B), ev.RequestReceived)
    forged = info.message.serialize().replace(info.message.to_tag.encode(), b"nosuchtag")
    forged = forged.replace(info.message.top_via.branch.encode(), b"z9hG4bKforged")
    net[B].receive(forged, A, net.now)
    out = [parse_message(t.data) for t in net[B].take_transmits()]
    assert [m.status for m in out] == [481]
    ack = forged.replace(b"INFO sip:", b"ACK sip:", 1).replace(b" INFO\r\n", b" ACK\r\n")
    net[B].receive(ack, A, net.now)
    assert net[B].take_transmits() == [] and net.take(B) == []


def test_lost_ack_2xx_is_retransmitted_t1_doubling_to_t2_then_gives_up():
    net = Net(A, B)
    net.drop = lambda src, dst, data: data.startswith(b"ACK")
    net[A].invite(uri(B), body=SDP)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    net.run_for(40)
    times = [t for t, src, _dst, data in net.wire if src == B and data.startswith(b"SIP/2.0 200")]
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    assert gaps[:4] == [0.5, 1.0, 2.0, 4.0] and set(gaps[4:]) == {4.0}
    assert times[-1] <= 32.0
    b = net.take(B)
    assert one(b, ev.AckTimeout).handle == inv.handle
    assert requests(b, "ACK") == []
    # Every retransmitted 2xx was re-ACKed by A (identical bytes).
    acks = {data for _t, src, _d, data in net.wire if src == A and data.startswith(b"ACK")}
    assert len(acks) == 1
    assert sum(1 for _t, s, _d, d in net.wire if s == A and d.startswith(b"ACK")) == len(times)


def test_2xx_retransmission_stops_when_ack_arrives():
    net = Net(A, B)
    lost = []

    def drop_first_ack(src, dst, data):
        if data.startswith(b"ACK") and not lost:
            lost.append(data)
            return True
        return False

    net.drop = drop_first_ack
    h, hb = None, None
    net[A].invite(uri(B), body=SDP)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    net.run_for(10)
    oks = [t for t, src, _d, data in net.wire if src == B and data.startswith(b"SIP/2.0 200")]
    assert len(oks) == 2  # original + one retransmission, whose re-ACK got through
    b = net.take(B)
    assert len(requests(b, "ACK")) == 1 and not [e for e in b if isinstance(e, ev.AckTimeout)]
    assert h is None and hb is None


def test_peer_vanished_invite_times_out_with_timer_b():
    net = Net(A)
    h = net[A].invite(uri(B))
    net.run_idle()
    a = net.take(A)
    assert one(a, ev.Timeout) == ev.Timeout(h, "B", "INVITE")
    assert a[-1] == ev.HandleReleased(h)
    assert net.now == pytest.approx(32.0)
    idle(net)


def test_peer_vanished_during_call_bye_times_out_with_timer_f():
    net = Net(A, B)
    h, hb = establish(net)
    del net.eps[B]
    net[A].request(h, "BYE")
    net.run_idle()
    a = net.take(A)
    assert one(a, ev.Timeout) == ev.Timeout(h, "F", "BYE")
    assert one(a, ev.DialogTerminated).reason == "timeout"
    assert a[-1] == ev.HandleReleased(h)


def test_out_of_dialog_options_and_message():
    net = Net(A, B)
    h = net[A].request(None, "OPTIONS", uri=uri(B))
    opt = one(net.take(B), ev.RequestReceived)
    assert (opt.method, opt.in_dialog) == ("OPTIONS", False)
    net[B].respond(opt.request_id, 200)
    a = net.take(A)
    ok = responses(a, 200)[0]
    assert ok.method == "OPTIONS" and "UPDATE" in ok.message.allow
    assert "100rel" in ok.message.supported
    assert a[-1] == ev.HandleReleased(h)
    net[A].request(None, "MESSAGE", uri=uri(B), body=b"hi", content_type="text/plain")
    msg = one(net.take(B), ev.RequestReceived)
    assert msg.message.body == b"hi" and msg.message.content_type == "text/plain"
    net[B].respond(msg.request_id, 202)
    assert responses(net.take(A), 202)
    idle(net)


def test_application_misuse_raises_local_protocol_error():
    net = Net(A, B)
    with pytest.raises(LocalProtocolError):
        net[A].request("c99", "BYE")
    with pytest.raises(LocalProtocolError):
        net[A].request(None, "BYE", uri=uri(B))
    with pytest.raises(LocalProtocolError):
        net[A].invite("tel:+123")
    with pytest.raises(LocalProtocolError):
        net[A].respond("r404", 200)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    with pytest.raises(LocalProtocolError):  # a UAS must not BYE an early dialog
        net[B].request(inv.handle, "BYE")
    with pytest.raises(LocalProtocolError):
        net[A].ack(h)
    assert h


def test_tcp_call_uses_tcp_via_and_contact():
    ta, tb = Address("tcp", "127.0.0.1", 5071), Address("tcp", "127.0.0.1", 5072)
    net = Net(ta, tb)
    h = net[ta].invite(uri(tb))
    inv = one(net.take(tb), ev.RequestReceived)
    assert inv.message.top_via.transport == "TCP"
    assert "transport=tcp" in inv.message.headers.get("Contact")
    net[tb].respond(inv.request_id, 200, body=SDP)
    net.flush()
    net[ta].request(h, "BYE")
    bye = requests(net.take(tb), "BYE")[0]
    net[tb].respond(bye.request_id, 200)
    idle(net)
    # No retransmissions on a reliable transport.
    assert net.methods_on_wire() == ["INVITE", "200", "ACK", "BYE", "200"]


def test_ten_thousand_failed_calls_leave_nothing_behind():
    net = Net(A, B)
    ea, eb = net[A], net[B]
    codes = (486, 404, 603, 480)
    now = 0.0

    def pump() -> None:  # lean delivery: no wire log, no event collection
        moved = True
        while moved:
            moved = False
            for src, ep, dst in ((A, ea, eb), (B, eb, ea)):
                for t in ep.take_transmits():
                    moved = True
                    dst.receive(t.data, src, now)

    for i in range(10_000):
        now = i * 0.001
        ea.invite(uri(B), now=now)
        pump()
        for e in eb.take_events():
            if isinstance(e, ev.RequestReceived) and e.request_id:
                eb.respond(e.request_id, codes[i % 4], now=now)
        pump()
        ea.take_events()
        eb.take_events()
        if i % 1000 == 0:
            ea.handle_timers(now)
            eb.handle_timers(now)
    net.now = now
    net.run_idle()  # Timers D, H/I and the core's all run out
    assert {k: v for k, v in ea.counts().items() if v} == {}
    assert {k: v for k, v in eb.counts().items() if v} == {}


def test_stray_2xx_after_the_transaction_ended_is_re_acked():
    net = Net(A, B)
    h, hb = establish(net)
    ok = [d for _t, s, _d, d in net.wire if s == B and d.startswith(b"SIP/2.0 200")][0]
    acks = [d for _t, s, _d, d in net.wire if s == A and d.startswith(b"ACK")]
    net.run_for(33)  # past Timer M: the INVITE client transaction is gone
    assert net[A].counts().get("invite_client", 0) == 0
    net[A].receive(ok, B, net.now)
    assert [t.data for t in net[A].take_transmits()] == acks  # the same ACK again
    assert net.take(A) == []


def test_delayed_offer_answer_in_the_ack():
    net = Net(A, B)
    h = net[A].invite(uri(B), auto_ack=False)  # no SDP: the offer comes in the 2xx
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    assert net[B].core.dialog_of(inv.handle).invite.local_offer is True
    a = net.take(A)
    assert responses(a, 200)[0].message.body == SDP
    assert requests(net.take(B), "ACK") == []  # the application sends the ACK
    net[A].ack(h, body=SDP)
    ack = requests(net.take(B), "ACK")[0]
    assert ack.message.body == SDP and ack.message.content_type == "application/sdp"
    assert net[B].core.dialog_of(inv.handle).invite.local_offer is False
    with pytest.raises(LocalProtocolError):
        net[A].ack(h)  # only once


def test_bye_on_an_early_dialog_answers_the_pending_invite_with_487():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 180)
    net.take(A)
    net[A].request(h, "BYE")  # the caller may BYE an early dialog (RFC 3261 §15)
    bye = one(net.take(B), ev.RequestReceived)
    assert bye.method == "BYE" and bye.in_dialog
    net[B].respond(bye.request_id, 200)
    a = net.take(A)
    assert sorted((e.method, e.code) for e in responses(a)) == [("BYE", 200), ("INVITE", 487)]
    assert a[-1] == ev.HandleReleased(h)
    idle(net)


def test_retry_after_401_reuses_call_id_and_from_tag_with_cseq_plus_one():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=SDP)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 401, headers=[("WWW-Authenticate", 'Digest realm="x", nonce="n"')])
    challenge = responses(net.take(A), 401)[0].message
    first = inv.message
    h2 = net[A].invite(uri(B), body=SDP, call_id=first.call_id, from_tag=first.from_tag,
                       cseq=first.cseq.seq + 1, headers=[("Authorization", 'Digest username="a"')])
    again = one(net.take(B), ev.RequestReceived)
    msg = again.message
    assert h2 != h and challenge.call_id == msg.call_id == first.call_id
    assert msg.from_tag == first.from_tag and msg.cseq.seq == first.cseq.seq + 1
    assert msg.headers.get("Authorization") == 'Digest username="a"'
    assert msg.top_via.branch != first.top_via.branch
    net[B].respond(again.request_id, 200, body=SDP)
    assert one(net.take(A), ev.DialogEstablished).handle == h2
    with pytest.raises(LocalProtocolError):
        net[A].invite(uri(B), cseq=2**31)


def test_application_headers_replace_the_defaults_instead_of_doubling_them():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=b"hello", headers=[
        ("Contact", "<sip:alice@127.0.0.1:5061>"), ("c", "text/plain"), ("User-Agent", "test")])
    inv = one(net.take(B), ev.RequestReceived)
    msg = inv.message
    assert msg.headers.get_all("Contact") == ["<sip:alice@127.0.0.1:5061>"]
    assert msg.content_type == "text/plain" and len(msg.headers.get_all("Content-Type")) == 1
    assert msg.headers.get_all("User-Agent") == ["test"]
    net[B].respond(inv.request_id, 200, body=SDP)
    net.take(A)
    net[A].request(h, "UPDATE", headers=[("m", "<sip:alice2@127.0.0.1:5061>")])
    upd = requests(net.take(B), "UPDATE")[0]
    assert upd.message.headers.get_all("Contact") == ["<sip:alice2@127.0.0.1:5061>"]


def test_2xx_with_a_malformed_record_route_fails_the_call_cleanly():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, headers=[("Record-Route", "<sip:")])
    a = net.take(A)
    assert a == [ev.TransportError(h, "INVITE"), ev.HandleReleased(h)]
    net.run_idle()  # B gives up retransmitting; nothing is left on A
    assert one(net.take(B), ev.AckTimeout).handle == inv.handle
    assert {k: v for k, v in net[A].counts().items() if v} == {}


def test_2xx_with_a_contact_we_cannot_reach_is_not_acked_and_bye_fails():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, headers=[("Contact", "<tel:+15551234>")])
    one(net.take(A), ev.DialogEstablished)
    assert not [d for _t, s, _d, d in net.wire if s == A and d.startswith(b"ACK")]
    net[A].request(h, "BYE")
    assert net.take(A) == [ev.TransportError(h, "BYE"),
                           ev.DialogTerminated(h, "transport-error"), ev.HandleReleased(h)]


def test_ipv6_call_brackets_hosts_in_via_and_contact():
    a6, b6 = Address("udp", "::1", 5081), Address("udp", "::1", 5082)
    net = Net(a6, b6)
    h = net[a6].invite("sip:bob@[::1]:5082", body=SDP)
    inv = one(net.take(b6), ev.RequestReceived)
    assert inv.message.top_via.host == "::1" and inv.message.top_via.port == 5081
    assert inv.message.headers.get("Contact") == "<sip:sipflow@[::1]:5081>"
    net[b6].respond(inv.request_id, 200, body=SDP)
    one(net.take(a6), ev.DialogEstablished)
    net[a6].request(h, "BYE")
    bye = requests(net.take(b6), "BYE")[0]
    assert bye.message.uri == "sip:sipflow@[::1]:5082"
    net[b6].respond(bye.request_id, 200)
    idle(net)


def test_callee_bye_on_an_early_dialog_then_200_still_establishes_cleanly():
    net = Net(A, B)
    h = net[A].invite(uri(B))
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 180)
    tag = responses(net.take(A), 180)[0].dialog
    # A misbehaving callee sends BYE on the early dialog (forge it from B's dialog).
    dialog_b = net[B].dialog(inv.handle)
    bye = dialog_b.build_request("BYE", 7, "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKearlybye")
    net[A].receive(bye.serialize(), B, net.now)
    early_bye = requests(net.take(A), "BYE")[0]
    net[A].respond(early_bye.request_id, 200)
    assert net[A].counts()["dialogs"] == 0
    net[B].respond(inv.request_id, 200, body=SDP)
    a = net.take(A)
    assert one(a, ev.DialogEstablished).dialog == tag
    assert net[A].dialog(h).confirmed and net[A].counts()["dialogs"] == 1


def test_2xx_crossing_our_cancel_is_acked_and_byed():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=SDP)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 180)
    net.flush()
    net[A].cancel(h)
    net[B].respond(inv.request_id, 200, body=SDP)  # B answers before the CANCEL lands
    net.flush()
    a = net.take(A)
    names = [type(e).__name__ for e in a]
    assert names[:2] == ["ResponseReceived", "DialogEstablished"]  # 180, then the 2xx
    assert ("CANCEL", 200) in [(e.method, e.code) for e in responses(a)]
    b = net.take(B)
    bye = requests(b, "BYE")[0]
    assert requests(b, "ACK") and bye.in_dialog
    net[B].respond(bye.request_id, 200)
    assert one(net.take(A), ev.DialogTerminated).reason == "bye"
    idle(net)


def test_2xx_is_retransmitted_on_tcp_too_until_the_ack():
    ta, tb = Address("tcp", "127.0.0.1", 5071), Address("tcp", "127.0.0.1", 5072)
    net = Net(ta, tb)
    net.drop = lambda src, dst, data: data.startswith(b"ACK")  # e.g. lost behind a UDP proxy
    net[ta].invite(uri(tb))
    inv = one(net.take(tb), ev.RequestReceived)
    net[tb].respond(inv.request_id, 200, body=SDP)
    net.run_for(2.0)
    oks = [t for t, s, _d, d in net.wire if s == tb and d.startswith(b"SIP/2.0 200")]
    assert [round(t, 3) for t in oks] == [0.0, 0.5, 1.5]


def test_auto_ack_off_leaves_the_ack_of_a_reinvite_2xx_to_the_callee_application():
    """EndpointConfig(auto_ack=False): on a call it received, the core does not ACK the 2xx
    to its own re-INVITE; ``ack()`` does, once (the backends run this way)."""
    from sipflow.sip.ua_config import EndpointConfig

    net = Net(A, B, config=EndpointConfig(auto_ack=False))
    h = net[A].invite(uri(B), body=SDP, auto_ack=True, now=net.now)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    net.flush()
    hb = inv.handle
    net.take(A), net.take(B)
    net[B].request(hb, "INVITE", body=SDP)
    reinv = one(net.take(A), ev.RequestReceived)
    net[A].respond(reinv.request_id, 200, body=SDP)
    net.flush()
    assert [e.code for e in responses(net.take(B))] == [200]
    assert net.methods_on_wire()[-2:] == ["INVITE", "200"]  # no ACK yet
    net[B].ack(hb, now=net.now)
    net.flush()
    assert net.methods_on_wire()[-1] == "ACK"
    with pytest.raises(LocalProtocolError):
        net[B].ack(hb, now=net.now)
    assert h
