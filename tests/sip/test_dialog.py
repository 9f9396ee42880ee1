"""Dialog state (RFC 3261 §12): creation on both sides, in-dialog requests,
CSeq rules, route sets, the store, offer/answer flags, and memory per dialog."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, Net, requests, uri  # noqa: E402

from sipflow.sip.dialog import Dialog, DialogStore, InviteUsage, contact_uri, has_sdp  # noqa: E402
from sipflow.sip.message import Request, Response  # noqa: E402

INVITE = Request(
    "INVITE",
    "sip:bob@127.0.0.1:5062",
    [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1"),
        ("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>"),
        ("From", '"Alice" <sip:alice@example.com>;tag=a1'),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", "cid-1"),
        ("CSeq", "10 INVITE"),
        ("Contact", '"Alice" <sip:alice@127.0.0.1:5061;transport=udp>;expires=60'),
    ],
)


def ok_response() -> Response:
    return Response(
        200,
        "OK",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1"),
            ("Record-Route", "<sip:p1.example;lr>"),
            ("Record-Route", "<sip:p2.example;lr>"),
            ("From", '"Alice" <sip:alice@example.com>;tag=a1'),
            ("To", "<sip:bob@example.com>;tag=b1"),
            ("Call-ID", "cid-1"),
            ("CSeq", "10 INVITE"),
            ("Contact", "sip:bob@127.0.0.1:5062"),
        ],
    )


def test_uas_dialog_from_request():
    d = Dialog.from_uas(INVITE, "b1", "c1")
    assert d.key == ("cid-1", "b1", "a1")
    assert d.remote_target == "sip:alice@127.0.0.1:5061;transport=udp"
    assert d.route_set == ("<sip:p1.example;lr>", "<sip:p2.example;lr>")  # as received
    assert (d.local_seq, d.remote_seq) == (None, 10)
    assert d.local_party == "<sip:bob@example.com>;tag=b1"
    assert d.remote_party == '"Alice" <sip:alice@example.com>;tag=a1'
    assert d.state == "early" and not d.confirmed and d.alive
    assert not d.secure


def test_uac_dialog_from_response_reverses_the_route_set():
    d = Dialog.from_uac(INVITE, ok_response(), "c2")
    assert d.key == ("cid-1", "a1", "b1")
    assert d.route_set == ("<sip:p2.example;lr>", "<sip:p1.example;lr>")
    assert d.remote_target == "sip:bob@127.0.0.1:5062"
    assert (d.local_seq, d.remote_seq) == (10, None)
    assert d.next_hop_uri() == "sip:p2.example;lr"


def test_build_request_in_dialog():
    d = Dialog.from_uac(INVITE, ok_response(), "c2")
    seq = d.next_local_seq(999)
    assert seq == 11  # continues after the INVITE
    req = d.build_request("BYE", seq, "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKx",
                          extra=[("Reason", "SIP;cause=200")])
    assert req.uri == "sip:bob@127.0.0.1:5062"
    assert req.headers.get_all("Route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert (req.from_tag, req.to_tag, req.call_id) == ("a1", "b1", "cid-1")
    assert str(req.cseq) == "11 BYE"
    assert req.headers.get("Reason") == "SIP;cause=200"
    assert "contact" not in req.headers
    uas = Dialog.from_uas(INVITE, "b1", "c1")
    assert uas.next_local_seq(500) == 500  # a UAS starts its own sequence
    assert uas.next_local_seq(500) == 501


def test_remote_cseq_must_increase():
    d = Dialog.from_uas(INVITE, "b1", "c1")
    bye = Request("BYE", "sip:x", [("CSeq", "11 BYE")])
    assert d.check_remote_cseq(bye)
    assert not d.check_remote_cseq(bye)  # equal
    assert not d.check_remote_cseq(Request("INFO", "sip:x", [("CSeq", "5 INFO")]))
    assert d.remote_seq == 11


def test_target_refresh_and_termination():
    d = Dialog.from_uas(INVITE, "b1", "c1")
    d.refresh_target(Request("UPDATE", "sip:x", [("Contact", "<sip:new@10.0.0.9>")]))
    assert d.remote_target == "sip:new@10.0.0.9"
    d.refresh_target(Request("UPDATE", "sip:x"))  # no Contact: unchanged
    assert d.remote_target == "sip:new@10.0.0.9"
    d.confirm()
    assert d.confirmed
    d.terminate()
    assert not d.alive and d.invite is None


def test_contact_uri_forms():
    def msg(value):
        return Request("INVITE", "sip:x", [("Contact", value)])

    assert contact_uri(msg("<sip:a@h>;q=0.5")) == "sip:a@h"
    assert contact_uri(msg("sip:a@h;transport=tcp")) == "sip:a@h"
    assert contact_uri(msg('"x <y>" <sip:b@h>')) == "sip:b@h"
    assert contact_uri(msg("<sip:a@h>, <sip:c@h>")) == "sip:a@h"
    assert contact_uri(Request("INVITE", "sip:x")) is None


def test_store_finds_dialogs_for_requests():
    store = DialogStore()
    d = Dialog.from_uas(INVITE, "b1", "c1")
    store.add(d)
    bye = Request("BYE", "sip:x", [("Call-ID", "cid-1"), ("From", "<sip:a@x>;tag=a1"),
                                   ("To", "<sip:b@x>;tag=b1")])
    assert store.for_request(bye) is d
    assert store.find("cid-1", "b1", "a1") is d
    assert store.find("cid-1", "b1", "zz") is None
    store.remove(d)
    assert len(store) == 0 and store.for_request(bye) is None


def test_offer_answer_flags():
    usage = InviteUsage()
    usage.sent(True)
    assert usage.local_offer and not usage.remote_offer
    usage.received(True)  # the answer
    assert not usage.local_offer and not usage.remote_offer
    usage.received(True)  # a new offer from the peer
    assert usage.remote_offer
    usage.sent(False)  # no body: nothing changes
    assert usage.remote_offer
    usage.sent(True)
    assert not usage.remote_offer
    sdp = Request("INVITE", "sip:x", [("Content-Type", "application/sdp")], b"v=0\r\n")
    assert has_sdp(sdp)
    assert not has_sdp(Request("INVITE", "sip:x", [("Content-Type", "text/plain")], b"x"))
    assert not has_sdp(Request("INVITE", "sip:x", [("Content-Type", "application/sdp")]))
    assert not has_sdp(Request("INVITE", "sip:x", [("Content-Type", "???")], b"x"))


def test_idle_confirmed_dialog_costs_less_than_2_kib():
    net = Net(A, B)

    def calls(n: int) -> None:
        for _ in range(n):
            net[A].invite(uri(B), body=b"v=0\r\n")
            for e in requests(net.take(B), "INVITE"):
                net[B].respond(e.request_id, 200, body=b"v=0\r\n")
            net.flush()
        net.events[A].clear()
        net.events[B].clear()
        net.run_for(40)  # past 64*T1: transactions and kept ACKs are gone
        net.wire.clear()

    calls(20)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        calls(200)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    for ep in net.eps.values():
        counts = ep.counts()
        assert counts["dialogs"] == 220 and counts["timers"] == 0
        assert sum(v for k, v in counts.items() if k.endswith(("client", "server"))) == 0
    per_dialog = (after - before) / 400  # one dialog on each side per call
    print(f"bytes per idle confirmed dialog (leg included): {per_dialog:.0f}")
    assert per_dialog < 2048
