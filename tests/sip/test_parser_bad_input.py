"""Bad input and edge cases of parse_message: one clear error with the right
status, never anything but RemoteProtocolError for the peer's bytes."""

from __future__ import annotations

import pytest

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.message import Headers, Request, Response
from sipflow.sip.parser import MAX_HEADERS, make_response, parse_message

HEAD = (
    b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKhjhs8ass877\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:carol@chicago.example.com>\r\n"
    b"From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
)
OK = HEAD + b"Content-Length: 0\r\n\r\n"


def err(data: bytes, **kw: int) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data, **kw)
    return info.value


def test_baseline_parses() -> None:
    assert parse_message(OK).method == "OPTIONS"


def test_compact_forms_folding_and_leading_crlf() -> None:
    data = (
        b"\r\n\r\nBYE sip:b@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/TCP h.example.com\r\n ;branch=z9hG4bK1\r\n"
        b"f: <sip:a@example.com>;tag=1\r\nt: <sip:b@example.com>;tag=2\r\n"
        b"i: x@y\r\nCSeq: 2 BYE\r\nk: timer\r\nl: 0\r\n\r\n"
    )
    m = parse_message(data)
    assert m.top_via.branch == "z9hG4bK1" and m.call_id == "x@y" and m.to_tag == "2"
    assert m.supported == {"timer"} and m.headers.get("Content-Length") == "0"
    assert list(m.headers)[0] == ("v", "SIP/2.0/TCP h.example.com ;branch=z9hG4bK1")
    assert m.serialize() == data.lstrip(b"\r\n")


def test_unknown_method_and_scheme_parse() -> None:
    m = parse_message(OK.replace(b"OPTIONS", b"FOO").replace(b"sip:carol@", b"im:carol@"))
    assert m.method == "FOO" and m.ruri.scheme == "im" and m.ruri.opaque


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (OK.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505, "version"),
        (OK.replace(b"SIP/2.0\r\n", b"HTTP/1.1\r\n", 1), 400, "version"),
        (OK.replace(b"OPTIONS sip", b"OPTIONS  sip"), 400, "request line"),
        (OK.replace(b"Max-Forwards: 70", b"Max-Forwards: seventy"), 400, "Max-Forwards"),
        (OK.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400, "Max-Forwards"),
        (OK.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104"), 400, "CSeq"),
        (OK.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE"), 400, "CSeq"),
        (OK.replace(b"Call-ID: a84b4c76e66710", b"Call-ID: a b"), 400, "Call-ID"),
        (OK.replace(b"Call-ID: a84b4c76e66710\r\n", b""), 400, "Call-ID"),
        (OK.replace(b"From: Alice", b"From: Al,ice"), 400, "From"),
        (OK.replace(b"To: <sip:carol@chicago.example.com>\r\n", b""), 400, "To"),
        (OK.replace(b"Content-Length: 0", b"Content-Length: 10"), 400, "Content-Length"),
        (OK.replace(b"Content-Length: 0", b"Content-Length: 0x10"), 400, "Content-Length"),
        (HEAD + b"Content-Length: 0\r\n", 400, "empty line"),
        (HEAD + b"this line has no colon\r\n\r\n", 400, "header line"),
        (HEAD + b"Bad Name: x\r\n\r\n", 400, "header line"),
        (HEAD + b"Call-ID: again\r\n\r\n", 400, "more than once"),
        (HEAD + b"X: " + b"a" * 9000 + b"\r\n\r\n", 513, "longer"),
        (HEAD + b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS)) + b"\r\n", 513, "fields"),
        (OK + b"x" * 70000, 513, "exceeds"),
        (OK.replace(b"sip:carol@chicago.example.com SIP", b"sip:carol@chi cago SIP"), 400, "request"),
        (OK.replace(b"sip:carol@chicago.example.com SIP", b"sip:carol@[::1 SIP"), 400, "IPv6"),
        (OK.replace(b"sip:carol@chicago.example.com SIP", b"sip:c@h?X=1 SIP"), 400, "headers"),
    ],
)
def test_bad_requests_get_an_answer(data: bytes, status: int, words: str) -> None:
    e = err(data)
    assert e.status == status
    assert words.lower() in e.reason.lower()
    assert isinstance(e.message, Request)
    answer = make_response(e.message, e.status)
    assert answer.serialize().startswith(b"SIP/2.0 %d " % status)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"garbage",
        b"\x00\xff\xfe",
        OK.replace(b"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKhjhs8ass877\r\n", b""),
        OK.replace(b"Via: SIP/2.0/UDP pc33.example.com", b"Via: nonsense"),
        OK.replace(b"OPTIONS sip:carol@chicago.example.com SIP/2.0", b"ACK sip:c@h SIP/2.0")
        .replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE"),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
        b"SIP/2.0 99 Too Low\r\n\r\n",
        b"SIP/2.0 2000 OK\r\n\r\n",
        b"SIP/2.0\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0",
        b"<bad> sip:a@b SIP/2.0\r\n\r\n",
    ],
)
def test_unanswerable_input_is_dropped(data: bytes) -> None:
    e = err(data)
    assert e.status == 0 and e.message is None and e.reason


def test_extra_datagram_bytes_are_discarded() -> None:
    m = parse_message(OK.replace(b"Content-Length: 0", b"Content-Length: 3") + b"abcdef")
    assert m.body == b"abc"
    assert parse_message(HEAD + b"\r\nno length: body is the rest").body == b"no length: body is the rest"


def test_local_misuse_is_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        parse_message("text, not bytes")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        Request("BAD METHOD", "sip:a@b")
    with pytest.raises(LocalProtocolError):
        Response(42, "no")
    with pytest.raises(LocalProtocolError):
        Headers([("X", "line\r\nbreak")])
    with pytest.raises(LocalProtocolError):
        Headers().add("Bad Name", "x")
    with pytest.raises(LocalProtocolError):
        Request("OPTIONS", "sip:a@b", body="str")  # type: ignore[arg-type]


def test_make_response_details() -> None:
    req = parse_message(OK.replace(b"CSeq", b"Timestamp: 54\r\nCSeq"))
    trying = make_response(req, 100)
    assert trying.reason == "Trying" and trying.headers.get("timestamp") == "54"
    ok = make_response(req, 200, "Fine", [("Contact", "<sip:carol@192.0.2.4>")], b"hi")
    assert ok.reason == "Fine" and "timestamp" not in ok.headers and ok.to_tag is None
    back = parse_message(ok.serialize())
    assert back.body == b"hi" and back.contact[0].uri.host == "192.0.2.4"
    assert [f for f in back.headers][:2] == [
        ("Via", "SIP/2.0/UDP pc33.example.com;branch=z9hG4bKhjhs8ass877"),
        ("To", "<sip:carol@chicago.example.com>"),
    ]
    assert make_response(req, 555).reason == "Push Notification Service Not Supported"
    assert make_response(req, 499).reason == "Client Error"


def test_reasons_stay_short_for_huge_input() -> None:
    huge = OK.replace(b"To: <sip:carol@", b"To: <sip:" + b"x" * 5000 + b" @")
    e = err(huge)
    assert e.status == 400 and e.reason.startswith("To header: ") and len(e.reason) < 200
    assert len(RemoteProtocolError("x" * 1000).reason) <= 300
