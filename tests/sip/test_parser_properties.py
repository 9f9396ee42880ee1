"""Property tests: serialize/parse round trips for generated messages, and
fuzzing from real messages (the torture corpus and typical INVITEs): nothing
but ``RemoteProtocolError`` ever escapes the parser or the typed accessors."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.framing import StreamFramer
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response, parse_message

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
hosts = st.one_of(
    st.lists(labels, min_size=1, max_size=4).map(".".join),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["[::1]", "[2001:db8::10]", "[::ffff:192.0.2.1]"]),
)
users = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()&=+$,;?/", min_size=1,
                max_size=12)
uri_params = st.lists(
    st.tuples(tokens, st.one_of(st.none(), tokens)), max_size=3, unique_by=lambda kv: kv[0].lower()
).map(
    lambda ps: "".join(f";{k}" if v is None else f";{k}={v}" for k, v in ps)
)
uris = st.builds(
    lambda scheme, user, host, port, params: (
        f"{scheme}:{user + '@' if user else ''}{host}{':' + str(port) if port else ''}{params}"
    ),
    st.sampled_from(["sip", "sips"]),
    st.one_of(st.none(), users),
    hosts,
    st.one_of(st.none(), st.integers(1, 65535)),
    uri_params,
)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
).map(str.strip)
methods = st.one_of(
    st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE",
                     "INFO", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"]),
    tokens,
)
extra_headers = st.lists(st.tuples(tokens.map(lambda t: "X-" + t), values), max_size=6)
bodies = st.binary(max_size=300)


def base_headers(method: str, uri: str, seq: int, tag: str) -> list[tuple[str, str]]:
    return [
        ("Via", "SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK" + tag),
        ("Max-Forwards", "70"),
        ("From", f'"Al ice" <{uri}>;tag={tag}'),
        ("To", f"<{uri}>"),
        ("Call-ID", tag + "@pc33.example.com"),
        ("CSeq", f"{seq} {method}"),
        ("Contact", f"<{uri}>"),
    ]


@settings(max_examples=120, deadline=None)
@given(methods, uris, st.integers(0, 2**31 - 1), tokens, extra_headers, bodies)
def test_request_round_trip(method, uri, seq, tag, extra, body) -> None:
    req = Request(method, uri, base_headers(method, uri, seq, tag) + extra, body)
    data = req.serialize()
    back = parse_message(data)
    assert isinstance(back, Request)
    assert (back.method, back.uri, back.body) == (method, uri, body)
    assert back.headers == req.headers
    assert back.cseq.seq == seq and back.from_tag == tag
    assert str(back.ruri).lower() == uri.lower()  # parameter names are lower-cased
    assert back.serialize() == data


@settings(max_examples=80, deadline=None)
@given(st.integers(100, 699), values, uris, tokens, extra_headers, bodies)
def test_response_round_trip(status, reason, uri, tag, extra, body) -> None:
    req = Request("INVITE", uri, base_headers("INVITE", uri, 1, tag))
    resp = make_response(req, status, reason or None, extra, body)
    back = parse_message(resp.serialize())
    assert isinstance(back, Response)
    assert (back.status, back.body) == (status, body)
    assert back.reason == resp.reason
    assert back.headers == resp.headers
    assert back.vias[0].branch == "z9hG4bK" + tag


# -- fuzzing ----------------------------------------------------------------
CORPUS = [p.read_bytes() for p in sorted((Path(__file__).parent / "torture").glob("*.dat"))]
SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
CORPUS.append(
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\nCall-ID: 3848276298220188511@atlanta\r\n"
    b"CSeq: 1 INVITE\r\nContact: <sip:alice@client.atlanta.example.com>\r\n"
    b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Supported: 100rel, timer\r\nRequire: 100rel\r\nRAck: 1 1 INVITE\r\nRSeq: 4\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: " + str(len(SDP)).encode()
    + b"\r\n\r\n" + SDP
)
INTERESTING = [b"\r\n", b"\r\n\r\n", b" ", b":", b";", b",", b"<", b">", b'"', b"\\", b"@",
               b"[", b"]", b"%", b"\x00", b"\xff", b"SIP/2.0", b"Content-Length: 99999", b"\t"]

mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("del"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("ins"), st.integers(0, 10**6), st.sampled_from(INTERESTING)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
)


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    buf = bytearray(data)
    for kind, pos, arg in ops:
        if not buf:
            break
        pos %= len(buf)
        if kind == "set":
            buf[pos] = arg
        elif kind == "del":
            del buf[pos : pos + arg]
        elif kind == "ins":
            buf[pos:pos] = arg
        else:
            del buf[pos:]
    return bytes(buf)


def exercise(msg: Request | Response) -> None:
    """Touch every typed accessor; only RemoteProtocolError may come out."""
    for name in ("call_id", "cseq", "vias", "top_via", "from_", "to", "from_tag", "to_tag",
                 "contact", "contact_star", "route", "record_route", "max_forwards", "expires",
                 "rseq", "rack", "content_type", "content_type_info", "supported", "require",
                 "proxy_require", "allow"):
        try:
            getattr(msg, name)
        except RemoteProtocolError:
            pass
    if isinstance(msg, Request):
        try:
            msg.ruri  # noqa: B018
        except RemoteProtocolError:
            pass
    msg.serialize()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CORPUS), st.lists(mutation, min_size=1, max_size=6))
def test_fuzzed_messages_raise_only_remote_protocol_error(seed: bytes, ops: list[tuple]) -> None:
    data = mutate(seed, ops)
    try:
        msg = parse_message(data)
    except RemoteProtocolError as err:
        assert isinstance(err.status, int) and err.reason
        if err.status:
            assert isinstance(err.message, Request)
            make_response(err.message, err.status).serialize()
        return
    exercise(msg)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(CORPUS), min_size=1, max_size=4),
       st.lists(mutation, max_size=4), st.integers(1, 200))
def test_fuzzed_streams(seeds: list[bytes], ops: list[tuple], chunk: int) -> None:
    data = mutate(b"".join(seeds), ops)
    framer = StreamFramer()
    try:
        for i in range(0, len(data), chunk):
            for framed in framer.feed(data[i : i + chunk]):
                try:
                    exercise(parse_message(framed))
                except RemoteProtocolError:
                    pass
    except RemoteProtocolError as err:
        assert err.status in (0, 400, 513)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    try:
        exercise(parse_message(data))
    except RemoteProtocolError:
        pass
