"""Headers multi-map semantics and accessor cache invalidation."""

from __future__ import annotations

from sipflow.sip.message import Headers, Request, canonical_name
from sipflow.sip.parser import make_response, parse_message

RAW = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa, SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n"
    b"v:SIP/2.0/UDP   c.example.com;branch=z9hG4bKc\r\n"
    b"Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=a\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: c1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.1>;expires=60;q=0.5, \"A, B\" <sip:ab@192.0.2.2>\r\n"
    b"X-Custom:   spaced value   \r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_lists_across_and_within_fields() -> None:
    m = parse_message(RAW)
    assert [v.host for v in m.vias] == ["a.example.com", "b.example.com", "c.example.com"]
    assert [r.uri.host for r in m.route] == ["p1.example.com", "p2.example.com"]
    assert [c.uri.host for c in m.contact] == ["192.0.2.1", "192.0.2.2"]
    assert m.contact[0].params == {"expires": "60", "q": "0.5"} and m.contact[1].display == "A, B"
    assert m.headers.get("x-custom") == "spaced value"
    assert len(m.headers) == 11


def test_set_add_remove_keep_positions_and_other_fields_byte_exact() -> None:
    m = parse_message(RAW)
    m.headers.set("via", "SIP/2.0/TCP new.example.com;branch=z9hG4bKn")
    names = [n for n, _ in m.headers]
    assert names[0] == "via" and names.count("Via") == 0 and "v" not in names
    assert m.top_via.host == "new.example.com" and len(m.vias) == 1
    out = m.serialize()
    assert b"Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n" in out
    assert b"X-Custom:   spaced value   \r\n" in out
    m.headers.add("Route", "<sip:p0.example.com;lr>", first=True)
    assert [r.uri.host for r in m.route][:2] == ["p0.example.com", "p1.example.com"]
    assert m.headers.remove_first_value("route") == "<sip:p0.example.com;lr>"
    assert m.headers.remove_first_value("route") == "<sip:p1.example.com;lr>"
    assert [r.uri.host for r in m.route] == ["p2.example.com"]
    assert m.headers.remove("ROUTE") == 1 and m.route == [] and m.headers.remove("route") == 0
    assert m.headers.remove_first_value("route") is None


def test_every_mutation_invalidates_cached_accessors() -> None:
    m = parse_message(RAW)
    assert m.max_forwards == 70 and m.to_tag is None and m.cseq.seq == 1
    m.headers.set("Max-Forwards", "69")
    assert m.max_forwards == 69
    m.headers.set("To", "<sip:bob@example.com>;tag=b")
    assert m.to_tag == "b"
    m.headers.remove("Max-Forwards")
    assert m.max_forwards is None
    m.headers = Headers([("CSeq", "7 INVITE")])
    assert m.cseq.seq == 7


def test_copy_is_independent_and_equality() -> None:
    m = parse_message(RAW)
    h = m.headers.copy()
    h.set("Call-ID", "other")
    assert m.call_id == "c1" and h.get("call-id") == "other"
    assert m.headers != h and m.headers.copy() == m.headers


def test_contact_star_and_names() -> None:
    r = Request("REGISTER", "sip:example.com", [("Contact", "*"), ("Expires", "0")])
    assert r.contact == [] and r.contact_star and r.expires == 0
    assert canonical_name("call-id") == "Call-ID" and canonical_name("v") == "Via"
    assert canonical_name("x-my-header") == "X-My-Header" and canonical_name("RACK") == "RAck"
    assert "f" not in r.headers and 3 not in r.headers


def test_message_copy_is_independent() -> None:
    m = parse_message(RAW)
    c = m.copy()
    assert isinstance(c, Request) and c.method == "INVITE" and c.serialize() == m.serialize()
    c.headers.set("CSeq", "2 INVITE")
    c.uri = "sip:carol@example.com"
    assert m.cseq.seq == 1 and c.cseq.seq == 2
    assert m.ruri.user == "bob" and c.ruri.user == "carol"
    r = make_response(m, 180).copy()
    assert r.status == 180 and r.reason == "Ringing" and r.call_id == "c1"
