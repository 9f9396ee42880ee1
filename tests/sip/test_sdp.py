"""SDP (RFC 8866) parser and serializer: real bodies, errors with line numbers, round trips."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.sdp import (
    DIRECTIONS,
    Attribute,
    Bandwidth,
    Connection,
    Media,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
    parse,
)

# What `sipp -sd uac` sends, with its keywords filled in.
SIPP_DEFAULT = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# A typical desktop softphone offer (canonical order, so it serializes back byte for byte).
SOFTPHONE = (
    b"v=0\r\n"
    b"o=- 3903452543 3903452543 IN IP4 192.168.1.20\r\n"
    b"s=Softphone 5.6\r\n"
    b"c=IN IP4 192.168.1.20\r\n"
    b"b=AS:84\r\n"
    b"t=0 0\r\n"
    b"a=X-nat:0\r\n"
    b"m=audio 8000 RTP/AVP 9 0 8 3 101\r\n"
    b"b=TIAS:64000\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:3 GSM/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=maxptime:150\r\n"
    b"a=rtcp:8001 IN IP4 192.168.1.20\r\n"
    b"a=sendrecv\r\n"
    b"m=video 0 RTP/AVP 96\r\n"
    b"a=rtpmap:96 H264/90000\r\n"
    b"a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n"
)


class TestRealBodies:
    def test_sipp_default(self) -> None:
        desc = parse(SIPP_DEFAULT)
        assert desc.origin == Origin("user1", "53655765", 2353687637, "IN", "IP4", "127.0.0.1")
        assert desc.name == "-"
        assert desc.connection == Connection("IN", "IP4", "127.0.0.1")
        assert desc.times == [Timing(0, 0)]
        (audio,) = desc.media
        assert (audio.media, audio.port, audio.proto, audio.formats) == (
            "audio",
            6000,
            "RTP/AVP",
            ["0"],
        )
        assert audio.rtpmaps() == {0: RtpMap(0, "PCMU", 8000)}
        assert audio.direction is None
        assert desc.media_direction(audio) == "sendrecv"
        assert desc.serialize() == SIPP_DEFAULT

    def test_softphone_offer(self) -> None:
        desc = parse(SOFTPHONE)
        assert desc.bandwidths == [Bandwidth("AS", 84)]
        assert desc.attributes == [Attribute("X-nat", "0")]
        audio, video = desc.media
        assert audio.payload_types == [9, 0, 8, 3, 101]
        assert audio.codec(101) == RtpMap(101, "telephone-event", 8000)
        assert audio.codec(18) == RtpMap(18, "G729", 8000)  # static, from RFC 3551
        assert audio.fmtp(101) == "0-16"
        assert audio.fmtp(0) is None
        assert audio.ptime == 20.0
        assert audio.attribute("rtcp") == "8001 IN IP4 192.168.1.20"
        assert audio.attribute("sendrecv") == ""
        assert audio.direction == "sendrecv"
        assert audio.bandwidths == [Bandwidth("TIAS", 64000)]
        assert video.port == 0 and video.fmtp(96) == "profile-level-id=42e01f;packetization-mode=1"
        assert desc.serialize() == SOFTPHONE

    def test_lf_only_and_no_final_newline_are_accepted(self) -> None:
        text = SIPP_DEFAULT.decode().replace("\r\n", "\n").rstrip("\n")
        assert parse(text).serialize() == SIPP_DEFAULT

    def test_trailing_blanks_on_structured_lines(self) -> None:
        text = SIPP_DEFAULT.decode().replace("RTP/AVP 0", "RTP/AVP 0 ").replace("t=0 0", "t=0 0\t")
        assert parse(text).serialize() == SIPP_DEFAULT

    def test_order_inside_a_section_is_lenient_and_serialize_makes_it_canonical(self) -> None:
        text = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=tool:x\r\nc=IN IP4 h\r\n"
        assert (
            parse(text).serialize()
            == b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\na=tool:x\r\n"
        )

    def test_ipv6_multicast_and_repeats(self) -> None:
        text = (
            "v=0\r\no=jdoe 2890844526 2890842807 IN IP6 2001:db8::1\r\ns=SDP Seminar\r\n"
            "i=A Seminar on the session description protocol\r\nu=http://www.example.com/seminars/sdp.pdf\r\n"
            "e=j.doe@example.com (Jane Doe)\r\np=+1 617 555-6011\r\nc=IN IP4 233.252.0.1/127\r\n"
            "t=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h 2898848070 0\r\nk=prompt\r\n"
            "a=recvonly\r\nm=audio 49170/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP6 2001:db8::2\r\nk=prompt\r\n"
            "m=application 32416 udp wb\r\na=orient:portrait\r\n"
        )
        desc = parse(text)
        assert desc.origin.addrtype == "IP6"
        assert desc.times[0].repeats == ["7d 1h 0 25h"]
        assert desc.direction == "recvonly"
        audio, app = desc.media
        assert audio.port_count == 2 and audio.title == "voice" and audio.key == "prompt"
        assert desc.connection_for(audio) == Connection("IN", "IP6", "2001:db8::2")
        assert desc.connection_for(app) == Connection("IN", "IP4", "233.252.0.1/127")
        assert desc.media_direction(app) == "recvonly"  # inherited from the session
        assert app.payload_types == [] and app.formats == ["wb"]
        assert desc.to_text() == text


def _sipp_scenario_sdp(name: str) -> str:
    """The SDP body of one of sipp's embedded scenarios (``sipp -sd NAME``), as sipp would send it."""
    if shutil.which("sipp") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("sipp is not installed")
        pytest.skip("sipp is not installed")
    xml = subprocess.run(["sipp", "-sd", name], capture_output=True, text=True, timeout=10).stdout
    lines = xml.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "v=0")
    body = []
    for line in lines[start:]:
        if not line.strip() or "]]>" in line:
            break
        body.append(line.strip())
    text = "".join(line + "\r\n" for line in body)
    for keyword, value in (
        ("[local_ip_type]", "4"),
        ("[media_ip_type]", "4"),
        ("[local_ip]", "127.0.0.1"),
        ("[media_ip]", "127.0.0.1"),
        ("[media_port]", "6000"),
    ):
        text = text.replace(keyword, value)
    return text


