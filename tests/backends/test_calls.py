"""Call set-up and failure flows of the shipped tables over the loopback backend (virtual time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import CALLEE, Pair, Party


def test_basic_call_on_the_wire(pair: Pair) -> None:
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Active"
    # 100rel is supported on both sides: the 180 is reliable, PRACKed before the answer.
    assert pair.wire() == ["INVITE", "180", "PRACK", "200", "200", "ACK"]
    (_, invite), = pair.messages("INVITE")
    assert invite.content_type == "application/sdp" and b"m=audio" in invite.body
    answers = [m for _, m in pair.messages("200") if m.cseq.method == "INVITE"]
    assert b"m=audio" in answers[0].body
    pair.caller.runtime.dispatch(session, "HangUp")
    pair.run()
    assert pair.caller.names() == ["Ringing", "CallEstablished", "CallEnded"]
    assert pair.callee.names() == ["IncomingCall", "CallEstablished", "CallEnded"]
    assert pair.caller.idle() and pair.callee.idle()


def test_cancel_before_the_answer_gets_487() -> None:
    pair = Pair(callee_params={"answer_delay": "60s"})
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Ringing"
    pair.caller.runtime.dispatch(session, "HangUp")
    pair.run()
    assert "CANCEL" in pair.wire() and "487" in pair.wire()
    assert pair.caller.names() == ["Ringing", "CallFailed"]
    assert pair.callee.names() == ["IncomingCall", "CallFailed"]
    assert pair.caller.idle() and pair.callee.idle()


@pytest.mark.parametrize("code", [486, 503, 603])
def test_rejected_call_fails_with_the_code(code: int) -> None:
    pair = Pair(callee_params={"answer_delay": "60s", "reject_code": code})
    session = pair.caller.call()
    pair.run(1.0)
    (callee_session,) = pair.callee.runtime.sessions
    pair.callee.runtime.dispatch(callee_session, "Reject")
    pair.run()
    assert session.state == "Terminated"
    failed = [data for _, name, data in pair.caller.published if name == "CallFailed"]
    assert [d["code"] for d in failed] == [code]
    assert pair.caller.idle() and pair.callee.idle()


def test_no_answer_timer_cancels_after_180_virtual_seconds() -> None:
    pair = Pair(callee_params={"answer_delay": "1h"})
    session = pair.caller.call()
    pair.run(179.0)
    assert session.state == "Ringing"
    pair.run(2.0)
    assert session.state in ("Cancelling", "Terminated")
    pair.run()
    assert session.state == "Terminated"
    assert pair.caller.names() == ["Ringing", "CallFailed"]
    cancel, = pair.messages("CANCEL")
    assert cancel[0].sent == pytest.approx(180.0, abs=0.1)


REDIRECTOR = """
table: redirector
role: UAS
starts_on: [DialogINVITE]
initial: Idle
states:
  Idle: {}
  Done: {final: true}
transitions:
  - from: Idle
    on: DialogINVITE
    do: [{SendSIPResponse: {code: 302, headers: {Contact: "CONTACT"}}}]
    to: Done
