"""Offer/answer (RFC 3264) for audio: codec intersection, directions, hold, versions, per-dialog state."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    MediaConfig,
    OfferAnswerError,
    SdpSession,
    answer_direction,
    hold,
    make_answer,
    make_offer,
    media_codecs,
    resume,
)
from sipflow.sip.sdp import SdpError, SessionDescription, parse

ALICE = MediaConfig(address="192.0.2.1", port=49170)
BOB = MediaConfig(address="192.0.2.2", port=3456)


def offer_text(m_lines: str, session_attrs: str = "") -> str:
    return (
        "v=0\r\no=- 10 10 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        + session_attrs
        + m_lines
    )


SOFTPHONE_AUDIO = (
    "m=audio 8000 RTP/AVP 9 8 0 96\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=sendrecv\r\n"
)


class TestMakeOffer:
    def test_default_offer(self) -> None:
        desc = make_offer(ALICE, sess_id=42, version=7)
        assert desc.origin.sess_id == "42" and desc.origin.sess_version == 7
        assert desc.origin.address == "192.0.2.1" and desc.connection is not None
        (audio,) = desc.media
        assert (audio.media, audio.port, audio.proto) == ("audio", 49170, "RTP/AVP")
        assert audio.formats == ["0", "8", "101"]
        assert audio.fmtp(101) == "0-16"
        assert audio.ptime == 20.0
        assert audio.direction == "sendrecv"
        assert parse(desc.serialize()) == desc

    def test_ipv6(self) -> None:
        desc = make_offer(MediaConfig(address="2001:db8::5"))
        assert desc.origin.addrtype == "IP6"
        assert desc.connection is not None and desc.connection.addrtype == "IP6"

    def test_config_is_checked(self) -> None:
        with pytest.raises(ValueError, match="direction"):
            MediaConfig(direction="both")
        with pytest.raises(ValueError, match="port"):
            MediaConfig(port=0)
        with pytest.raises(ValueError, match="besides telephone-event"):
            MediaConfig(codecs=(TELEPHONE_EVENT,))
        with pytest.raises(ValueError, match="payload types repeat"):
            MediaConfig(codecs=(PCMU, Codec("G722", 8000, 0)))
        with pytest.raises(ValueError, match="bad address"):
            MediaConfig(address="1.2.3.4 5")
        with pytest.raises(ValueError, match="bad session name"):
            MediaConfig(session_name="")
        with pytest.raises(ValueError, match="ptime"):
            MediaConfig(ptime=0)

    @pytest.mark.parametrize(
        "codec, fragment",
        [
            (Codec("opus", 48000, 128), "payload type 128"),
            (Codec("PC MU", 8000, 0), "bad codec name"),
            (Codec("PCMU", 0, 0), "positive"),
            (Codec("telephone-event", 8000, 101, fmtp="0-16\r\nx"), "fmtp"),
        ],
    )
    def test_local_codecs_are_checked(self, codec: Codec, fragment: str) -> None:
        with pytest.raises(ValueError, match=fragment):
            MediaConfig(codecs=(PCMU, codec))

    def test_odd_peer_rtpmaps_are_ignored_not_fatal(self) -> None:
        offer = parse(
            offer_text(
                "m=audio 6000 RTP/AVP 96 97 0\r\na=rtpmap:96 X Y/0\r\na=rtpmap:97 PCMA/0\r\n"
            )
        )
        assert make_answer(offer, BOB).media[0].formats == ["0"]
        only_odd = parse(offer_text("m=audio 6000 RTP/AVP 96\r\na=rtpmap:96 X Y/0\r\n"))
        with pytest.raises(OfferAnswerError):
            make_answer(only_odd, BOB)


class TestMakeAnswer:
    def test_intersection_keeps_offer_order_and_payload_types(self) -> None:
        answer = make_answer(parse(offer_text(SOFTPHONE_AUDIO)), BOB)
        (audio,) = answer.media
        # G722 is not ours; PCMA before PCMU as offered; their 96 for telephone-event, not our 101.
        assert audio.formats == ["8", "0", "96"]
        assert [(pt, c.name) for pt, c in media_codecs(audio)] == [
            (8, "PCMA"),
            (0, "PCMU"),
            (96, "telephone-event"),
        ]
        assert audio.fmtp(96) == "0-15"  # the offerer's event list
        assert audio.port == 3456 and audio.direction == "sendrecv"
        assert answer.connection is not None and answer.connection.address == "192.0.2.2"

    def test_answer_to_sipps_default_offer(self) -> None:
        sipp = (
            "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        session = SdpSession(BOB, sess_id=9)
        answer = parse(session.answer_offer(sipp))
        assert answer.media[0].formats == ["0"] and answer.media[0].direction == "sendrecv"
        assert [c.name for c in session.negotiated_codecs()] == ["PCMU"]

    def test_rfc3264_section_10_1_offer(self) -> None:
        # The offer of RFC 3264 §10.1 (audio and video); we take the audio only.
        offer = parse(
            "v=0\r\no=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\ns=\x20\r\n"
            "c=IN IP4 host.atlanta.example.com\r\nt=0 0\r\n"
            "m=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:97 iLBC/8000\r\n"
            "m=video 51372 RTP/AVP 31 32\r\na=rtpmap:31 H261/90000\r\na=rtpmap:32 MPV/90000\r\n"
        )
        assert offer.name == " "
        answer = make_answer(offer, BOB)
        audio, video = answer.media
        assert audio.formats == ["0", "8"] and audio.port == 3456
        assert (video.media, video.port, video.formats) == ("video", 0, ["31"])

    def test_static_payload_type_without_rtpmap(self) -> None:
        answer = make_answer(parse(offer_text("m=audio 6000 RTP/AVP 18 0\r\n")), BOB)
        assert answer.media[0].formats == ["0"]

    def test_case_insensitive_names_and_dynamic_types(self) -> None:
        offer = offer_text("m=audio 6000 RTP/AVP 97\r\na=rtpmap:97 pcma/8000\r\n")
        assert make_answer(parse(offer), BOB).media[0].formats == ["97"]

    def test_nothing_in_common_is_488(self) -> None:
        offer = parse(offer_text("m=audio 6000 RTP/AVP 9 18\r\na=rtpmap:9 G722/8000\r\n"))
        with pytest.raises(OfferAnswerError) as info:
            make_answer(offer, BOB)
        assert info.value.status == 488
        assert "m-line 1: no codec in common" in str(info.value)

    def test_telephone_event_alone_is_not_enough(self) -> None:
        offer = parse(
            offer_text("m=audio 6000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n")
        )
        with pytest.raises(OfferAnswerError, match="no codec in common"):
            make_answer(offer, BOB)

    def test_clock_rate_and_channels_must_match(self) -> None:
        offer = parse(
            offer_text(
                "m=audio 6000 RTP/AVP 96 97\r\na=rtpmap:96 PCMU/16000\r\na=rtpmap:97 PCMA/8000/2\r\n"
            )
        )
        with pytest.raises(OfferAnswerError):
            make_answer(offer, BOB)
        stereo = MediaConfig(codecs=(Codec("PCMA", 8000, 97, channels=2),))
        assert make_answer(offer, stereo).media[0].formats == ["97"]

    def test_other_streams_rejected_with_port_zero_in_place(self) -> None:
        offer = parse(
            offer_text(
                "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                + SOFTPHONE_AUDIO
                + "m=audio 7000 RTP/AVP 0\r\n"
                + "m=audio 7002 RTP/SAVP 0\r\n"
            )
        )
        answer = make_answer(offer, BOB)
        assert [(m.media, m.port) for m in answer.media] == [
            ("video", 0),
            ("audio", 3456),
            ("audio", 0),  # only one audio stream
            ("audio", 0),
        ]
        assert answer.media[0].formats == ["96"]  # at least one format, from the offer
        assert answer.media[3].proto == "RTP/SAVP"
        assert parse(answer.serialize()) == answer

    def test_disabled_and_secure_audio_are_rejected(self) -> None:
        offer = parse(offer_text("m=audio 0 RTP/AVP 0\r\nm=audio 6000 RTP/SAVP 0\r\n"))
        with pytest.raises(OfferAnswerError) as info:
            make_answer(offer, BOB)
        assert "port 0" in info.value.reason and "RTP/SAVP" in info.value.reason

    def test_no_m_line(self) -> None:
        with pytest.raises(OfferAnswerError, match="no m-line"):
            make_answer(parse(offer_text("")), BOB)

    @pytest.mark.parametrize(
        "offered, local, expected",
        [
            ("sendrecv", "sendrecv", "sendrecv"),
            ("sendonly", "sendrecv", "recvonly"),
            ("recvonly", "sendrecv", "sendonly"),
            ("inactive", "sendrecv", "inactive"),
            ("sendrecv", "sendonly", "sendonly"),
            ("sendrecv", "recvonly", "recvonly"),
            ("sendrecv", "inactive", "inactive"),
            ("sendonly", "sendonly", "inactive"),
            ("recvonly", "recvonly", "inactive"),
            ("sendonly", "recvonly", "recvonly"),
        ],
    )
    def test_direction_rules(self, offered: str, local: str, expected: str) -> None:
        assert answer_direction(offered, local) == expected
        offer = parse(offer_text(f"m=audio 6000 RTP/AVP 0\r\na={offered}\r\n"))
        assert make_answer(offer, BOB, direction=local).media[0].direction == expected

    def test_session_level_direction_applies(self) -> None:
        offer = parse(offer_text("m=audio 6000 RTP/AVP 0\r\n", session_attrs="a=sendonly\r\n"))
        assert make_answer(offer, BOB).media[0].direction == "recvonly"


class TestHoldFunctions:
    def test_hold_and_resume(self) -> None:
        desc = parse(
            offer_text(
                "m=audio 6000 RTP/AVP 0\r\na=sendrecv\r\n"
                "m=audio 6002 RTP/AVP 0\r\na=recvonly\r\n"
                "m=audio 6004 RTP/AVP 0\r\na=inactive\r\n"
                "m=audio 0 RTP/AVP 0\r\n"
                "m=audio 6006 RTP/AVP 0\r\n",
                session_attrs="a=sendonly\r\n",
            )
        )
        held = hold(desc)
        assert [m.direction for m in held.media] == [
            "sendonly",
            "inactive",
            "inactive",
            None,
            "sendonly",
        ]
        assert held.direction is None  # moved to the media level
        assert desc.media[0].direction == "sendrecv"  # the input is untouched
        resumed = resume(held)
        assert [m.direction for m in resumed.media] == ["sendrecv"] * 3 + [None, "sendrecv"]

    def test_answer_to_a_hold_offer_is_recvonly(self) -> None:
        offer = hold(make_offer(ALICE))
        assert offer.media[0].direction == "sendonly"
        assert make_answer(offer, BOB).media[0].direction == "recvonly"


def version(body: bytes | None) -> int:
    assert body is not None
    return parse(body).origin.sess_version


def pair() -> tuple[SdpSession, SdpSession]:
    return SdpSession(ALICE, sess_id=1111), SdpSession(BOB, sess_id=2222)


class TestSdpSession:
    def test_basic_call(self) -> None:
        alice, bob = pair()
        assert alice.pending is None and not alice.offer_outstanding and not alice.established
        offer = alice.create_offer()
        assert alice.pending == "local" and alice.offer_outstanding
        assert parse(offer).origin.sess_id == "1111"
        bob.receive_offer(offer)
        assert bob.pending == "remote"
        answer = bob.create_answer()
        assert bob.pending is None and bob.established
        alice.receive_answer(answer)
        assert alice.pending is None and alice.established
        assert [c.name for c in alice.negotiated_codecs()] == ["PCMU", "PCMA", "telephone-event"]
        assert alice.negotiated_codecs() == bob.negotiated_codecs()
        assert alice.local == offer and alice.remote == answer

    def test_versions(self) -> None:
        alice, bob = pair()
        first = alice.create_offer()
        alice.receive_answer(bob.answer_offer(first))
        assert version(first) == 0 and version(bob.local) == 0
        # Re-offer unchanged (session refresh): same version, identical body.
        refresh = alice.create_offer()
        assert refresh == first
        alice.receive_answer(bob.answer_offer(refresh))
        assert version(bob.local) == 0
        # Hold: a changed body, version + 1; the answer changes too.
        held = alice.hold()
        assert version(held) == 1
        alice.receive_answer(bob.answer_offer(held))
        assert version(bob.local) == 1
        assert alice.on_hold and bob.remote_on_hold
        # Resent while held: unchanged.
        again = alice.create_offer()
        assert version(again) == 1 and again == held
        alice.receive_answer(bob.answer_offer(again))
        assert version(bob.local) == 1
        # Resume: + 1 again, for both sides.
        resumed = alice.resume()
        assert version(resumed) == 2
        alice.receive_answer(bob.answer_offer(resumed))
        assert version(bob.local) == 2
        assert not alice.on_hold and not bob.remote_on_hold
        assert parse(bob.local or b"").media[0].direction == "sendrecv"

    def test_hold_from_recvonly_goes_inactive_and_answer_directions(self) -> None:
        alice = SdpSession(MediaConfig(direction="recvonly"), sess_id=1)
        bob = SdpSession(BOB, sess_id=2)
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        assert parse(bob.local or b"").media[0].direction == "sendonly"
        held = alice.hold()
        assert parse(held).media[0].direction == "inactive"
        assert parse(bob.answer_offer(held)).media[0].direction == "inactive"

    def test_held_side_answers_a_re_offer_with_sendonly(self) -> None:
        alice, bob = pair()
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        alice.receive_answer(bob.answer_offer(alice.hold()))
        # Bob re-offers sendrecv while Alice holds: she answers sendonly.
        answer = alice.answer_offer(bob.create_offer())
        assert parse(answer).media[0].direction == "sendonly"
        bob.receive_answer(answer)
        assert bob.remote_on_hold

    def test_offerless_invite(self) -> None:
        # INVITE without SDP: the offer comes in the 200, the answer in the ACK.
        caller, callee = pair()
        offer_in_200 = callee.create_offer()
        answer_in_ack = caller.answer_offer(offer_in_200)
        callee.receive_answer(answer_in_ack)
        assert caller.established and callee.established

    def test_offer_in_183_answered_in_prack(self) -> None:
        caller, callee = pair()
        callee.receive_offer(caller.create_offer())  # INVITE with offer
        early = callee.create_answer()  # answer in reliable 183
        caller.receive_answer(early)
        # The 200 carries the same answer again, unchanged; the caller takes it twice.
        assert callee.local == early
        assert caller.receive_answer(early) == parse(early)
        assert caller.pending is None
        with pytest.raises(OfferAnswerError):
            caller.receive_answer(early.replace(b"sendrecv", b"sendonly"))  # a different one is not
        # An UPDATE offer in the early dialog, answered in the 200 to the UPDATE.
        update = caller.hold()
        assert caller.pending == "local"
        callee.receive_offer(update)
        caller.receive_answer(callee.create_answer())
        assert caller.pending is None and callee.pending is None

    def test_glare_and_double_offer(self) -> None:
        alice, bob = pair()
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        mine = alice.hold()
        theirs = bob.create_offer()
        with pytest.raises(OfferAnswerError) as info:
            alice.receive_offer(theirs)
        assert info.value.status == 491
        with pytest.raises(LocalProtocolError, match="local offer is outstanding"):
            alice.create_offer()  # ours is still outstanding: our own misuse
        bob.rollback()  # Bob's re-INVITE got 491 too
        bob.receive_offer(mine)
        with pytest.raises(OfferAnswerError) as info:
            bob.receive_offer(mine)
        assert info.value.status == 500
        with pytest.raises(LocalProtocolError, match="remote offer is outstanding"):
            bob.create_offer()

    def test_rollback_restores_and_versions_stay_monotonic(self) -> None:
        alice, bob = pair()
        first = alice.create_offer()
        alice.receive_answer(bob.answer_offer(first))
        remote = alice.remote
        held = alice.hold()
        assert version(held) == 1
        alice.rollback()  # 491: our hold offer is withdrawn
        assert alice.pending is None and alice.local == first and alice.remote == remote
        assert alice.on_hold  # still wanted: the caller retries later
        retried = alice.create_offer()
        assert retried != first and version(retried) == 2
        with pytest.raises(LocalProtocolError):
            bob.rollback()

    def test_unacceptable_offer_restores_state(self) -> None:
        alice, bob = pair()
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        before = (bob.local, bob.remote)
        bad = offer_text("m=audio 6000 RTP/AVP 9\r\n")
        with pytest.raises(OfferAnswerError) as info:
            bob.answer_offer(bad)
        assert info.value.status == 488
        assert (bob.local, bob.remote) == before and bob.pending is None
        bob.receive_offer(alice.create_offer())
        bob.reject_offer()
        assert (bob.local, bob.remote) == before
        with pytest.raises(LocalProtocolError):
            bob.reject_offer()

    def test_errors_are_remote_protocol_errors(self) -> None:
        alice, _ = pair()
        with pytest.raises(RemoteProtocolError) as info:
            alice.receive_answer(b"garbage")
        assert info.value.status == 400  # no offer outstanding

    def test_garbage_bodies_are_sdp_errors_and_change_nothing(self) -> None:
        alice, bob = pair()
        offer = alice.create_offer()
        with pytest.raises(SdpError):
            alice.receive_answer(b"v=0\r\nnonsense\r\n")
        assert alice.pending == "local"
        with pytest.raises(SdpError):
            bob.receive_offer("garbage")
        assert bob.pending is None
        alice.receive_answer(bob.answer_offer(offer))

    def test_unexpected_or_mismatched_answers(self) -> None:
        alice, bob = pair()
        with pytest.raises(OfferAnswerError) as info:
            alice.receive_answer(make_offer(BOB).serialize())
        assert info.value.status == 400
        alice.create_offer()
        two_lines = offer_text("m=audio 6000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n")
        with pytest.raises(OfferAnswerError, match="2 m-lines"):
            alice.receive_answer(two_lines)
        with pytest.raises(OfferAnswerError, match="'video'"):
            alice.receive_answer(offer_text("m=video 6000 RTP/AVP 31\r\n"))
        assert alice.pending == "local"
        with pytest.raises(LocalProtocolError):
            bob.create_answer()

    def test_re_offer_may_not_drop_m_lines(self) -> None:
        _, bob = pair()
        bob.answer_offer(offer_text(SOFTPHONE_AUDIO + "m=video 0 RTP/AVP 31\r\n"))
        with pytest.raises(OfferAnswerError) as info:
            bob.receive_offer(offer_text(SOFTPHONE_AUDIO))
        assert info.value.status == 488 and "fewer" in info.value.reason

    def test_adding_a_stream_in_a_re_offer(self) -> None:
        _, bob = pair()
        bob.answer_offer(offer_text(SOFTPHONE_AUDIO))
        answer = parse(
            bob.answer_offer(offer_text(SOFTPHONE_AUDIO + "m=video 5000 RTP/AVP 31\r\n"))
        )
        assert [(m.media, m.port) for m in answer.media] == [("audio", 3456), ("video", 0)]
        assert answer.origin.sess_version == 1
        # Our own re-offer keeps both m-lines, in place (RFC 3264 §8).
        reoffer = parse(bob.create_offer())
        assert [(m.media, m.port) for m in reoffer.media] == [("audio", 3456), ("video", 0)]
        assert reoffer.origin.sess_version == 1  # same content as the last answer

    def test_peer_moves_audio_to_a_new_m_line(self) -> None:
        alice, bob = pair()
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        # The peer re-offers its old audio on port 0 next to a new audio stream.
        bob_offer = offer_text("m=audio 0 RTP/AVP 0\r\nm=audio 7000 RTP/AVP 8\r\n")
        answer = parse(alice.answer_offer(bob_offer))
        assert [m.port for m in answer.media] == [0, 49170]
        assert answer.media[1].formats == ["8"]
        # Our next re-offer keeps the disabled slot in place.
        assert [m.port for m in parse(alice.hold()).media] == [0, 49170]

    def test_re_offer_removing_all_media_is_answered_with_port_zero(self) -> None:
        alice, bob = pair()
        bob.answer_offer(offer_text(SOFTPHONE_AUDIO))
        # RFC 3264 §8.2: the offerer removes the stream; the answer mirrors port 0.
        removed = parse(bob.answer_offer(offer_text("m=audio 0 RTP/AVP 0\r\n")))
        assert [(m.media, m.port) for m in removed.media] == [("audio", 0)]
        assert removed.origin.sess_version == 1
        assert bob.negotiated_codecs() == []
        # Our next re-offer brings audio back in that slot (RFC 3264 §8.1).
        readd = parse(bob.create_offer())
        assert [(m.media, m.port) for m in readd.media] == [("audio", 3456)]
        assert readd.origin.sess_version == 2
        # An initial offer with everything disabled is still refused.
        with pytest.raises(OfferAnswerError) as info:
            alice.answer_offer(offer_text("m=audio 0 RTP/AVP 0\r\n"))
        assert info.value.status == 488

    def test_audio_is_appended_when_no_audio_slot_is_left(self) -> None:
        _, bob = pair()
        bob.answer_offer(offer_text(SOFTPHONE_AUDIO))
        # The peer reuses the slot for a disabled video stream.
        bob.answer_offer(offer_text("m=video 0 RTP/AVP 31\r\n"))
        body = parse(bob.create_offer())
        assert [(m.media, m.port) for m in body.media] == [("video", 0), ("audio", 3456)]

    def test_re_offer_changing_the_codec_set(self) -> None:
        # RFC 3264 §8.3.3: a new format list; the answer follows, with a new version.
        _, bob = pair()
        first = parse(bob.answer_offer(offer_text(SOFTPHONE_AUDIO)))
        narrowed = parse(
            bob.answer_offer(
                offer_text("m=audio 8000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n")
            )
        )
        assert narrowed.media[0].formats == ["0", "96"]
        assert narrowed.origin.sess_version == first.origin.sess_version + 1
        assert [c.name for c in bob.negotiated_codecs()] == ["PCMU", "telephone-event"]

    def test_re_offer_with_only_new_codecs_is_488_and_keeps_the_session(self) -> None:
        _, bob = pair()
        first = bob.answer_offer(offer_text(SOFTPHONE_AUDIO))
        with pytest.raises(OfferAnswerError) as info:
            bob.answer_offer(offer_text("m=audio 8000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"))
        assert info.value.status == 488
        assert bob.local == first and bob.pending is None
        assert [c.name for c in bob.negotiated_codecs()] == ["PCMA", "PCMU", "telephone-event"]

    def test_peer_changes_its_address_our_answer_is_unchanged(self) -> None:
        _, bob = pair()
        first = bob.answer_offer(offer_text(SOFTPHONE_AUDIO))
        moved = (
            offer_text(SOFTPHONE_AUDIO)
            .replace("198.51.100.7", "203.0.113.9")
            .replace(" 10 10 ", " 10 11 ")
        )
        assert bob.answer_offer(moved) == first  # same content, same version
        remote = bob.remote_description
        assert remote is not None and remote.connection is not None
        assert remote.connection.address == "203.0.113.9"

    def test_peer_rejects_our_audio(self) -> None:
        alice, _ = pair()
        alice.create_offer()
        alice.receive_answer(
            "v=0\r\no=- 5 5 IN IP4 192.0.2.2\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
        )
        assert alice.pending is None and alice.negotiated_codecs() == []
        assert not alice.remote_on_hold

    def test_media_level_direction_overrides_session_level(self) -> None:
        offer = parse(
            offer_text("m=audio 6000 RTP/AVP 0\r\na=sendrecv\r\n", session_attrs="a=inactive\r\n")
        )
        assert make_answer(offer, BOB).media[0].direction == "sendrecv"

    def test_answer_parses_and_has_every_rtpmap(self) -> None:
        answer = make_answer(parse(offer_text("m=audio 6000 RTP/AVP 8 0\r\n")), BOB)
        audio = answer.media[0]
        assert sorted(audio.rtpmaps()) == [0, 8]
        assert audio.ptime == 20.0

    def test_per_dialog_footprint_is_a_few_hundred_bytes(self) -> None:
        alice, bob = pair()
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        for session in (alice, bob):
            size = (
                sys.getsizeof(session)
                + sys.getsizeof(session.local)
                + sys.getsizeof(session.remote)
            )
            assert size < 1024, size
            assert not hasattr(session, "__dict__")

    def test_descriptions_parse_back(self) -> None:
        alice, bob = pair()
        alice.receive_answer(bob.answer_offer(alice.create_offer()))
        assert isinstance(alice.local_description, SessionDescription)
        assert alice.remote_description == parse(bob.local or b"")
        assert SdpSession(ALICE).local_description is None

    def test_injected_random_sess_id(self) -> None:
        session = SdpSession(ALICE, random=lambda bits: 12345)
        assert parse(session.create_offer()).origin.sess_id == "12345"


def test_media_codecs_skips_what_it_cannot_name() -> None:
    desc = parse(
        offer_text(
            "m=audio 6000 RTP/AVP 0 96 97\r\na=rtpmap:97 opus/48000/2\r\nm=image 6002 udptl t38\r\n"
        )
    )
    audio, image = desc.media
    assert [(pt, c.name, c.channels) for pt, c in media_codecs(audio)] == [
        (0, "PCMU", 1),
        (97, "opus", 2),
    ]
    assert media_codecs(image) == []


def test_state_while_an_offer_is_pending() -> None:
    alice, bob = pair()
    assert not alice.remote_on_hold and alice.negotiated_codecs() == []
    alice.receive_answer(bob.answer_offer(alice.create_offer()))
    alice.hold()
    assert alice.established and alice.pending == "local"
    assert [c.name for c in alice.negotiated_codecs()] == ["PCMU", "PCMA", "telephone-event"]
    bob.receive_offer(alice.local or b"")
    assert bob.established
    assert [c.name for c in bob.negotiated_codecs()] == ["PCMU", "PCMA", "telephone-event"]


def test_codec_helpers() -> None:
    assert PCMU.matches("pcmu", 8000, None) and not PCMU.matches("PCMU", 16000, 1)
    assert TELEPHONE_EVENT.is_dtmf and not PCMA.is_dtmf


# ---------------------------------------------------------------------------
# Property: make_answer against a small oracle, over random offers.
# ---------------------------------------------------------------------------

DYNAMIC_NAMES = ["PCMU", "PCMA", "telephone-event", "opus", "G722", "pcma"]


@st.composite
def offered_media(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["audio", "audio", "audio", "video", "image"]))
    proto = draw(st.sampled_from(["RTP/AVP", "RTP/AVP", "RTP/SAVP"]))
    port = draw(st.sampled_from([0, 5004, 6000]))
    pts = draw(
        st.lists(
            st.sampled_from([0, 3, 8, 9, 18, 96, 97, 101]), min_size=1, max_size=5, unique=True
        )
    )
    lines = [f"m={kind} {port} {proto} {' '.join(map(str, pts))}"]
    for pt in pts:
        if pt >= 96:
            lines.append(f"a=rtpmap:{pt} {draw(st.sampled_from(DYNAMIC_NAMES))}/8000")
    direction = draw(st.none() | st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]))
    if direction:
        lines.append(f"a={direction}")
    return "".join(line + "\r\n" for line in lines)


def acceptable(desc: SessionDescription, index: int, config: MediaConfig) -> bool:
    media = desc.media[index]
    if media.media != "audio" or media.proto != "RTP/AVP" or media.port == 0:
        return False
    names = {c.name.lower() for c in config.codecs if not c.is_dtmf}
    return any(codec.name.lower() in names for _, codec in media_codecs(media))


@settings(max_examples=200, deadline=None)
@given(
    m_lines=st.lists(offered_media(), min_size=1, max_size=4),
    session_direction=st.sampled_from(["", "a=sendonly\r\n", "a=inactive\r\n"]),
    local=st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]),
    codecs=st.sampled_from([(PCMU, PCMA, TELEPHONE_EVENT), (PCMA,), (PCMU, TELEPHONE_EVENT)]),
)
def test_make_answer_property(
    m_lines: list[str], session_direction: str, local: str, codecs: tuple[Codec, ...]
) -> None:
    config = MediaConfig(address="192.0.2.2", port=3456, codecs=codecs, direction=local)
    offer = parse(offer_text("".join(m_lines), session_attrs=session_direction))
    candidates = [i for i in range(len(offer.media)) if acceptable(offer, i, config)]
    if not candidates:
        with pytest.raises(OfferAnswerError) as info:
            make_answer(offer, config)
        assert info.value.status == 488
        return
    answer = make_answer(offer, config)
    assert [m.media for m in answer.media] == [m.media for m in offer.media]
    accepted = [i for i, m in enumerate(answer.media) if m.port != 0]
    assert accepted == [candidates[0]]
    ours, theirs = answer.media[accepted[0]], offer.media[accepted[0]]
    assert ours.port == 3456
    # Formats: a subsequence of the offer's, in the offer's order, each one of our codecs.
    offered_formats = theirs.formats
    positions = [offered_formats.index(f) for f in ours.formats]
    assert positions == sorted(positions)
    our_names = {c.name.lower() for c in codecs}
    assert all(codec.name.lower() in our_names for _, codec in media_codecs(ours))
    assert ours.direction == answer_direction(offer.media_direction(theirs), local)
    for index, media in enumerate(answer.media):
        if index != accepted[0]:
            assert media.port == 0 and len(media.formats) >= 1
    assert parse(answer.serialize()) == answer


# ---------------------------------------------------------------------------
# Stateful property: two sessions exchanging offers, holds, rejections.
# ---------------------------------------------------------------------------


class TwoSessions(RuleBasedStateMachine):
    """Alice and Bob over a perfect channel; every exchange completes or is
    withdrawn on both sides, so both are stable between rules."""

    def __init__(self) -> None:
        super().__init__()
        self.sides = {
            "alice": SdpSession(ALICE, sess_id=1),
            "bob": SdpSession(MediaConfig(address="192.0.2.2", codecs=(PCMA, PCMU)), sess_id=2),
        }
        self.accepted: dict[str, list[bytes]] = {"alice": [], "bob": []}
        self.exchanges = 0
        self.last_offerer = "alice"
        self.last_wish = "sendrecv"

    def _exchange(self, offerer: str, make: str) -> None:
        answerer = "bob" if offerer == "alice" else "alice"
        first, second = self.sides[offerer], self.sides[answerer]
        offer = getattr(first, make)()
        self.last_wish = "sendonly" if second.on_hold else second.config.direction
        answer = second.answer_offer(offer)
        first.receive_answer(answer)
        self.accepted[offerer].append(offer)
        self.accepted[answerer].append(answer)
        self.exchanges += 1
        self.last_offerer = offerer

    @rule(offerer=st.sampled_from(["alice", "bob"]))
    def offer(self, offerer: str) -> None:
        self._exchange(offerer, "create_offer")

    @rule(offerer=st.sampled_from(["alice", "bob"]))
    def hold(self, offerer: str) -> None:
        self._exchange(offerer, "hold")

    @rule(offerer=st.sampled_from(["alice", "bob"]))
    def resume(self, offerer: str) -> None:
        self._exchange(offerer, "resume")

    @rule(
        offerer=st.sampled_from(["alice", "bob"]),
        make=st.sampled_from(["create_offer", "hold", "resume"]),
    )
    def rejected(self, offerer: str, make: str) -> None:
        answerer = "bob" if offerer == "alice" else "alice"
        before = {name: (s.local, s.remote) for name, s in self.sides.items()}
        offer = getattr(self.sides[offerer], make)()
        self.sides[answerer].receive_offer(offer)
        self.sides[answerer].reject_offer()  # e.g. a 488 or 491 to the re-INVITE
        self.sides[offerer].rollback()
        assert {name: (s.local, s.remote) for name, s in self.sides.items()} == before

    @invariant()
    def stable_and_consistent(self) -> None:
        alice, bob = self.sides["alice"], self.sides["bob"]
        assert alice.pending is None and bob.pending is None
        if self.exchanges == 0:
            return
        assert alice.local == bob.remote and bob.local == alice.remote
        assert alice.negotiated_codecs() == bob.negotiated_codecs() != []
        offerer = self.sides[self.last_offerer]
        answerer = bob if offerer is alice else alice
        offered = parse(offerer.local or b"").media[0].direction or "sendrecv"
        answered = parse(answerer.local or b"").media[0].direction or "sendrecv"
        # RFC 3264 §6.1: the answer may only send what the offer receives, and the other way round.
        if answered in ("sendrecv", "sendonly"):
            assert offered in ("sendrecv", "recvonly")
        if answered in ("sendrecv", "recvonly"):
            assert offered in ("sendrecv", "sendonly")
        # And it narrows only as far as the answerer's own wish requires.
        assert answered == answer_direction(offered, self.last_wish)

    @invariant()
    def versions_follow_content(self) -> None:
        for name, bodies in self.accepted.items():
            session = self.sides[name]
            versions = [parse(b).origin.sess_version for b in bodies]
            assert all(parse(b).origin.sess_id == str(session.sess_id) for b in bodies[-1:])
            for (prev_body, prev), (body, version) in zip(
                zip(bodies, versions, strict=True),
                zip(bodies[1:], versions[1:], strict=True),
                strict=False,
            ):
                if body == prev_body:
                    assert version == prev
                else:
                    assert version > prev


TestTwoSessions = TwoSessions.TestCase
TestTwoSessions.settings = settings(max_examples=40, stateful_step_count=10, deadline=None)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(
                "m={} {} {} {}".format,
                st.sampled_from(["audio", "video", "x"]),
                st.sampled_from(["0", "5004", "99999"]),
                st.sampled_from(["RTP/AVP", "RTP/SAVP", "udp"]),
                st.text(alphabet="0123456789 ab", min_size=1, max_size=8),
            ),
            st.builds(
                "a=rtpmap:{} {}".format,
                st.sampled_from(["0", "8", "96", "200", "x"]),
                st.text(alphabet="PCMUAtelphon-ev /0123456789", max_size=20),
            ),
            st.builds("a=fmtp:{} {}".format, st.sampled_from(["96", "101"]), st.text(max_size=8)),
            st.sampled_from(
                ["a=sendonly", "a=recvonly", "a=inactive", "a=ptime:20", "c=IN IP4 10.0.0.1"]
            ),
        ),
        max_size=8,
    )
)
def test_peer_bodies_raise_only_remote_protocol_errors(lines: list[str]) -> None:
    """Whatever a peer puts in an offer or an answer: an SDP error, a 4xx/5xx
    reason, or success; never anything else, and a failure changes nothing."""
    body = offer_text("".join(line.replace("\r", "").replace("\n", "") + "\r\n" for line in lines))
    bob = SdpSession(BOB, sess_id=2)
    try:
        answer = bob.answer_offer(body)
    except RemoteProtocolError as err:
        assert err.status in (400, 488) and err.reason
        assert bob.pending is None and bob.local is None and bob.remote is None
    else:
        assert parse(answer).media
    alice = SdpSession(ALICE, sess_id=1)
    offer = alice.create_offer()
    try:
        alice.receive_answer(body)
    except RemoteProtocolError as err:
        assert err.status == 400 and err.reason
        assert alice.pending == "local" and alice.local == offer and alice.remote is None
