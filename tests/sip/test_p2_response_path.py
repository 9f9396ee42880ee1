"""The UAS response path after the session-3 cuts: the core's header fields
built with the application's in one step (no duplicates, compact forms
honoured), the single 2xx retransmission timer (same instants, same give-up),
and the negotiation memo of offer/answer (keyed by everything it reads)."""

from __future__ import annotations

import random

from sipflow.sip import events as ev
from sipflow.sip import offer_answer as oa
from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address

US = Address("udp", "127.0.0.1", 5060)
PEER = Address("udp", "127.0.0.1", 5061)
SDP = (b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def request(method: str, n: int = 1, body: bytes = b"") -> bytes:
    head = (f"{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{method}-{n}\r\n"
            f"From: sipp <sip:sipp@127.0.0.1:5061>;tag=from{n}\r\n"
            f"To: service <sip:service@127.0.0.1:5060>\r\nCall-ID: call-{n}@127.0.0.1\r\n"
            f"CSeq: 1 {method}\r\nContact: sip:sipp@127.0.0.1:5061\r\nMax-Forwards: 70\r\n")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def received(ep: SipEndpoint, data: bytes, now: float = 0.0) -> ev.RequestReceived:
    ep.receive(data, PEER, now)
    events = [e for e in ep.take_events() if isinstance(e, ev.RequestReceived)]
    assert len(events) == 1
    return events[0]


def sent(ep: SipEndpoint) -> list:
    return [parse_message(t.data) for t in ep.take_transmits()]


def names(message) -> list[str]:
    return [name.lower() for name, _ in message.headers]


def test_core_fields_come_once_and_in_order():
    ep = SipEndpoint(US, rng=random.Random(1))
    invite = received(ep, request("INVITE", body=SDP))
    ep.respond(invite.request_id, 180)
    ep.respond(invite.request_id, 200, body=SDP)
    ringing, ok = sent(ep)
    assert names(ringing)[5:] == ["server", "contact", "content-length"]
    assert names(ok)[5:] == ["content-type", "server", "contact", "allow", "supported",
                             "content-length"]
    assert ringing.to_tag == ok.to_tag and ok.to_tag


def test_fields_the_application_wrote_are_not_added_again():
    ep = SipEndpoint(US, rng=random.Random(2))
    invite = received(ep, request("INVITE", body=SDP))
    ep.respond(invite.request_id, 200, body=SDP, headers=[
        ("m", "<sip:other@192.0.2.1>"), ("c", "application/sdp"), ("Server", "mine"),
        ("t", "service <sip:service@127.0.0.1:5060>;tag=own"),
    ])
    (ok,) = sent(ep)
    got = names(ok)
    for name in ("m", "c", "server"):
        assert got.count(name) + got.count({"m": "contact", "c": "content-type"}.get(name, "")) == 1
    assert "contact" not in got and "content-type" not in got
    assert ok.headers.get("Server") == "mine"
    # As before the cuts: one To, the copied one, tagged by the core.
    assert got.count("to") + got.count("t") == 1 and ok.to_tag


def test_options_capabilities_not_duplicated():
    ep = SipEndpoint(US, rng=random.Random(3))
    options = received(ep, request("OPTIONS"))
    ep.respond(options.request_id, 200, headers=[("Allow", "INVITE")])
    (ok,) = sent(ep)
    got = names(ok)
    assert got.count("allow") == 1 and ok.headers.get("Allow") == "INVITE"
    assert got.count("supported") == 1 and got.count("accept") == 1


def test_2xx_retransmitted_on_one_timer_until_64_t1():
    ep = SipEndpoint(US, rng=random.Random(4))
    invite = received(ep, request("INVITE", body=SDP))
    ep.respond(invite.request_id, 200, body=SDP, now=0.0)
    first = ep.take_transmits()
    assert len(first) == 1 and ep.counts()["timers"] == 1  # the 2xx timer only
    times = []
    timeouts = []
    while (when := ep.next_deadline()) is not None and when <= 40.0:
        ep.handle_timers(when)
        for t in ep.take_transmits():
            if t.data == first[0].data:
                times.append(when)
        timeouts += [(when, e) for e in ep.take_events() if isinstance(e, ev.AckTimeout)]
    # T1 doubling, capped at T2 (4 s), while under 64*T1 = 32 s (RFC 3261 §13.3.1.4)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [w for w, _ in timeouts] == [32.0]
    assert ep.counts()["timers"] == 0


def test_ack_stops_the_2xx_timer():
    ep = SipEndpoint(US, rng=random.Random(5))
    invite = received(ep, request("INVITE", body=SDP))
    ep.respond(invite.request_id, 200, body=SDP, now=0.0)
    (ok,) = sent(ep)
    ack = (f"ACK sip:service@127.0.0.1:5060 SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-ack-1\r\n"
           f"From: sipp <sip:sipp@127.0.0.1:5061>;tag=from1\r\n"
           f"To: service <sip:service@127.0.0.1:5060>;tag={ok.to_tag}\r\n"
           f"Call-ID: call-1@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()
    ep.receive(ack, PEER, 0.1)
    assert ep.counts()["timers"] == 0


def test_merged_request_key_lives_until_the_final_answer():
    ep = SipEndpoint(US, rng=random.Random(6))
    invite = received(ep, request("INVITE", body=SDP))
    # The same request by another path (another branch): 482 (§8.2.2.2).
    ep.receive(request("INVITE", body=SDP).replace(b"z9hG4bK-INVITE-1", b"z9hG4bK-other"),
               PEER, 0.0)
    assert [m.status for m in sent(ep)] == [482]
    ep.respond(invite.request_id, 486)
    sent(ep)
    assert ep.core._ongoing == {}


def test_negotiation_memo_is_keyed_by_direction():
    config = oa.MediaConfig(address="127.0.0.1")
    peer = oa._read(SDP)
    both = oa._negotiate(peer.streams, config, "sendrecv", False)
    assert both is oa._negotiate(peer.streams, config, "sendrecv", False)  # remembered
    recv = oa._negotiate(peer.streams, config, "recvonly", False)
    assert both[0] is not None and recv[0] is not None
    assert both[0][1] == "sendrecv" and recv[0][1] == "recvonly"
