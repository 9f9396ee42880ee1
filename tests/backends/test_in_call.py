"""In-call methods over the loopback backend: re-INVITE hold/resume and glare, UPDATE,
100rel/PRACK with offer/answer, INFO DTMF, session-timer refreshes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Pair, edited


def established(pair: Pair, **params: object):
    session = pair.caller.call(**params)
    pair.run(1.0)
    assert session.state == "Active"
    (callee,) = pair.callee.runtime.sessions
    assert callee.state == "Active"
    return session, callee


def in_dialog(pair: Pair, method: str) -> list:
    """(record, message) of the in-dialog requests ``method`` on the wire."""
    return [(r, m) for r, m in pair.messages(method) if m.to_tag is not None]


def direction(body: bytes) -> str:
    for line in body.decode().splitlines():
        if line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            return line[2:]
    return "sendrecv"


# -- hold and resume ------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["caller", "callee"])
def test_hold_and_resume(pair: Pair, side: str) -> None:
    caller, callee = established(pair)
    us, them = (pair.caller, pair.callee) if side == "caller" else (pair.callee, pair.caller)
    mine = caller if side == "caller" else callee
    us.runtime.dispatch(mine, "Hold")
    pair.run(1.0)
    assert mine.state == "OnHold"
    (_, reinvite), = in_dialog(pair, "INVITE")
    assert direction(reinvite.body) == "sendonly"
    answer = [m for _, m in pair.messages("200") if m.cseq.method == "INVITE"][-1]
    assert direction(answer.body) == "recvonly"
    assert "CallHeld" in us.names() and "CallHeld" in them.names()
    us.runtime.dispatch(mine, "Resume")
    pair.run(1.0)
    assert mine.state == "Active"
    resume = in_dialog(pair, "INVITE")[-1][1]
    assert direction(resume.body) == "sendrecv"
    assert "CallResumed" in us.names()
    us.runtime.dispatch(mine, "HangUp")
    pair.run()
    assert pair.caller.idle() and pair.callee.idle()


def test_glare_both_sides_get_491_and_back_off(pair: Pair) -> None:
    caller, callee = established(pair)
    start = pair.clock.now()
    pair.caller.runtime.dispatch(caller, "Hold")
    pair.callee.runtime.dispatch(callee, "Hold")
    pair.run(10.0)
    invites = in_dialog(pair, "INVITE")
    glare = [m for _, m in pair.messages("491")]
    assert len(glare) == 2  # each side refused the other's re-INVITE
    by_caller = [r.sent - start for r, m in invites if r.src.host == "10.0.0.1"]
    by_callee = [r.sent - start for r, m in invites if r.src.host == "10.0.0.2"]
    assert len(by_caller) == 2 and len(by_callee) == 2
    # RFC 3261 14.1: the Call-ID owner (the caller) waits 2.1-4 s, the other 0-2 s
    assert 2.1 <= by_caller[1] - by_caller[0] <= 4.0 + 0.05
    assert 0.0 <= by_callee[1] - by_callee[0] <= 2.0 + 0.05
    assert caller.state == "OnHold" and callee.state == "OnHold"
    delays = (caller.data["glare_delay"], callee.data["glare_delay"])
    assert 2.1 <= delays[0] <= 4.0 and 0.0 <= delays[1] <= 2.0


def test_unacceptable_reoffer_gets_488_and_the_call_goes_on(tmp_path: Path) -> None:
    pair = Pair()
    caller, callee = established(pair)
    # a re-INVITE whose only codec the callee does not have
    leg = pair.caller.backend._calls[caller.handle]
    body = leg.sdp.create_offer().replace(b"RTP/AVP 0 8", b"RTP/AVP 99").replace(b"RTP/AVP 0", b"RTP/AVP 99")
    leg.sdp.rollback()
    pair.caller.backend.endpoint.request(caller.handle, "INVITE", body=body, now=pair.clock.now())
    pair.caller.backend.driver.flush()
    pair.run(1.0)
    assert [m.status for _, m in pair.messages("488")] == [488]
    assert caller.state == "Active" and callee.state == "Active"


# -- UPDATE (RFC 3311) ------------------------------------------------------------------------------
def test_update_in_the_confirmed_dialog_with_and_without_sdp(pair: Pair) -> None:
    caller, callee = established(pair)
    pair.caller.runtime.dispatch(caller, "Update")
    pair.run(1.0)
    pair.callee.runtime.dispatch(callee, "Refresh")
    pair.run(1.0)
    updates = [m for _, m in pair.messages("UPDATE")]
    assert [bool(m.body) for m in updates] == [True, False]
    oks = [m for _, m in pair.messages("200") if m.cseq.method == "UPDATE"]
    assert [bool(m.body) for m in oks] == [True, False]
    assert caller.state == "Active" and callee.state == "Active"
    sdp = pair.caller.backend._calls[caller.handle].sdp
    assert sdp.pending is None and sdp.established  # the re-offer was answered


def test_update_in_the_early_dialog_with_and_without_sdp() -> None:
    # the callee rings with a reliable 183 carrying the answer; the caller then updates
    pair = Pair(callee_params={"answer_delay": "60s", "provisional": "183"})
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "EarlyMedia"
    pair.caller.runtime.dispatch(session, "Update")
    pair.run(1.0)
    pair.caller.runtime.dispatch(session, "Refresh")
    pair.run(1.0)
    updates = [m for _, m in pair.messages("UPDATE")]
    assert [bool(m.body) for m in updates] == [True, False]
    oks = [m for _, m in pair.messages("200") if m.cseq.method == "UPDATE"]
    assert [bool(m.body) for m in oks] == [True, False]
    (callee,) = pair.callee.runtime.sessions
    assert session.state == "EarlyMedia" and callee.state == "Ringing"
    pair.callee.runtime.dispatch(callee, "Answer")
    pair.run(1.0)
    assert session.state == "Active"


# -- 100rel (RFC 3262) ------------------------------------------------------------------------------
def test_offer_in_reliable_183_answered_in_prack(tmp_path: Path) -> None:
    uac = edited(tmp_path, "uac_call", ("SendINVITE: {body: sdp-offer,", "SendINVITE: {body: none,"))
    pair = Pair(caller_tables=[uac], callee_params={"provisional": "183"})
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Active"
    (_, invite), = pair.messages("INVITE")
    assert not invite.body
    (_, progress), = pair.messages("183")
    assert progress.headers.get("Require") == "100rel" and progress.rseq is not None
    assert b"m=audio" in progress.body  # the callee's offer ...
    (_, prack), = pair.messages("PRACK")
    assert b"m=audio" in prack.body  # ... answered in the PRACK
    final = [m for _, m in pair.messages("200") if m.cseq.method == "INVITE"][0]
    assert not final.body  # offer/answer is complete: the 200 carries no SDP
    caller_sdp = pair.caller.backend._calls[session.handle].sdp
    assert caller_sdp.established and caller_sdp.pending is None


def test_answer_in_reliable_183_then_200_without_a_new_offer() -> None:
    pair = Pair(callee_params={"provisional": "183"})
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Active"
    assert pair.wire() == ["INVITE", "183", "PRACK", "200", "200", "ACK"]
    assert "EarlyMedia" in pair.caller.names()


def test_rel100_required_against_a_peer_without_100rel_gets_421() -> None:
    pair = Pair(callee_params={"rel100": "required"})
    session = pair.caller.call(rel100="never")
    pair.run()
    assert session.state == "Terminated"
    (_, refusal), = pair.messages("421")
    assert refusal.headers.get("Require") == "100rel"
    assert pair.caller.names() == ["CallFailed"]


def test_caller_requiring_100rel_against_rel100_never_gets_420() -> None:
    pair = Pair(callee_params={"rel100": "never"})
    session = pair.caller.call(rel100="required")
    pair.run()
    assert session.state == "Terminated"
    (_, refusal), = pair.messages("420")
    assert refusal.headers.get("Unsupported") == "100rel"


def test_rel100_never_sends_unreliable_provisionals() -> None:
    pair = Pair(callee_params={"rel100": "never"})
    pair.caller.call()
    pair.run(1.0)
    assert pair.wire() == ["INVITE", "180", "200", "ACK"]


def test_reliable_provisional_never_pracked_fails_the_call() -> None:
    pair = Pair()
    pair.caller.call()
    pair.run(0.015)
    pair.net.set_link("10.0.0.1", "10.0.0.2", loss=1.0)  # the PRACK never arrives
    pair.run()
    failed = [d for _, n, d in pair.callee.published if n == "CallFailed"]
    assert failed and failed[0]["timer"] == "PRACK"
    assert pair.callee.backend.endpoint.counts()["handles"] == 0
    assert pair.callee.idle()


# -- INFO DTMF -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,content_type", [("relay", "application/dtmf-relay"),
                                               ("info-package", "application/dtmf")])
def test_dtmf_both_ways(fmt: str, content_type: str) -> None:
    pair = Pair(caller_params={"dtmf": fmt}, callee_params={"dtmf": fmt})
    caller, callee = established(pair)
    pair.caller.runtime.dispatch(caller, "SendDTMF", {"digits": "5"})
    pair.callee.runtime.dispatch(callee, "SendDTMF", {"digits": "12#"})
    pair.run(1.0)
    infos = [m for _, m in pair.messages("INFO")]
    assert {m.content_type for m in infos} == {content_type}
    if fmt == "info-package":
        assert {m.headers.get("Info-Package") for m in infos} == {"dtmf"}
    got_callee = [d["digits"] for _, n, d in pair.callee.published if n == "DtmfReceived"]
    got_caller = [d["digits"] for _, n, d in pair.caller.published if n == "DtmfReceived"]
    assert got_callee == ["5"] and got_caller == ["12#"]


def test_info_without_dtmf_is_answered_but_not_published(pair: Pair) -> None:
    caller, _ = established(pair)
    pair.caller.backend.endpoint.request(caller.handle, "INFO", body=b"hello",
                                         content_type="text/plain", now=pair.clock.now())
    pair.caller.backend.driver.flush()
    pair.run(1.0)
    assert [m.status for _, m in pair.messages("200") if m.cseq.method == "INFO"] == [200]
    assert "DtmfReceived" not in pair.callee.names()


# -- session timers (RFC 4028) ---------------------------------------------------------------------
def test_session_timer_refreshes_with_update() -> None:
    pair = Pair(caller_options={"session_expires": 120}, callee_options={"session_expires": 120})
    caller, callee = established(pair, session_expires=120)
    (_, invite), = pair.messages("INVITE")
    assert invite.headers.get("Session-Expires") == "120"
    pair.run(200.0)
    updates = [r.sent for r, _ in pair.messages("UPDATE")]
    assert len(updates) >= 2  # refreshed every half interval
    assert updates[0] == pytest.approx(60.0, abs=2.0)
    assert caller.state == "Active" and callee.state == "Active"


def test_session_expires_when_no_refresh_arrives() -> None:
    pair = Pair(caller_options={"session_expires": 90}, callee_options={"session_expires": 90})
    caller, callee = established(pair, session_expires=90)
    pair.net.set_link("10.0.0.1", "10.0.0.2", loss=1.0)  # the peers lose each other
    pair.net.set_link("10.0.0.2", "10.0.0.1", loss=1.0)
    pair.run(300.0)
    sent = [(round(r.sent), r.src.host, r.data.split(b" ", 1)[0]) for r in pair.net.trace
            if r.outcome == "dropped" and r.data[:3] in (b"UPD", b"BYE")]
    # the refresher tries at half the interval; both sessions expire at 90 - 90/3 s (RFC 4028 10)
    assert (45, "10.0.0.1", b"UPDATE") in sent
    assert {(60, "10.0.0.1", b"BYE"), (60, "10.0.0.2", b"BYE")} <= set(sent)
    assert caller.state == "Terminated" and callee.state == "Terminated"
    assert "CallEnded" in pair.caller.names() and "CallEnded" in pair.callee.names()
    pair.run()
    assert pair.caller.idle() and pair.callee.idle()


def test_reinvite_without_an_offer_gets_ours_in_the_200_and_the_answer_in_the_ack(pair: Pair) -> None:
    caller, callee = established(pair)
    pair.caller.backend.endpoint.request(caller.handle, "INVITE", now=pair.clock.now())
    pair.caller.backend.driver.flush()
    pair.run(1.0)
    (_, reinvite), = in_dialog(pair, "INVITE")
    assert not reinvite.body
    ok = [m for _, m in pair.messages("200") if m.cseq.method == "INVITE"][-1]
    assert b"m=audio" in ok.body  # RFC 3261 14.2: the callee offers
    assert callee.state == "Active"
    callee_sdp = pair.callee.backend._calls[callee.handle].sdp
    assert callee_sdp.pending == "local"
    pair.caller.backend.perform(caller.handle, "SendACK", {"body": "sdp-answer"})
    pair.run(1.0)
    acks = [m for _, m in pair.messages("ACK")]
    assert b"m=audio" in acks[-1].body  # the caller's answer
    assert callee_sdp.pending is None and callee_sdp.established


def test_an_unusable_answer_in_the_200_ends_the_call() -> None:
    pair = Pair()
    # the callee's media layer answers with garbage
    original = pair.callee.backend._respond

    def garbled(handle, params, now):
        if params.get("code") == 200 and params.get("body") == "sdp-answer":
            endpoint = pair.callee.backend.endpoint
            endpoint.respond(endpoint.pending_invite(handle), 200, body=b"v=0\r\ngarbage\r\n",
                             content_type="application/sdp", now=now)
            return
        original(handle, params, now)

    pair.callee.backend._respond = garbled
    session = pair.caller.call(rel100="never")
    pair.run()
    assert session.state == "Terminated"
    assert pair.caller.names() == ["Ringing", "CallFailed"]
    assert "ACK" in pair.wire() and "BYE" in pair.wire()


def test_an_unusable_answer_in_the_ack_ends_the_call(tmp_path: Path) -> None:
    uac = edited(tmp_path, "uac_call", ("SendINVITE: {body: sdp-offer,", "SendINVITE: {body: none,"))
    pair = Pair(caller_tables=[uac], callee_params={"rel100": "never"})
    backend = pair.caller.backend
    original = backend.perform

    def garbled(handle, action, params):
        if action == "SendACK":
            backend.endpoint.ack(handle, body=b"v=0\r\ngarbage\r\n", now=pair.clock.now())
            return None
        return original(handle, action, params)

    backend.perform = garbled
    session = pair.caller.call(rel100="never")
    pair.run()
    ok = [m for _, m in pair.messages("200") if m.cseq.method == "INVITE"][0]
    assert b"m=audio" in ok.body  # the callee offered in the 200 (the INVITE had no offer)
    assert pair.callee.names() == ["IncomingCall", "CallFailed"]
    assert "BYE" in pair.wire() and session.state == "Terminated"


def test_answer_before_the_prack_waits_for_it() -> None:
    pair = Pair(callee_params={"answer_delay": "60s"})
    session = pair.caller.call()
    pair.run(0.015)  # the reliable 180 is out, its PRACK not yet in
    (callee,) = pair.callee.runtime.sessions
    assert callee.state == "RingingReliable"
    assert pair.callee.runtime.dispatch(callee, "Answer")
    assert callee.state == "AnswerOnPrack"
    pair.run(1.0)
    assert session.state == "Active" and callee.state == "Active"
    assert pair.wire() == ["INVITE", "180", "PRACK", "200", "200", "ACK"]
    final = [m for _, m in pair.messages("200") if m.cseq.method == "INVITE"]
    assert b"m=audio" in final[0].body
    assert pair.caller.backend._calls[session.handle].sdp.pending is None
    assert pair.callee.backend._calls[callee.handle].sdp.pending is None


def test_hold_while_our_update_offer_is_unanswered_backs_off_like_glare() -> None:
    """RFC 3311 5.1: no new offer while one is outstanding. The Hold is answered locally
    with 491, the table backs off (GlareBackoff) and holds once the UPDATE is answered."""
    pair = Pair(delay=0.2)  # the UPDATE is still unanswered when Hold comes
    caller, callee = established(pair)
    start = pair.clock.now()
    pair.caller.runtime.dispatch(caller, "Update")
    pair.caller.runtime.dispatch(caller, "Hold")
    pair.run(0.1)
    assert caller.state == "Active"  # Holding -> 491 -> back to Active, retry scheduled
    assert not pair.caller.runtime.failures
    pair.run(10.0)
    assert caller.state == "OnHold" and "CallHeld" in pair.callee.names()
    assert not pair.caller.runtime.failures and not pair.callee.runtime.failures
    reinvites = [r.sent - start for r, m in in_dialog(pair, "INVITE") if r.src.host == "10.0.0.1"]
    assert len(reinvites) == 1 and 2.1 <= reinvites[0] <= 4.0 + 0.05
    assert not pair.messages("491")  # nothing was refused on the wire