@pytest.mark.parametrize(
    "scenario", ["uac", "uas", "regexp", "branchc", "branchs", "3pcc-A", "3pcc-B"]
)
def test_sipp_embedded_scenarios(scenario: str) -> None:
    text = _sipp_scenario_sdp(scenario)
    desc = parse(text)
    assert desc.media[0].codec(0) == RtpMap(0, "PCMU", 8000)
    assert desc.connection == Connection("IN", "IP4", "127.0.0.1")
    assert desc.to_text() == text
    assert desc.serialize() == SIPP_DEFAULT


class TestEditing:
    def test_direction_setter_replaces_in_place(self) -> None:
        desc = parse(SOFTPHONE)
        audio = desc.media[0]
        audio.direction = "sendonly"
        assert audio.direction == "sendonly"
        assert [a.name for a in audio.attributes][-1] == "sendonly"
        assert sum(a.name in DIRECTIONS for a in audio.attributes) == 1
        audio.direction = None
        assert audio.direction is None
        with pytest.raises(ValueError):
            audio.direction = "sideways"

    def test_set_and_remove_attribute(self) -> None:
        media = Media(
            "audio",
            1,
            "RTP/AVP",
            ["0"],
            attributes=[Attribute("x", "1"), Attribute("y"), Attribute("x", "2")],
        )
        media.set_attribute("x", "3")
        assert media.attributes == [Attribute("x", "3"), Attribute("y")]
        media.set_attribute("z")
        assert media.attribute("z") == ""
        media.remove_attribute("x")
        assert media.attribute("x") is None
        assert media.attribute_values("y") == [""]

    def test_typed_views(self) -> None:
        media = parse(SOFTPHONE).media[0]
        assert str(RtpMap(97, "opus", 48000, 2)) == "97 opus/48000/2"
        assert str(media.rtpmaps()[0]) == "0 PCMU/8000"
        assert media.codec(96) is None  # dynamic and not mapped
        assert media.codec(10) == RtpMap(10, "L16", 44100, 2)
        media.set_attribute("ptime", "soon")
        assert media.ptime is None
        desc = parse(SIPP_DEFAULT)
        assert bytes(desc) == SIPP_DEFAULT

    def test_copy_is_deep(self) -> None:
        desc = parse(SIPP_DEFAULT)
        other = desc.copy()
        other.media[0].formats.append("8")
        assert desc.media[0].formats == ["0"]


