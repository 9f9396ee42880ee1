"""The accessor cache lives in ``Headers`` and is dropped per header key: a
change to a header never leaves a stale typed value, and a change to another
header keeps the cached ones."""

from __future__ import annotations

from typing import Any

import pytest

from sipflow.sip.message import _CACHED_FROM, Request, rebuild
from sipflow.sip.parser import make_response, parse_message

INVITE = (
    b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKabc;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: Alice <sip:alice@10.0.0.9>;tag=a1\r\n"
    b"To: <sip:bob@127.0.0.1>\r\n"
    b"Call-ID: c1@10.0.0.9\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Contact: <sip:alice@10.0.0.9:5070>\r\n"
    b"Route: <sip:p1@10.0.0.1;lr>\r\n"
    b"Record-Route: <sip:p2@10.0.0.2;lr>\r\n"
    b"Supported: timer, 100rel\r\n"
    b"Require: timer\r\n"
    b"Proxy-Require: foo\r\n"
    b"Expires: 30\r\n"
    b"RSeq: 4\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n"
)

# accessor -> (header, a new value, how to compare)
CHANGES: dict[str, tuple[str, str]] = {
    "top_via": ("Via", "SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKnew"),
    "vias": ("Via", "SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKnew"),
    "_top_branch": ("Via", "SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKnew"),
    "from_": ("From", "<sip:carol@h>;tag=c9"),
    "from_tag": ("From", "<sip:carol@h>;tag=c9"),
    "to": ("To", "<sip:dave@h>;tag=d9"),
    "to_tag": ("To", "<sip:dave@h>;tag=d9"),
    "call_id": ("Call-ID", "other@h"),
    "cseq": ("CSeq", "8 INVITE"),
    "contact": ("Contact", "<sip:alice@10.0.0.7>"),
    "route": ("Route", "<sip:p3@10.0.0.3;lr>"),
    "record_route": ("Record-Route", "<sip:p4@10.0.0.4;lr>"),
    "max_forwards": ("Max-Forwards", "9"),
    "expires": ("Expires", "60"),
    "rseq": ("RSeq", "5"),
    "content_type": ("Content-Type", "text/plain"),
    "content_type_info": ("Content-Type", "text/plain;charset=utf-8"),
    "supported": ("Supported", "path"),
    "require": ("Require", "100rel"),
    "proxy_require": ("Proxy-Require", "bar"),
}


def _read(msg: Any, accessor: str) -> Any:
    value = msg._top_branch() if accessor == "_top_branch" else getattr(msg, accessor)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__slots__") and not isinstance(value, tuple):
        return str(value)
    return value


def _fresh(msg: Any, accessor: str) -> Any:
    return _read(rebuild(msg.serialize()), accessor)


@pytest.mark.parametrize("accessor", sorted(CHANGES))
@pytest.mark.parametrize("op", ["set", "add_first", "remove_then_add", "remove_first_value"])
@pytest.mark.parametrize("source", ["parsed", "rebuilt", "built"])
def test_a_change_to_a_header_is_seen_by_its_accessor(accessor: str, op: str, source: str) -> None:
    msg: Any = parse_message(INVITE)
    if source == "rebuilt":
        msg = rebuild(INVITE)
    elif source == "built":
        msg = Request("INVITE", msg.uri, list(msg.headers), msg.body)
    name, value = CHANGES[accessor]
    before = _read(msg, accessor)
    assert before == _fresh(msg, accessor)
    if op == "set":
        msg.headers.set(name, value)
    elif op == "add_first":
        msg.headers.add(name, value, first=True)
    elif op == "remove_then_add":
        msg.headers.remove(name)
        msg.headers.add(name, value)
    else:
        msg.headers.add(name, value, first=True)
        _read(msg, accessor)
        msg.headers.remove_first_value(name)
        msg.headers.set(name, value)
    after = _read(msg, accessor)
    assert after != before
    assert after == _fresh(msg, accessor)


def test_every_cached_accessor_is_listed_with_its_header() -> None:
    msg: Any = parse_message(INVITE)
    for accessor in CHANGES:
        _read(msg, accessor)
    listed = {name for names in _CACHED_FROM.values() for name in names}
    assert set(msg.headers._cache) <= listed


def test_a_change_to_another_header_keeps_the_cached_values() -> None:
    msg: Any = parse_message(INVITE)
    kept = (msg.top_via, msg.from_, msg.to, msg.cseq, msg.contact, msg.supported)
    msg.headers.add("Server", "x")
    msg.headers.set("Content-Length", "5")
    msg.headers.remove("Subject")
    msg.serialize()
    assert (msg.top_via, msg.from_, msg.to, msg.cseq, msg.contact, msg.supported) == kept
    assert all(a is b for a, b in zip(kept, (msg.top_via, msg.from_, msg.to, msg.cseq,
                                              msg.contact, msg.supported), strict=True))


def test_replacing_the_headers_object_replaces_the_cached_values() -> None:
    msg: Any = parse_message(INVITE)
    assert msg.to_tag is None and msg.call_id == "c1@10.0.0.9"
    other = parse_message(INVITE.replace(b"To: <sip:bob@127.0.0.1>", b"To: <sip:bob@127.0.0.1>;tag=z")
                          .replace(b"Call-ID: c1", b"Call-ID: c2"))
    msg.headers = other.headers.copy()
    assert msg.to_tag == "z" and msg.call_id == "c2@10.0.0.9"


def test_a_response_reads_its_own_to_tag() -> None:
    request = parse_message(INVITE)
    assert request.to_tag is None
    response = make_response(request, 200, to_tag="t1")
    assert response.to_tag == "t1" and request.to_tag is None
    assert response.from_tag == request.from_tag == "a1"
    assert response.call_id == request.call_id and response.cseq == request.cseq
    assert response.top_via.branch == request.top_via.branch
