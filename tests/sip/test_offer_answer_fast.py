"""The per-call fast paths of offer/answer agree with the model.

- Our bodies come from texts kept with the ``MediaConfig``: they must be the
  bytes ``make_offer``/``make_answer`` serialize, for any configuration,
  direction and offer.
- The peer's bodies are read once per shape (``PeerDescription`` remembered
  under the text after ``o=``): what a session takes from a body must be
  ``describe(parse(body))`` whether it came from the memo or not, and the
  memo and the text caches stay bounded.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip import offer_answer
from sipflow.sip.offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    MediaConfig,
    OfferAnswerError,
    PeerDescription,
    SdpSession,
    describe,
    make_answer,
    make_offer,
    media_codecs,
)
from sipflow.sip.sdp import Media, SdpError, SessionDescription, parse

OPUS = Codec("opus", 48000, 111, channels=2, fmtp="minptime=10;useinbandfec=1")
G722 = Codec("G722", 8000, 9)
CODEC_SETS = [
    (PCMU, PCMA, TELEPHONE_EVENT),
    (PCMA,),
    (OPUS, PCMU, TELEPHONE_EVENT),
    (G722, Codec("pcmu", 8000, 0)),
]
DIRECTIONS = ["sendrecv", "sendonly", "recvonly", "inactive"]

configs = st.builds(
    MediaConfig,
    address=st.sampled_from(["192.0.2.1", "2001:db8::1", "host.example"]),
    port=st.integers(1, 65535),
    codecs=st.sampled_from(CODEC_SETS),
    ptime=st.sampled_from([None, 20, 30]),
    direction=st.sampled_from(DIRECTIONS),
    username=st.sampled_from(["-", "alice", "ünï"]),
    session_name=st.sampled_from(["sipflow", "-", "a call é"]),
)


@st.composite
def offered_media(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["audio", "audio", "audio", "video"]))
    proto = draw(st.sampled_from(["RTP/AVP", "RTP/AVP", "rtp/avp", "RTP/SAVP"]))
    port = draw(st.sampled_from([0, 5004, 6000]))
    pts = draw(
        st.lists(st.sampled_from([0, 8, 9, 18, 96, 101, 111]), min_size=1, max_size=5, unique=True)
    )
    lines = [f"m={kind} {port} {proto} {' '.join(map(str, pts))}"]
    for pt in pts:
        if pt >= 96 or draw(st.booleans()):
            name = draw(st.sampled_from(["PCMU", "pcma", "telephone-event", "opus", "G722"]))
            rate = draw(st.sampled_from(["8000", "48000"]))
            channels = draw(st.sampled_from(["", "/2", "/1"]))
            lines.append(f"a=rtpmap:{pt} {name}/{rate}{channels}")
        if draw(st.booleans()):
            lines.append(f"a=fmtp:{pt} {draw(st.sampled_from(['0-15', 'mode=20']))}")
    direction = draw(st.none() | st.sampled_from(DIRECTIONS))
    if direction:
        lines.append(f"a={direction}")
    return "".join(line + "\r\n" for line in lines)


@st.composite
def offers(draw: st.DrawFn) -> bytes:
    session_direction = draw(st.sampled_from(["", "a=sendonly\r\n", "a=inactive\r\n"]))
    m_lines = "".join(draw(st.lists(offered_media(), min_size=1, max_size=3)))
    origin = f"o={draw(st.sampled_from(['-', 'bob']))} {draw(st.integers(0, 2**63))} 3"
    text = (
        f"v=0\r\n{origin} IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        + session_direction
        + m_lines
    )
    if draw(st.booleans()):
        text = text.replace("\r\n", "\n")
    return text.encode()


# ---------------------------------------------------------------------------
# Our bodies: template text == model serialization.
# ---------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(configs, st.integers(0, 2**62), st.sampled_from(DIRECTIONS))
def test_offer_text_is_the_model_serialized(
    config: MediaConfig, sess_id: int, direction: str
) -> None:
    session = SdpSession(config, sess_id=sess_id)
    session._direction = direction  # the wish hold() would set; offered as is
    body = session.create_offer()
    assert body == make_offer(config, sess_id=sess_id, direction=direction).serialize()
    assert parse(body).serialize() == body


@settings(max_examples=150, deadline=None)
@given(configs, offers(), st.integers(0, 2**62))
def test_answer_text_is_the_model_serialized(
    config: MediaConfig, offer: bytes, sess_id: int
) -> None:
    session = SdpSession(config, sess_id=sess_id)
    try:
        expected: bytes | str = make_answer(parse(offer), config, sess_id=sess_id).serialize()
    except OfferAnswerError as err:
        expected = str(err)
    try:
        got: bytes | str = session.answer_offer(offer)
    except OfferAnswerError as err:
        got = str(err)
        assert session.pending is None and session.remote is None
    assert got == expected


def test_reoffers_keep_versions_and_bytes() -> None:
    """Hold and resume (model path) after a template offer: versions step as before."""
    alice, bob = SdpSession(MediaConfig(), sess_id=1), SdpSession(MediaConfig(port=5000), sess_id=2)
    first = alice.create_offer()
    alice.receive_answer(bob.answer_offer(first))
    assert alice.create_offer() == first  # unchanged: same version, same bytes
    alice.rollback()
    held = alice.hold()
    assert parse(held).origin.sess_version == 1
    assert held == first.replace(b" 1 0 IN", b" 1 1 IN").replace(b"a=sendrecv", b"a=sendonly")
    alice.receive_answer(bob.answer_offer(held))
    resumed = alice.resume()
    assert resumed == first.replace(b" 1 0 IN", b" 1 2 IN")


# ---------------------------------------------------------------------------
# The peer's bodies: memo == full parse.
# ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(offers(), st.integers(0, 2**63))
def test_taken_offer_is_the_full_description(offer: bytes, other_id: int) -> None:
    expected = describe(parse(offer))
    for body in (offer, offer, offer.replace(b" 3 IN IP4", f" {other_id} IN IP4".encode())):
        session = SdpSession(MediaConfig(), sess_id=9)
        assert session.take_offer(body) == expected
        assert session.remote == body


@settings(max_examples=120, deadline=None)
@given(offers(), st.sampled_from([b"3 IN IP4", b"\r\n"]), st.binary(max_size=6))
def test_damaged_bodies_fail_as_parse_does(offer: bytes, where: bytes, junk: bytes) -> None:
    SdpSession(MediaConfig()).take_offer(offer)  # the shape is now remembered
    damaged = offer.replace(where, where + junk, 1)
    try:
        expected: object = describe(parse(damaged))
    except SdpError as err:
        expected = str(err)
    session = SdpSession(MediaConfig())
    try:
        got: object = session.take_offer(damaged)
    except SdpError as err:
        got = str(err)
        assert session.pending is None and session.remote is None
    assert got == expected


def test_take_answer_and_hold() -> None:
    alice, bob = SdpSession(MediaConfig(), sess_id=1), SdpSession(MediaConfig(), sess_id=2)
    answer = bob.answer_offer(alice.create_offer())
    taken = alice.take_answer(answer)
    assert isinstance(taken, PeerDescription) and taken == describe(parse(answer))
    assert taken.hold is False and alice.remote_on_hold is False
    assert alice.take_answer(answer) == taken  # the same answer again: nothing changes
    held = alice.hold()
    offer = bob.take_offer(held)
    assert offer.hold is True and bob.remote_on_hold is True
    assert [s.direction for s in offer.streams] == ["sendonly"]
    recv = bob.create_answer()
    assert parse(recv).media[0].direction == "recvonly"


def test_public_receive_methods_still_return_descriptions() -> None:
    alice, bob = SdpSession(MediaConfig(), sess_id=1), SdpSession(MediaConfig(), sess_id=2)
    offer = alice.create_offer()
    desc = bob.receive_offer(offer.decode())  # a str body takes the full parser
    assert isinstance(desc, SessionDescription) and desc == parse(offer)
    answer = bob.create_answer()
    assert alice.receive_answer(answer) == parse(answer)


@pytest.mark.parametrize(
    ("m_lines", "answerable"),
    [
        ("m=audio 5004 RTP/AVP 0\r\n", True),
        ("m=audio 5004 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n", False),
        ("m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", False),
        ("m=audio 0 RTP/AVP 0\r\n", False),
    ],
)
def test_check_answerable_is_make_answer(m_lines: str, answerable: bool) -> None:
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n" + m_lines)
    peer = describe(offer)
    config = MediaConfig()
    if answerable:
        peer.check_answerable(config)
        make_answer(offer, config)
        return
    with pytest.raises(OfferAnswerError) as fast:
        peer.check_answerable(config)
    with pytest.raises(OfferAnswerError) as model:
        make_answer(offer, config)
    assert str(fast.value) == str(model.value) and fast.value.status == 488
    if "m=audio 0" in m_lines:  # a re-offer disabling every stream is answered
        peer.check_answerable(config, allow_all_disabled=True)


def test_make_answer_ignores_formats_of_streams_it_rejects() -> None:
    """A hand-built offer: only an active RTP/AVP audio stream's formats are read."""
    offer = SessionDescription(
        media=[
            Media("video", 5000, "RTP/AVP", ["not-a-number"]),
            Media("audio", 5002, "RTP/AVP", ["8"]),
        ]
    )
    answer = make_answer(offer, MediaConfig())
    assert [m.port for m in answer.media] == [0, 40000]
    assert answer.media[0].formats == ["not-a-number"]


