"""Ordinary messages: parse, typed accessors, serialize, make_response."""

from __future__ import annotations

import pytest

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.headers import CSeq
from sipflow.sip.message import Headers, Request, Response
from sipflow.sip.parser import make_response, parse_message

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 31862 INVITE\r\n"
    b"Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n"
    b"Supported: 100rel, Timer\r\n"
    b"Content-Type: Application/SDP\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def test_parse_invite_accessors() -> None:
    m = parse_message(INVITE)
    assert isinstance(m, Request) and m.is_request
    assert m.method == "INVITE"
    assert m.ruri.user == "bob" and m.ruri.host == "biloxi.example.com"
    assert m.call_id == "3848276298220188511@atlanta.example.com"
    assert m.cseq == CSeq(31862, "INVITE")
    assert m.top_via.branch == "z9hG4bK74bf9" and m.top_via.has_rport
    assert m.top_via.transport == "UDP" and m.top_via.port == 5060
    assert m.from_.display == "Alice" and m.from_tag == "9fxced76sl"
    assert m.to_tag is None and m.to.display == "Bob"
    assert m.contact[0].uri.transport == "udp"
    assert m.max_forwards == 70
    assert m.content_type == "application/sdp"
    assert m.supported == frozenset({"100rel", "timer"})
    assert m.body == SDP


def test_untouched_message_serializes_byte_exact() -> None:
    assert parse_message(INVITE).serialize() == INVITE


def test_mutation_invalidates_cache_and_sets_content_length() -> None:
    m = parse_message(INVITE)
    assert m.to_tag is None
    m.headers.set("To", "Bob <sip:bob@biloxi.example.com>;tag=abc")
    assert m.to_tag == "abc"
    m.body = b"x"
    again = parse_message(m.serialize())
    assert again.headers.get("content-length") == "1" and again.body == b"x"
    assert again.to_tag == "abc"


def test_make_response_copies_mandatory_headers() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    resp = make_response(req, 486)
    assert resp.reason == "Busy Here"
    back = parse_message(resp.serialize())
    assert isinstance(back, Response) and back.status == 486
    for name in ("via", "from", "to", "call-id", "cseq"):
        assert back.headers.get_all(name) == req.headers.get_all(name)
    assert "contact" not in back.headers
    assert make_response(req, 299).reason == "Success"
    with pytest.raises(LocalProtocolError):
        make_response(req, 700)


def test_built_request_round_trips() -> None:
    req = Request(
        "OPTIONS",
        "sip:carol@chicago.example.com",
        [
            ("Via", "SIP/2.0/TCP pc33.example.com;branch=z9hG4bKhjhs8ass877"),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=1928301774"),
            ("To", "<sip:carol@chicago.example.com>"),
            ("Call-ID", "a84b4c76e66710"),
            ("CSeq", "63104 OPTIONS"),
        ],
    )
    back = parse_message(req.serialize())
    assert back.method == "OPTIONS" and back.cseq.seq == 63104
    assert back.headers.get("Content-Length") == "0"


def test_missing_headers_get_400_but_missing_via_is_dropped() -> None:
    # RFC 4475 §3.3.1: a request without Call-ID/From/To "ideally" gets a 400.
    no_callid = INVITE.replace(b"Call-ID: 3848276298220188511@atlanta.example.com\r\n", b"")
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(no_callid)
    assert info.value.status == 400 and info.value.reason == "missing Call-ID header"
    no_via = INVITE.replace(
        b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n", b""
    )
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(no_via)
    assert info.value.status == 0 and info.value.message is None


def test_bad_cseq_gets_400_with_an_answerable_message() -> None:
    bad = INVITE.replace(b"CSeq: 31862 INVITE", b"CSeq: 31862 BYE")
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(bad)
    assert info.value.status == 400
    assert info.value.reason == "CSeq header: method 'BYE' does not match request method 'INVITE'"
    assert info.value.message is not None
    answer = make_response(info.value.message, info.value.status)
    assert answer.status == 400


def test_headers_multimap() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("v", "SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c")])
    assert h.get_all("VIA") == ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c"]
    h.add("Via", "SIP/2.0/UDP top;branch=z9hG4bK0", first=True)
    assert h.get("via") == "SIP/2.0/UDP top;branch=z9hG4bK0"
    assert len(h) == 3 and "v" in h
    h.set("via", "SIP/2.0/UDP only")
    assert h.get_all("Via") == ["SIP/2.0/UDP only"]
    assert h.remove("V") == 1 and "Via" not in h