"""


def _redirector(tmp_path: Path, contact: str) -> Path:
    path = tmp_path / "redirector.yaml"
    path.write_text(REDIRECTOR.replace("CONTACT", contact))
    return path


def test_one_redirect_is_followed(tmp_path: Path) -> None:
    pair = Pair(callee_tables=[_redirector(tmp_path, "<sip:carol@10.0.0.3:5060>")])
    carol = Party(pair.net, "udp:10.0.0.3:5060", ["uas_call"], 3)
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Active"
    assert pair.wire()[:3] == ["INVITE", "302", "ACK"]
    invites = [m for _, m in pair.messages("INVITE")]
    assert [str(m.ruri) for m in invites] == ["sip:bob@10.0.0.2:5060", "sip:carol@10.0.0.3:5060"]
    assert invites[0].call_id == invites[1].call_id
    assert invites[1].cseq.seq == invites[0].cseq.seq + 1
    assert invites[1].body == invites[0].body  # the same offer, to the new target
    established = [d for _, n, d in pair.caller.published if n == "CallEstablished"]
    assert established[0]["sdp"] == "answer"
    assert "CallEstablished" in carol.names()


def test_a_second_redirect_is_not_followed(tmp_path: Path) -> None:
    pair = Pair(callee_tables=[_redirector(tmp_path, "<sip:bob@10.0.0.2:5060>")])
    session = pair.caller.call()
    pair.run()
    assert session.state == "Terminated"
    assert [m.status for _, m in pair.messages("302")] == [302, 302]
    assert pair.caller.names() == ["CallFailed"]
    assert pair.caller.idle() and pair.callee.idle()


def test_401_is_answered_once_with_credentials() -> None:
    pair = Pair(callee_options={"auth": {"alice": "secret"}})
    session = pair.caller.call(auth_user="alice", auth_password="secret")
    pair.run(1.0)
    assert session.state == "Active"
    assert pair.wire()[:4] == ["INVITE", "401", "ACK", "INVITE"]
    (_, challenge), = pair.messages("401")
    values = challenge.headers.get_all("WWW-Authenticate")
    assert any("SHA-256" in v for v in values) and any("MD5" in v for v in values)
    assert all('qop="auth"' in v for v in values)
    second = pair.messages("INVITE")[1][1]
    assert (second.headers.get("Authorization") or "").startswith("Digest ")
    # once the 2xx is acknowledged, what a retry needed is no longer kept for the held call
    leg = pair.caller.backend._calls[session.handle]
    assert leg.invite is None and leg.challenge is None and leg.sdp.established


def test_refused_credentials_are_not_retried() -> None:
    pair = Pair(callee_options={"auth": {"alice": "secret"}})
    session = pair.caller.call(auth_user="alice", auth_password="wrong")
    pair.run()
    assert session.state == "Terminated"
    assert [line for line in pair.wire() if line in ("INVITE", "401")] == [
        "INVITE", "401", "INVITE", "401"]
    assert pair.caller.names() == ["CallFailed"]
    assert not pair.callee.published  # no table saw an unauthenticated INVITE
    pair.run()
    assert pair.caller.idle() and pair.callee.idle()


def test_without_credentials_a_challenge_fails_the_call() -> None:
    pair = Pair(callee_options={"auth": {"alice": "secret"}})
    session = pair.caller.call()
    pair.run()
    assert session.state == "Terminated"
    assert pair.wire().count("INVITE") == 1


def test_callee_that_never_answers_ends_with_timer_b() -> None:
    pair = Pair()
    pair.net.set_link("10.0.0.1", "10.0.0.2", loss=1.0)  # nothing reaches the callee
    session = pair.caller.call()
    pair.run(31.0)
    assert session.state == "Calling"
    pair.run()
    assert session.state == "Terminated"
    (_, _, data), = [p for p in pair.caller.published if p[1] == "CallFailed"]
    assert data["timer"] == "B"
    assert pair.caller.idle()


def test_caller_that_never_acks_ends_with_timer_h() -> None:
    pair = Pair()
    pair.caller.call(rel100="never")  # an unreliable 180: no PRACK is expected
    pair.run(0.015)  # the INVITE has arrived ...
    pair.net.set_link("10.0.0.1", "10.0.0.2", loss=1.0)  # ... nothing from the caller after it
    pair.run()
    assert "CallFailed" in pair.callee.names()
    failed = [d for _, n, d in pair.callee.published if n == "CallFailed"]
    assert failed[0]["timer"] == "H"
    assert pair.callee.idle()


def test_unknown_destination_fails_at_once() -> None:
    pair = Pair()
    session = pair.caller.call(target="not a uri")
    pair.run()
    assert session.state == "Terminated"
    assert pair.caller.names() == ["CallFailed"]
    assert pair.caller.idle()


def test_caller_gives_up_when_the_callee_is_gone() -> None:
    pair = Pair()
    pair.callee.backend.shutdown(0.0)  # detach: the callee's address is unreachable
    session = pair.caller.call()
    pair.run()
    assert session.state == "Terminated"
    assert pair.caller.names() == ["CallFailed"]
    assert CALLEE.endswith("5060")


def test_ring_two_seconds_then_answer_with_reliable_provisionals() -> None:
    """The README's "Changing the answering behaviour": answer_delay 2s, rel100 required."""
    pair = Pair(callee_params={"answer_delay": "2s", "rel100": "required"})
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Ringing"
    (_, ringing), = pair.messages("180")
    assert ringing.headers.get("Require") == "100rel"
    pair.run(2.0)
    assert session.state == "Active"
    (prack_ok, _), = [(r, m) for r, m in pair.messages("200") if m.cseq.method == "PRACK"]
    (answer, _), = [(r, m) for r, m in pair.messages("200") if m.cseq.method == "INVITE"]
    assert answer.sent - prack_ok.sent == pytest.approx(2.0, abs=0.01)


def test_407_is_answered_with_proxy_authorization() -> None:
    from sipflow.sip.digest import DigestServer

    proxy = DigestServer("proxy.example", {"alice": "secret"}, proxy=True, algorithms=("MD5",))
    pair = Pair(callee_options={"auth": proxy})
    session = pair.caller.call(auth_user="alice", auth_password="secret")
    pair.run(1.0)
    assert session.state == "Active"
    assert pair.wire()[:4] == ["INVITE", "407", "ACK", "INVITE"]
    second = pair.messages("INVITE")[1][1]
    assert 'realm="proxy.example"' in (second.headers.get("Proxy-Authorization") or "")
    assert 'algorithm=MD5' in (second.headers.get("Proxy-Authorization") or "")


def test_options_and_cancel_are_never_challenged() -> None:
    pair = Pair(callee_tables=["uas_call", "options"], callee_params={"answer_delay": "60s"},
                callee_options={"auth": {"alice": "secret"}})
    session = pair.caller.call(auth_user="alice", auth_password="secret")
    pair.run(1.0)
    assert session.state == "Ringing"
    pair.caller.runtime.dispatch(session, "HangUp")
    pair.run()
    assert [m.status for _, m in pair.messages("200") if m.cseq.method == "CANCEL"] == [200]
    assert [m.status for _, m in pair.messages("487")] == [487]


@pytest.mark.parametrize("rel100", ["supported", "never"])
def test_every_call_completes_with_five_percent_loss(rel100: str) -> None:
    pair = Pair(loss=0.05, delay=0.02)
    runtime = pair.caller.runtime
    runtime.subscribe(lambda s, name, data: runtime.post(s, "HangUp") if name == "CallEstablished" else None)
    sessions = []
    for i in range(40):
        pair.clock.call_at(i * 0.05, lambda: sessions.append(pair.caller.call(rel100=rel100)))
    pair.run()
    assert len(sessions) == 40
    assert pair.caller.names().count("CallEstablished") == 40
    assert pair.caller.names().count("CallEnded") == 40
    assert pair.callee.names().count("CallEnded") == 40
    assert pair.net.counts["dropped"] > 0
    assert pair.caller.idle() and pair.callee.idle()
