"""Pure parts of the backends: DTMF bodies, derived Allow/Supported/Accept, offer/answer bookkeeping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipflow.backends.derive import derive
from sipflow.backends.dtmf import dtmf_body, parse_dtmf
from sipflow.backends.loopback import LoopbackBackend
from sipflow.backends.media import CallMedia
from sipflow.runtime.builtins import default_registry
from sipflow.sip.offer_answer import MediaConfig
from sipflow.tables.loader import load_table

DIGITS = st.text(alphabet="0123456789*#ABCD", min_size=1, max_size=12)


@given(DIGITS, st.sampled_from(["dtmf-relay", "dtmf"]))
def test_dtmf_bodies_round_trip(digits: str, kind: str) -> None:
    body, content_type, headers = dtmf_body(kind, digits)
    assert parse_dtmf(content_type, body) == digits
    assert (("Info-Package", "dtmf") in headers) == (kind == "dtmf")


@pytest.mark.parametrize("content_type,body,digits", [
    ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
    ("Application/DTMF-Relay; charset=x", b"Signal= #\nDuration=100", "#"),
    ("application/dtmf", b"123\r\n", "123"),
    ("application/dtmf", b"Signal=9\r\n", "9"),
    ("application/dtmf-relay", b"Duration=160\r\n", None),
    ("application/dtmf-relay", b"Signal=X\r\n", None),
    ("application/dtmf", b"\xff\xfe", None),
    ("text/plain", b"5", None),
    (None, b"5", None),
    ("application/dtmf", b"", None),
])
def test_parse_dtmf(content_type: str | None, body: bytes, digits: str | None) -> None:
    assert parse_dtmf(content_type, body) == digits


def test_dtmf_body_refuses_what_is_not_dtmf() -> None:
    with pytest.raises(ValueError, match="not DTMF digits"):
        dtmf_body("dtmf-relay", "5x")
    with pytest.raises(ValueError, match="unknown DTMF body kind"):
        dtmf_body("rtp", "5")


def test_advertised_values_come_from_the_tables() -> None:
    reg = default_registry()
    caps = LoopbackBackend.capabilities
    both = derive([load_table("uac_call", reg), load_table("uas_call", reg)], reg, caps)
    assert both.allow == ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK", "UPDATE", "INFO", "MESSAGE")
    assert both.supported == ("100rel", "timer")
    assert both.accept == ("application/sdp", "application/dtmf-relay", "application/dtmf")
    only_options = derive([load_table("options", reg)], reg, caps)
    assert only_options.allow == ("OPTIONS",) and only_options.supported == () and only_options.accept == ()


def test_methods_the_backend_does_not_deliver_stay_out_of_allow() -> None:
    reg = default_registry()
    advertised = derive([load_table("uas_call", reg)], reg, LoopbackBackend.capabilities)
    # the in_dialog fragment answers SUBSCRIBE, NOTIFY and REFER, but this backend delivers none
    assert not {"SUBSCRIBE", "NOTIFY", "REFER", "REGISTER", "PUBLISH"} & set(advertised.allow)


def _pair() -> tuple[CallMedia, CallMedia]:
    config = MediaConfig(address="10.0.0.1")
    return CallMedia(config), CallMedia(config)


def test_offer_answer_and_a_repeated_answer() -> None:
    caller, callee = _pair()
    data: dict = {}
    callee.take(caller.body("sdp-offer"), data)
    assert data == {"sdp": "offer", "hold": False}
    answer = callee.body("sdp-answer", invite_response=True)
    assert callee.answer_unreliable  # sent in an unreliable response: repeat it in the 2xx
    assert callee.body("sdp-answer", invite_response=True, reliable=True) == answer
    first: dict = {}
    caller.take(answer, first, code=183)
    again: dict = {}
    caller.take(answer, again, code=200)  # the 183's answer again in the 200
    assert first["sdp"] == again["sdp"] == "answer"


def test_unacceptable_offer_is_withdrawn_and_flagged() -> None:
    caller, callee = _pair()
    offer = caller.body("sdp-offer").replace(b"RTP/AVP 0 8", b"RTP/AVP 99")
    offer = offer.replace(b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:99 NOPE/8000")
    data: dict = {}
    callee.take(offer, data)
    assert data["sdp_error"] == 488
    assert callee.sdp.pending is None


def test_garbage_sdp_is_an_error_not_an_exception() -> None:
    _, callee = _pair()
    data: dict = {}
    callee.take(b"this is not sdp", data)
    assert data["sdp_error"] == 400


def test_hold_offer_is_flagged_and_failed_offers_roll_back() -> None:
    caller, callee = _pair()
    callee.take(caller.body("sdp-offer"), {})
    caller.take(callee.body("sdp-answer", invite_response=True, reliable=True), {}, code=200)
    hold: dict = {}
    callee.take(caller.body("sdp-hold"), hold)
    assert hold["hold"] is True
    callee.rejected()
    assert callee.sdp.pending is None
    caller.failed()
    assert caller.sdp.pending is None


def test_a_wrapped_deliver_still_derives_allow_from_the_attached_runtime() -> None:
    from sipflow.clock import VirtualClock
    from sipflow.runtime.runtime import Runtime

    clock = VirtualClock()
    backend = LoopbackBackend(clock)
    runtime = Runtime(["uas_call", "options"], None, clock, backend)
    assert backend.runtime is runtime  # Runtime(..., backend) attached itself
    backend.open(["udp:10.0.0.5:5060"], lambda event: runtime.deliver(event))
    assert "INVITE" in backend.advertised.allow
    assert backend.endpoint is not None and "INVITE" in backend.endpoint.config.allow
    backend.shutdown(0.0)
    assert backend.driver is None


def test_without_a_runtime_only_options_is_allowed() -> None:
    from sipflow.clock import VirtualClock

    backend = LoopbackBackend(VirtualClock())
    backend.open(["udp:10.0.0.6:0"], lambda event: False)
    assert backend.advertised.allow == ()
    assert backend.endpoint is not None and backend.endpoint.config.allow == ("OPTIONS",)
    assert backend.local_addresses[0].port >= 40000