def test_memo_and_text_caches_are_bounded() -> None:
    config = MediaConfig()
    tables = offer_answer._tables_of(config)
    for port in range(1, 3 * offer_answer._PEERS_MAX):
        fmtp = f"a=fmtp:0 x={port}\r\n"
        body = (
            f"v=0\r\no=- {port} 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\n{fmtp}"
        ).encode()
        session = SdpSession(config, sess_id=1)
        answer = session.answer_offer(body)
        assert f"a=fmtp:0 x={port}\r\n".encode() in answer
        assert len(offer_answer._PEERS) <= offer_answer._PEERS_MAX
        assert len(tables.sections) <= offer_answer._PEERS_MAX


def test_tables_are_not_part_of_the_config_value() -> None:
    a, b = MediaConfig(codecs=(PCMA, PCMU)), MediaConfig(codecs=(PCMA, PCMU))
    SdpSession(a).create_offer()
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert "_tables" not in repr(a)


def test_media_codecs_reads_rtpmaps_once_and_agrees_with_codec() -> None:
    """Static payload types without an rtpmap mean what ``Media.codec`` says."""
    media = parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
        "m=audio 5004 RTP/AVP 0 10 8 96 34 101\r\na=rtpmap:8 PCMA/16000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    ).media[0]
    got = media_codecs(media)
    assert [pt for pt, _ in got] == [0, 10, 8, 101]  # 96: no rtpmap; 34: not static audio
    for pt, codec in got:
        rtpmap = media.codec(pt)
        assert rtpmap is not None
        assert (codec.name, codec.clock_rate, codec.channels, codec.fmtp) == (
            rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels or 1, media.fmtp(pt)
        )
    assert got[1][1].channels == 2 and got[2][1].clock_rate == 16000


@settings(max_examples=100, deadline=None)
@given(offers())
def test_media_kinds_of_parsed_bodies(offer: bytes) -> None:
    assert offer_answer._media_kinds(offer) == [m.media for m in parse(offer).media]


def test_long_peer_values_are_answered_but_not_kept() -> None:
    config = MediaConfig()
    fmtp = "x=" + "1" * 3000
    body = (
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
        f"m=audio 5004 RTP/AVP 0\r\na=fmtp:0 {fmtp}\r\n"
    ).encode()
    answer = SdpSession(config, sess_id=1).answer_offer(body)
    assert answer == make_answer(parse(body), config, sess_id=1).serialize()
    assert f"a=fmtp:0 {fmtp}\r\n".encode() in answer
    sections = offer_answer._tables_of(config).sections
    assert all(len(text) <= offer_answer._SECTION_MAX for text in sections.values())
