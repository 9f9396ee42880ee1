"""``sdp.origin_rest``: the key under which a full parse may be reused.

Its promise: when it returns a rest, the body's ``o=`` line is one ``parse``
accepts, and two bodies with the same rest parse alike (same description but
for the origin, or the same error). Checked against ``parse`` itself over
valid, damaged and random bodies.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip import sdp
from sipflow.sip.sdp import FAST_PATH_BYTES, SdpError, SessionDescription, origin_rest, parse

BODY = (
    b"v=0\r\no=- 42 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)
REST = BODY.split(b"\r\n", 2)[2]


def outcome(body: bytes) -> tuple[str, object]:
    """What ``parse`` makes of ``body``, with the origin set aside."""
    try:
        desc = parse(body)
    except SdpError as err:
        return "error", str(err)
    origin = desc.origin
    desc.origin = SessionDescription().origin
    return "ok", (desc, origin)


def test_rest_of_a_common_body() -> None:
    assert origin_rest(BODY) == REST
    assert origin_rest(BODY.replace(b"\r\n", b"\n")) == REST.replace(b"\r\n", b"\n")
    # Trailing blanks on o= are tolerated by parse, so here too.
    assert origin_rest(BODY.replace(b"192.0.2.1\r\ns", b"192.0.2.1 \t\r\ns")) == REST


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"v=0\r\n",
        b"v=0\r\no=- 42 7 IN IP4 192.0.2.1",  # no line end after o=
        b"v=1\r\no=- 42 7 IN IP4 h\r\n" + REST,
        b"v=0\r\ns=-\r\no=- 42 7 IN IP4 h\r\nt=0 0\r\n",  # o= not on line 2
        b" v=0\r\no=- 42 7 IN IP4 h\r\n" + REST,
        b"v=0\r\no=- 42 x IN IP4 h\r\n" + REST,  # version not a number
        b"v=0\r\no=- 42 \xd9\xa3 IN IP4 h\r\n" + REST,  # a non-ASCII digit
        b"v=0\r\no=- 42 7 IN IP4\r\n" + REST,  # five fields
        b"v=0\r\no=- 42  7 IN IP4 h\r\n" + REST,  # an empty field
        b"v=0\r\no=- 42 7 IN IP4 h\rx\r\n" + REST,  # stray CR
        b"v=0\r\no=- 42 7 IN IP4 h\0\r\n" + REST,  # NUL
        b"v=0\r\no=- 42 7 IN IP4 \xff\r\n" + REST,  # not UTF-8
        b"v=0\r\no=- 42 7 IN IP4 h\r\n" + b"a=x\r\n" * (FAST_PATH_BYTES // 5),  # too long
    ],
)
def test_other_shapes_and_faulty_origins_take_the_full_parser(body: bytes) -> None:
    assert origin_rest(body) is None


def test_faulty_origin_errors_come_from_parse() -> None:
    """A caller falls back to ``parse`` on None, which names the line."""
    body = b"v=0\r\no=- 42 x IN IP4 h\r\n" + REST
    assert origin_rest(body) is None
    with pytest.raises(SdpError, match="SDP line 2: sess-version 'x' is not a number"):
        parse(body)


# ---------------------------------------------------------------------------
# Properties: bodies sharing a rest parse alike; a rest implies a good o= line.
# ---------------------------------------------------------------------------

ORIGIN_CHARS = st.sampled_from(["-", "42", "7", "IN", "IP4", "h", " ", "\t", "\r", "\0", "x", "é"])
origin_values = st.one_of(
    st.builds(
        "{} {} {} {} {} {}".format,
        st.sampled_from(["-", "alice", "é"]),
        st.integers(0, 2**64).map(str),
        st.integers(0, 2**64).map(str),
        st.sampled_from(["IN", "X"]),
        st.sampled_from(["IP4", "IP6"]),
        st.sampled_from(["192.0.2.1", "::1", "host"]),
    ),
    st.lists(ORIGIN_CHARS, max_size=14).map("".join),
)
REST_LINES = [
    "s=-",
    "s=",
    "c=IN IP4 192.0.2.9",
    "t=0 0",
    "t=x 0",
    "o=- 1 1 IN IP4 h",
    "m=audio 5004 RTP/AVP 0 8",
    "m=audio 0 RTP/AVP 0",
    "m=video 5006 RTP/AVP 96",
    "a=rtpmap:96 H264/90000",
    "a=rtpmap:96 bad",
    "a=sendonly",
    "a=ptime:20",
    "b=AS:64",
    "v=0",
    "k=clear:x",
    "q=what",
]
MEDIA_LINES = [
    "m=audio 5004 RTP/AVP 0 8 101",
    "m=audio 0 RTP/AVP 0",
    "m=video 5006 RTP/AVP 96",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=rtpmap:96 H264/90000",
    "a=sendonly",
    "a=ptime:20",
    "c=IN IP4 192.0.2.9",
]
structured = st.tuples(
    st.just(["s=-"]),
    st.sampled_from([[], ["c=IN IP4 192.0.2.9"]]),
    st.just(["t=0 0"]),
    st.lists(st.sampled_from(["a=recvonly", "a=tool:x", "b=AS:64"]), max_size=2),
    st.lists(st.sampled_from(MEDIA_LINES), max_size=8),
).map(lambda parts: [line for part in parts for line in part])
rests = st.tuples(
    st.one_of(structured, st.lists(st.sampled_from(REST_LINES), max_size=9)),
    st.sampled_from(["\r\n", "\n"]),
).map(lambda parts: "".join(line + parts[1] for line in parts[0]).encode())
line_one = st.sampled_from([b"v=0\r\n", b"v=0\n"])
line_end = st.sampled_from([b"\r\n", b"\n"])


def body_of(first: bytes, origin: str, end: bytes, rest: bytes) -> bytes:
    return first + b"o=" + origin.encode("utf-8", "surrogatepass") + end + rest


@settings(max_examples=200, deadline=None)
@given(line_one, origin_values, line_end, rests)
def test_a_rest_means_the_origin_line_parses(
    first: bytes, origin: str, end: bytes, rest: bytes
) -> None:
    body = body_of(first, origin, end, rest)
    key = origin_rest(body)
    if key is None:
        return
    assert key == rest
    # The o= line alone, in a minimal description, is accepted.
    parse(first + b"o=" + origin.encode() + end + b"s=-\r\nt=0 0\r\n")


@settings(max_examples=200, deadline=None)
@given(line_one, origin_values, line_end, line_one, origin_values, line_end, rests)
def test_bodies_with_one_rest_parse_alike(
    first_a: bytes,
    origin_a: str,
    end_a: bytes,
    first_b: bytes,
    origin_b: str,
    end_b: bytes,
    rest: bytes,
) -> None:
    body_a = body_of(first_a, origin_a, end_a, rest)
    body_b = body_of(first_b, origin_b, end_b, rest)
    key_a, key_b = origin_rest(body_a), origin_rest(body_b)
    if key_a is None or key_b is None:
        return
    assert key_a == key_b
    kind_a, what_a = outcome(body_a)
    kind_b, what_b = outcome(body_b)
    assert kind_a == kind_b
    if kind_a == "error":
        assert what_a == what_b
    else:
        assert what_a[0] == what_b[0]  # type: ignore[index]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120), rests)
def test_random_bytes_never_escape(head: bytes, rest: bytes) -> None:
    for body in (head, b"v=0\r\no=" + head + b"\r\n" + rest):
        key = origin_rest(body)
        assert key is None or body.endswith(key)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 /PCMUopus-", max_size=90))
def test_remembered_rtpmaps_are_parsed_ones(value: str) -> None:
    """Short rtpmap values come from a bounded memo, long ones are parsed each time."""
    assert sdp._parse_rtpmap(value) == sdp._read_rtpmap(value)
    assert sdp._parse_rtpmap(value) == sdp._parse_rtpmap(value)
    assert sdp._read_rtpmap_cached.cache_info().currsize <= 512
