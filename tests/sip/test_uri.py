"""SIP URIs, name-addr and the structured header values (Via, CSeq, RAck, Content-Type)."""

from __future__ import annotations

import pytest

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.headers import ContentType, CSeq, RAck, Via, parse_int_header
from sipflow.sip.uri import NameAddr, SipUri, parse_params, split_list, unescape


def test_sip_uri_parts_and_round_trip() -> None:
    text = "sips:alice:secret@Atlanta.Example.com:5061;transport=TCP;lr;Maddr=10.0.0.1?Subject=hi&X=1"
    u = SipUri.parse(text)
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips", "alice", "secret", "Atlanta.Example.com", 5061,
    )
    assert u.params == {"transport": "TCP", "lr": None, "maddr": "10.0.0.1"}
    assert u.transport == "tcp"
    assert u.headers == {"Subject": "hi", "X": "1"}
    assert str(u) == text.replace("Maddr", "maddr")
    assert SipUri.parse(str(u)) == u


def test_ipv6_host_is_stored_without_brackets() -> None:
    u = SipUri.parse("sip:bob@[2001:db8::1]:5070;transport=udp")
    assert u.host == "2001:db8::1" and u.port == 5070 and u.hostport == "[2001:db8::1]:5070"
    assert str(u) == "sip:bob@[2001:db8::1]:5070;transport=udp"
    assert SipUri(host="::1", port=5060).hostport == "[::1]:5060"


def test_tel_and_opaque_schemes() -> None:
    t = SipUri.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert t.scheme == "tel" and t.user == "+1-201-555-0123"
    assert t.params == {"phone-context": "example.com"}
    assert str(t) == "tel:+1-201-555-0123;phone-context=example.com"
    o = SipUri.parse("urn:service:sos")
    assert o.scheme == "urn" and o.opaque == "service:sos" and str(o) == "urn:service:sos"


def test_uri_comparison_follows_rfc3261() -> None:
    assert SipUri.parse("sip:%61lice@ATLANTA.com;transport=TCP") == SipUri.parse(
        "sip:alice@AtLanTa.CoM;Transport=tcp"
    )
    assert SipUri.parse("sip:alice@atlanta.com") != SipUri.parse("sip:ALICE@atlanta.com")
    assert SipUri.parse("sip:bob@biloxi.com") != SipUri.parse("sip:bob@biloxi.com:5060")
    assert SipUri.parse("sip:carol@chicago.com;security=on") == SipUri.parse(
        "sip:carol@chicago.com"
    )
    assert SipUri.parse("sip:carol@chicago.com;transport=udp") != SipUri.parse(
        "sip:carol@chicago.com"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "", "sip:", "alice@example.com", "sip:alice@", "sip:@example.com", "sip:a b@host",
        "sip:host:99999", "sip:host:5x", "sip:[2001:db8::1", "sip:[zz::1]", "sip:host;=x",
        "sip:host;a=", "sip:-bad-.example.com", "sip:host?novalue", "1sip:host",
    ],
)
def test_bad_uris_raise_remote_protocol_error(bad: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        SipUri.parse(bad, "Contact header")
    assert info.value.status == 400 and info.value.reason.startswith("Contact header: ")


def test_unescape() -> None:
    assert unescape("I%20have%20spaces") == "I have spaces"
    assert unescape("null-%00-null") == "null-\x00-null"
    assert unescape("no-escape") == "no-escape"


def test_name_addr_forms() -> None:
    a = NameAddr.parse('"Alice \\"A\\" Smith" <sip:alice@example.com>;tag=1928301774;X=Y')
    assert a.display == 'Alice "A" Smith' and a.tag == "1928301774"
    assert a.params == {"tag": "1928301774", "x": "Y"}
    assert NameAddr.parse(str(a)) == a and NameAddr.parse(str(a)).display == a.display
    b = NameAddr.parse("Bob <sip:bob@example.com>")
    assert b.display == "Bob" and b.tag is None
    c = NameAddr.parse("sip:carol@example.com;tag=88;expires=60")
    assert c.display is None and c.uri.params == {} and c.params == {"tag": "88", "expires": "60"}
    d = NameAddr.parse("<sip:d@example.com;lr>")
    assert d.uri.params == {"lr": None} and d.params == {} and str(d) == "<sip:d@example.com;lr>"
    e = NameAddr.parse('<sip:e@example.com>;+sip.instance="<urn:uuid:00000000-0000-1000>"')
    assert e.params["+sip.instance"] == '"<urn:uuid:00000000-0000-1000>"'


@pytest.mark.parametrize(
    "bad",
    [
        '"unterminated <sip:a@b>', "Bell, Alexander <sip:a@b>", "<sip:a@b", "< sip:a@b >",
        "<sip:a@b> junk", "sip:a@b?x=y", "", '"Alice" sip:alice@example.com',
    ],
)
def test_bad_name_addrs(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        NameAddr.parse(bad, "To header")


def test_split_list_and_params() -> None:
    assert split_list('"a, b" <sip:x@y>, <sip:z@w;p=1,2>, plain') == [
        '"a, b" <sip:x@y>', "<sip:z@w;p=1,2>", "plain",
    ]
    assert split_list(" , ,") == []
    assert parse_params(';A=1;b;C="x;y"') == {"a": "1", "b": None, "c": '"x;y"'}


def test_via() -> None:
    v = Via.parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;Received=192.0.2.1;rport")
    assert (v.transport, v.host, v.port) == ("UDP", "pc33.atlanta.com", 5066)
    assert v.branch == "z9hG4bK776asdhds" and v.received == "192.0.2.1"
    assert v.has_rport and v.rport is None
    assert Via.parse(str(v)) == v
    w = Via.parse("SIP / 2.0 / tcp  [2001:db8::9:1] : 6050 ; rport=5061 ; branch=z9hG4bK1")
    assert (w.transport, w.host, w.port, w.rport) == ("TCP", "2001:db8::9:1", 6050, 5061)
    assert w.sent_by == "[2001:db8::9:1]:6050"
    for bad in ["SIP/2.0 host", "HTTP/1.1/TCP host", "SIP/2.0/UDP", "SIP/2.0/UDP host;;"]:
        with pytest.raises(RemoteProtocolError):
            Via.parse(bad)


def test_cseq_rack_content_type_ints() -> None:
    assert CSeq.parse(" 0009\t INVITE ") == CSeq(9, "INVITE") and str(CSeq(9, "BYE")) == "9 BYE"
    assert RAck.parse("776656 1 INVITE") == RAck(776656, 1, "INVITE")
    for bad in ["", "1", "x INVITE", "1 INVITE extra", "4294967296 INVITE", "-1 BYE"]:
        with pytest.raises(RemoteProtocolError):
            CSeq.parse(bad)
    ct = ContentType.parse('Multipart/Mixed; boundary="abc def"')
    assert ct.media == "multipart/mixed" and ct.boundary == "abc def"
    with pytest.raises(RemoteProtocolError):
        ContentType.parse("text")
    assert parse_int_header(" 70 ", "Max-Forwards", 255) == 70
    for bad in ["256", "-1", "1.5", "", "٣"]:
        with pytest.raises(RemoteProtocolError):
            parse_int_header(bad, "Max-Forwards", 255)