def _body(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


HEAD = ("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0")


class TestBadInput:
    @pytest.mark.parametrize(
        "text, line, fragment",
        [
            ("", 0, "empty description"),
            ("hello world", 1, "expected '<type>=<value>'"),
            (_body("v=1", *HEAD[1:]), 1, "starts with 'v=0'"),
            (_body("o=- 1 1 IN IP4 h", "v=0"), 1, "starts with 'v=0'"),
            (
                _body("v=0", "o=- 1 x IN IP4 h", "s=-", "t=0 0"),
                2,
                "sess-version 'x' is not a number",
            ),
            (_body("v=0", "o=- 1 1 IN IP4", "s=-", "t=0 0"), 2, "six fields"),
            (_body("v=0", "o=- 1 1 IN IP4 h", "t=0 0"), 3, "no s= (session name) line"),
            (_body("v=0", "s=-", "t=0 0"), 3, "no o= (origin) line"),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=-"), 3, "no t= (timing) line"),
            (_body(*HEAD, "x=unknown"), 6, "unknown line type 'x='"),
            (_body(*HEAD, "A=upper"), 6, "expected '<type>=<value>'"),
            (_body(*HEAD, "a"), 6, "expected '<type>=<value>'"),
            (_body(*HEAD, "s=again"), 6, "second 's=' line"),
            (_body(*HEAD, "m=audio 70000 RTP/AVP 0"), 6, "port 70000 is larger than 65535"),
            (_body(*HEAD, "m=audio 5 RTP/AVP"), 6, "m= needs"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 200"), 6, "RTP payload type 200 is larger than 127"),
            (_body(*HEAD, "m=audio 5 RTP/AVP PCMU"), 6, "RTP payload type 'PCMU' is not a number"),
            (_body(*HEAD, "m=audio 5/0 RTP/AVP 0"), 6, "port count 0"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "t=0 0"), 7, "not allowed inside a media section"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "a=rtpmap:0 PCMU"), 7, "a=rtpmap needs"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "a=rtpmap:x PCMU/8000"), 7, "a=rtpmap needs"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "a=fmtp:101"), 7, "a=fmtp needs"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "a=ptime:fast"), 7, "a=ptime needs"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "a=sendrecv:yes"), 7, "takes no value"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "a=:x"), 7, "bad attribute name"),
            (_body(*HEAD, "m=audio 5 RTP/AVP 0", "i=a", "i=b"), 8, "second 'i=' line"),
            (
                _body("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", "m=audio 5 RTP/AVP 0"),
                5,
                "no c= line",
            ),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=-", "c=IN IP4", "t=0 0"), 4, "c= needs"),
            (
                _body("v=0", "o=- 1 1 IN IP4 h", "s=-", "c=IN I(4 h", "t=0 0"),
                4,
                "bad network or address",
            ),
            (_body(*HEAD, "m=au(dio 5 RTP/AVP 0"), 6, "bad media type"),
            (_body(*HEAD, "m=audio 5 RTP//AVP 0"), 6, "bad transport protocol"),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=-", "b=AS", "t=0 0"), 4, "b= needs"),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=-", "b=AS:lots", "t=0 0"), 4, "bandwidth 'lots'"),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=-", "r=1d 1h 0", "t=0 0"), 4, "r= before any t="),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=", "t=0 0"), 3, "s= may not be empty"),
            (_body("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=now 0"), 4, "start time 'now'"),
            (_body(*HEAD, "", "a=x"), 6, "expected '<type>=<value>'"),
        ],
    )
    def test_rejected_with_line_number(self, text: str, line: int, fragment: str) -> None:
        with pytest.raises(SdpError) as info:
            parse(text)
        assert info.value.line == line
        assert fragment in str(info.value)
        prefix = f"SDP line {line}: " if line else "SDP: "
        assert str(info.value).startswith(prefix)

    def test_bad_utf8_names_its_line(self) -> None:
        with pytest.raises(SdpError, match="SDP line 3: not valid UTF-8") as info:
            parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\xfe\r\nt=0 0\r\n")
        assert info.value.line == 3

    def test_size_caps(self) -> None:
        with pytest.raises(SdpError, match="longer than"):
            parse(b"v=0\r\n" + b"a=x\r\n" * 20000)
        with pytest.raises(SdpError, match="longer than"):
            parse("v=0\r\n" + "a=x\r\n" * 20000)
        with pytest.raises(SdpError, match="more than 2000 lines"):
            parse("v=0\n" + "a=x\n" * 2500)

    def test_sdp_error_is_a_remote_protocol_error(self) -> None:
        with pytest.raises(RemoteProtocolError) as info:
            parse("nonsense")
        assert info.value.status == 400
        assert info.value.reason == "SDP line 1: expected '<type>=<value>', found 'nonsense'."

    def test_wrong_type(self) -> None:
        with pytest.raises(SdpError, match="expected bytes or str"):
            parse(42)  # type: ignore[arg-type]

    def test_stray_nul(self) -> None:
        with pytest.raises(SdpError, match="SDP line 3: stray CR or NUL"):
            parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=a\0b\r\nt=0 0\r\n")

    def test_unusual_but_valid_is_kept(self) -> None:
        desc = parse(_body(*HEAD, "a=foo:", "a=bar", "m=audio 5 RTP/AVP 0", "a=x-custom:1 2 3"))
        assert desc.attributes == [Attribute("foo", ""), Attribute("bar", None)]
        assert desc.media[0].attributes == [Attribute("x-custom", "1 2 3")]

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from("vosictbmaxrk"),
                st.text(alphabet="0123456789 IN IP4 RTP/AVP:audio", max_size=30),
            ),
            max_size=12,
        )
    )
    def test_fuzz_lines_only_sdp_error(self, lines: list[tuple[str, str]]) -> None:
        text = "v=0\r\n" + "".join(f"{kind}={value}\r\n" for kind, value in lines)
        try:
            desc = parse(text)
        except SdpError:
            return
        assert parse(desc.serialize()) == desc

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=200))
    def test_fuzz_bytes_only_sdp_error(self, data: bytes) -> None:
        try:
            parse(data)
        except SdpError:
            pass


