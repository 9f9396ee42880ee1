"""RFC 4475 and RFC 5118 torture messages against the parser.

The ``.dat`` files in ``tests/sip/torture/`` are written by
``tests/sip/torture/build_corpus.py`` (transcribed from the RFC text; see its
docstring). ``CORPUS`` records, for each file, the RFC section and what a user
agent should do with it: ``None`` = it parses (any problem is above the
parser: 416, 420, 415 ...), an ``int`` = ``parse_message`` raises
``RemoteProtocolError`` with that ``status`` (0 = drop: no answer possible).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.framing import StreamFramer
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response, parse_message

DIR = Path(__file__).parent / "torture"

# file: (RFC, section, title, expected status or None when it must parse)
CORPUS: dict[str, tuple[str, str, str, int | None]] = {
    "wsinv": ("4475", "3.1.1.1", "A Short Tortuous INVITE", None),
    "intmeth": ("4475", "3.1.1.2", "Wide Range of Valid Characters", None),
    "esc01": ("4475", "3.1.1.3", "Valid Use of the % Escaping Mechanism", None),
    "escnull": ("4475", "3.1.1.4", "Escaped Nulls in URIs", None),
    "esc02": ("4475", "3.1.1.5", "Use of % When It Is Not an Escape", None),
    "lwsdisp": ("4475", "3.1.1.6", "No LWS between Display Name and <", None),
    "longreq": ("4475", "3.1.1.7", "Long Values in Header Fields", None),
    "dblreq": ("4475", "3.1.1.8", "Extra Trailing Octets in a UDP Datagram", None),
    "semiuri": ("4475", "3.1.1.9", "Semicolon-Separated Parameters in URI User Part", None),
    "transports": ("4475", "3.1.1.10", "Varied and Unknown Transport Types", None),
    "mpart01": ("4475", "3.1.1.11", "Multipart MIME Message", None),
    "unreason": ("4475", "3.1.1.12", "Unusual Reason Phrase", None),
    "noreason": ("4475", "3.1.1.13", "Empty Reason Phrase", None),
    "badinv01": ("4475", "3.1.2.1", "Extraneous Header Field Separators", 400),
    "clerr": ("4475", "3.1.2.2", "Content Length Larger Than Message", 400),
    "ncl": ("4475", "3.1.2.3", "Negative Content-Length", 400),
    "scalar02": ("4475", "3.1.2.4", "Request Scalar Fields with Overlarge Values", 400),
    "scalarlg": ("4475", "3.1.2.5", "Response Scalar Fields with Overlarge Values", 0),
    "quotbal": ("4475", "3.1.2.6", "Unterminated Quoted String in Display Name", 400),
    "ltgtruri": ("4475", "3.1.2.7", "<> Enclosing Request-URI", 400),
    "lwsruri": ("4475", "3.1.2.8", "Malformed SIP Request-URI (embedded LWS)", 400),
    "lwsstart": ("4475", "3.1.2.9", "Multiple SP Separating Request-Line Elements", 400),
    "trws": ("4475", "3.1.2.10", "SP Characters at End of Request-Line", 400),
    "escruri": ("4475", "3.1.2.11", "Escaped Headers in SIP Request-URI", 400),
    # §3.1.2.12: the RFC lets an element ignore a Date it does not need; a UA does.
    "baddate": ("4475", "3.1.2.12", "Invalid Time Zone in Date Header Field", None),
    "regbadct": ("4475", "3.1.2.13", "Failure to Enclose name-addr URI in <>", 400),
    "badaspec": ("4475", "3.1.2.14", "Spaces within addr-spec", 400),
    "baddn": ("4475", "3.1.2.15", "Non-token Characters in Display Name", 400),
    "badvers": ("4475", "3.1.2.16", "Unknown Protocol Version", 505),
    "mismatch01": ("4475", "3.1.2.17", "Start Line and CSeq Method Mismatch", 400),
    "mismatch02": ("4475", "3.1.2.18", "Unknown Method with CSeq Method Mismatch", 400),
    "bigcode": ("4475", "3.1.2.19", "Overlarge Response Code", 0),
    "badbranch": ("4475", "3.2.1", "Missing Transaction Identifier", None),
    # §3.3.1: "Ideally, it will respond with a 400 Bad Request."
    "insuf": ("4475", "3.3.1", "Missing Required Header Fields", 400),
    "unkscm": ("4475", "3.3.2", "Request-URI with Unknown Scheme (UA: 416)", None),
    "novelsc": ("4475", "3.3.3", "Request-URI with Known but Atypical Scheme (UA: 416)", None),
    "unksm2": ("4475", "3.3.4", "Unknown URI Schemes in Header Fields", None),
    "bext01": ("4475", "3.3.5", "Proxy-Require and Require (UA: 420)", None),
    "invut": ("4475", "3.3.6", "Unknown Content-Type (UA: 415)", None),
    "regaut01": ("4475", "3.3.7", "Unknown Authorization Scheme", None),
    "multi01": ("4475", "3.3.8", "Multiple Values in Single Value Required Fields", 400),
    "mcl01": ("4475", "3.3.9", "Multiple Content-Length Values", 400),
    "bcast": ("4475", "3.3.10", "200 OK Response with Broadcast Via Header Field Value", None),
    "zeromf": ("4475", "3.3.11", "Max-Forwards of Zero", None),
    "cparam01": ("4475", "3.3.12", "REGISTER with a Contact Header Parameter", None),
    "cparam02": ("4475", "3.3.13", "REGISTER with a url-parameter", None),
    "regescrt": ("4475", "3.3.14", "REGISTER with a URL Escaped Header", None),
    "sdp01": ("4475", "3.3.15", "Unacceptable Accept Offering", None),
    "inv2543": ("4475", "3.4.1", "INVITE with RFC 2543 Syntax", None),
    "ipv6-good": ("5118", "4.1", "Valid SIP Message with an IPv6 Reference", None),
    "ipv6-bad": ("5118", "4.2", "Invalid SIP Message with an IPv6 Reference", 400),
    "port-ambiguous": ("5118", "4.3", "Port Ambiguous in a SIP URI", None),
    "port-unambiguous": ("5118", "4.4", "Port Unambiguous in a SIP URI", None),
    "via-received-param-with-delim": ("5118", "4.5", "received with IPv6 delimiters", None),
    "via-received-param-no-delim": ("5118", "4.5", "received without IPv6 delimiters", None),
    "ipv6-in-sdp": ("5118", "4.6", "SIP Request with IPv6 Addresses in SDP Body", None),
    "mult-ip-in-header": ("5118", "4.7", "Multiple IP Addresses in SIP Headers", None),
    "mult-ip-in-sdp": ("5118", "4.8", "Multiple IP Addresses in SDP", None),
    "ipv4-mapped-ipv6": ("5118", "4.9", "IPv4-Mapped IPv6 Addresses", None),
    "ipv6-bug-abnf-3-colons": ("5118", "4.10", "IPv6 Reference Bug in RFC 3261 ABNF", 400),
    "ipv6-correct-abnf-2-colons": ("5118", "4.10", "Correct IPv6 ABNF", None),
}


def load(name: str) -> bytes:
    return (DIR / f"{name}.dat").read_bytes()


def test_corpus_table_matches_the_files() -> None:
    assert sorted(CORPUS) == sorted(p.stem for p in DIR.glob("*.dat"))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_torture_message(name: str) -> None:
    rfc, section, title, expected = CORPUS[name]
    data = load(name)
    if expected is None:
        msg = parse_message(data)
        # the typed accessors a transaction and dialog need all work
        assert msg.top_via.host
        assert msg.cseq.seq >= 0
        # and an untouched message serializes to what came in (up to §18.3 truncation)
        again = parse_message(msg.serialize())
        assert again.headers == msg.headers and again.body == msg.body
        return
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data)
    err = info.value
    assert err.status == expected, f"RFC {rfc} §{section} {title}: {err.reason}"
    assert err.reason and "\n" not in err.reason
    if expected:
        # the leniently parsed request is enough to build the answer
        answer = make_response(err.message, err.status).serialize()
        assert answer.startswith(f"SIP/2.0 {expected} ".encode())
        top_via = err.message.headers.get("via").encode("utf-8", "surrogateescape")
        assert top_via in answer
    else:
        assert err.message is None


def test_wsinv_details() -> None:
    m = parse_message(load("wsinv"))
    assert isinstance(m, Request)
    assert m.ruri.params == {"unknownparam": None}
    assert m.to_tag == "1918181833n" and m.from_tag == "98asjd8"
    assert m.from_.display == 'J Rosenberg \\"'
    assert m.max_forwards == 68 and m.cseq.seq == 9 and m.cseq.method == "INVITE"
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.headers.get("subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = m.contact
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.route[0].uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    assert len(m.body) == 150


def test_intmeth_and_escapes() -> None:
    m = parse_message(load("intmeth"))
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.ruri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.ruri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display == "token1~` token2'+_ token3*%!.-"
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    e = parse_message(load("esc01"))
    assert e.ruri.user_unescaped == "sips:user@example.com"
    assert e.to.uri.user_unescaped == "user"
    assert e.contact[0].uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}
    n = parse_message(load("escnull"))
    assert [c.uri.user_unescaped for c in n.contact] == ["\x00", "\x00\x00"]
    e2 = parse_message(load("esc02"))
    assert e2.method == "RE%47IST%45R" and e2.to.display == "%Z%45"
    assert len(e2.contact) == 2 and e2.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_long_dblreq_semiuri_and_responses() -> None:
    m = parse_message(load("longreq"))
    assert len(m.vias) == 34 and m.vias[-1].received == "192.0.2.5"
    assert m.to.uri.port == 6000 and m.from_tag == "12" + "982" * 50 + "424"
    d = parse_message(load("dblreq"))
    assert d.method == "REGISTER" and d.body == b""
    s = parse_message(load("semiuri"))
    assert s.ruri.user_unescaped == "user;par=u@example.net" and s.ruri.host == "example.com"
    assert len(s.headers.get_all("accept")) == 6
    u = parse_message(load("unreason"))
    assert isinstance(u, Response) and u.status == 200
    assert u.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert u.serialize() == load("unreason")
    nr = parse_message(load("noreason"))
    assert isinstance(nr, Response) and nr.status == 100 and nr.reason == ""


def test_application_layer_messages_expose_what_the_ua_needs() -> None:
    assert parse_message(load("unkscm")).ruri.scheme == "nobodyknowsthisscheme"
    assert parse_message(load("unkscm")).ruri.opaque == "totallyopaquecontent"
    assert parse_message(load("novelsc")).ruri.scheme == "soap.beep"
    b = parse_message(load("bext01"))
    assert b.require == {"nothingsupportsthis", "nothingsupportsthiseither"}
    assert b.proxy_require == {"noproxiessupportthis", "nordoanyproxiessupportthis"}
    assert parse_message(load("invut")).content_type == "application/unknownformat"
    assert parse_message(load("zeromf")).max_forwards == 0
    c1 = parse_message(load("cparam01")).contact[0]
    assert c1.params == {"unknownparam": None} and c1.uri.params == {}
    c2 = parse_message(load("cparam02")).contact[0]
    assert c2.params == {} and c2.uri.params == {"unknownparam": None}
    r = parse_message(load("regescrt")).contact[0]
    assert r.uri.headers == {"Route": "%3Csip:sip.example.com%3E"}
    old = parse_message(load("inv2543"))
    assert old.from_tag is None and old.max_forwards is None and old.top_via.branch is None
    assert old.to.params == {"user": "phone"}


def test_ipv6_references() -> None:
    assert parse_message(load("ipv6-good")).ruri.host == "2001:db8::10"
    amb = parse_message(load("port-ambiguous")).ruri
    assert (amb.host, amb.port) == ("2001:db8::10:5070", None)
    una = parse_message(load("port-unambiguous")).ruri
    assert (una.host, una.port) == ("2001:db8::10", 5070)
    assert str(una) == "sip:[2001:db8::10]:5070"
    via = parse_message(load("via-received-param-with-delim")).top_via
    assert via.host == "2001:db8::9:1" and via.received == "[2001:db8::9:255]"
    mapped = parse_message(load("ipv4-mapped-ipv6"))
    assert mapped.top_via.host == "::ffff:192.0.2.10" and mapped.top_via.port == 19823


def test_corpus_over_a_stream() -> None:
    """Every corpus message with a correct Content-Length, sent back to back
    on one stream with keep-alives between, comes out whole; a stream message
    without Content-Length (RFC 2543 style) breaks the stream (§18.3)."""
    framed = [n for n, (_, _, _, exp) in sorted(CORPUS.items())
              if exp is None and n not in ("dblreq", "inv2543")]
    data = [load(n) for n in framed]
    framer = StreamFramer(max_message=1 << 20)
    out = []
    for chunk in data:
        out += framer.feed(chunk[:7]) + framer.feed(chunk[7:] + b"\r\n\r\n")
    assert out == data and framer.keepalives == len(data)
    assert [type(parse_message(m)) for m in out].count(Response) == 3
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(load("inv2543"))
    assert info.value.status == 400