# ---------------------------------------------------------------------------
# Round-trip property: any description we can build serializes and parses back equal.
# ---------------------------------------------------------------------------

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`{|}~"
tokens = st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=12)
free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), max_size=20
)
no_space = st.text(alphabet=TOKEN_ALPHABET + ":/@[]", min_size=1, max_size=20)
numbers = st.integers(min_value=0, max_value=2**40)

connections = st.builds(Connection, tokens, tokens, no_space)
bandwidths = st.builds(Bandwidth, tokens, numbers)
plain_attributes = st.builds(
    Attribute,
    tokens.filter(lambda n: n not in DIRECTIONS and n not in ("rtpmap", "fmtp", "ptime")),
    st.none() | free_text,
)


@st.composite
def media_sections(draw: st.DrawFn) -> Media:
    rtp = draw(st.booleans())
    if rtp:
        proto = "RTP/AVP"
        pts = draw(st.lists(st.integers(0, 127), min_size=1, max_size=5, unique=True))
        formats = [str(pt) for pt in pts]
        attributes = [
            Attribute("rtpmap", f"{pt} {draw(tokens)}/{draw(st.integers(1, 96000))}")
            for pt in draw(st.lists(st.sampled_from(pts), unique=True))
        ]
        if draw(st.booleans()):
            attributes.append(Attribute("fmtp", f"{pts[0]} {draw(no_space)}"))
        if draw(st.booleans()):
            attributes.append(Attribute("ptime", str(draw(st.integers(1, 200)))))
    else:
        proto = draw(tokens)
        formats = draw(st.lists(tokens, min_size=1, max_size=3))
        attributes = []
    attributes += draw(st.lists(plain_attributes, max_size=3))
    if draw(st.booleans()):
        attributes.append(Attribute(draw(st.sampled_from(DIRECTIONS))))
    return Media(
        media=draw(tokens),
        port=draw(st.integers(0, 65535)),
        proto=proto,
        formats=formats,
        port_count=draw(st.none() | st.integers(1, 8)),
        title=draw(st.none() | free_text),
        connections=draw(st.lists(connections, max_size=2)),
        bandwidths=draw(st.lists(bandwidths, max_size=2)),
        key=draw(st.none() | free_text),
        attributes=attributes,
    )


descriptions = st.builds(
    SessionDescription,
    origin=st.builds(
        Origin, tokens, st.from_regex(r"\A[0-9]{1,20}\Z"), numbers, tokens, tokens, no_space
    ),
    name=free_text.filter(bool),
    info=st.none() | free_text,
    uri=st.none() | no_space,
    emails=st.lists(free_text, max_size=2),
    phones=st.lists(free_text, max_size=2),
    connection=st.none() | connections,
    bandwidths=st.lists(bandwidths, max_size=2),
    times=st.lists(
        st.builds(Timing, numbers, numbers, st.lists(free_text, max_size=2)), min_size=1, max_size=2
    ),
    zone=st.none() | free_text,
    key=st.none() | free_text,
    attributes=st.lists(plain_attributes, max_size=3),
    media=st.lists(media_sections(), max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(descriptions)
def test_round_trip_property(desc: SessionDescription) -> None:
    assume(desc.connection is not None or all(m.port == 0 or m.connections for m in desc.media))
    wire = desc.serialize()
    assert wire.endswith(b"\r\n") and b"\n" not in wire.replace(b"\r\n", b"")
    again = parse(wire)
    assert again == desc
    assert again.serialize() == wire
