"""Bad input and faults over the loopback backend: 481, 405/501 with Allow, safe defaults,
OPTIONS with derived Allow/Accept/Supported, peers that vanish, shutdown, and no leaks."""

from __future__ import annotations

import time
from pathlib import Path

from sipflow.backends.base import load_backend
from sipflow.backends.loopback import LoopbackBackend
from sipflow.backends.sip import SipBackend
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address

from .harness import TARGET, Pair, Party, edited

PROBE = Address("udp", "10.0.0.9", 5060)


class Probe:
    """A raw SIP peer on the loopback network: sends text, keeps what comes back."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.port = pair.net.bind(PROBE)
        self.got: list = []
        self.port.on_receive = lambda data, src: self.got.append(parse_message(data))

    def send(self, method: str, *, to_tag: str = "", call_id: str = "probe-1", cseq: int = 1,
             extra: str = "", ruri: str = TARGET) -> list:
        tag = f";tag={to_tag}" if to_tag else ""
        text = (f"{method} {ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-{method}-{call_id}-{cseq}\r\n"
                f"From: <sip:probe@10.0.0.9>;tag=p1\r\nTo: <{TARGET}>{tag}\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:probe@10.0.0.9:5060>\r\n{extra}Content-Length: 0\r\n\r\n")
        before = len(self.got)
        self.port.send(text.encode(), Address("udp", "10.0.0.2", 5060))
        self.pair.run(1.0)
        return self.got[before:]


def _tokens(value: str | None) -> set[str]:
    return {t.strip() for t in (value or "").split(",") if t.strip()}


# -- 481, 405, 501 ---------------------------------------------------------------------------------
def test_requests_for_unknown_dialogs_get_481(pair: Pair) -> None:
    probe = Probe(pair)
    for method in ("BYE", "INFO", "UPDATE", "INVITE"):
        answers = [m.status for m in probe.send(method, to_tag="nosuch", call_id=f"x-{method}")]
        assert set(answers) == {481}, method
    assert not pair.callee.runtime.sessions


def test_unsupported_methods_get_405_or_501_with_allow(pair: Pair) -> None:
    probe = Probe(pair)
    (answer,) = probe.send("REGISTER")
    assert answer.status == 405
    allow = _tokens(answer.headers.get("Allow"))
    assert "REGISTER" not in allow and {"INVITE", "ACK", "BYE", "CANCEL"} <= allow
    (answer,) = probe.send("FROBNICATE", call_id="probe-2")
    assert answer.status == 501 and _tokens(answer.headers.get("Allow")) == allow


def test_out_of_dialog_request_no_table_starts_on_gets_405(pair: Pair) -> None:
    probe = Probe(pair)
    (answer,) = probe.send("MESSAGE")  # uas_call answers MESSAGE in a dialog only
    assert answer.status == 405 and "INVITE" in _tokens(answer.headers.get("Allow"))
    assert pair.callee.backend.defaults == {405: 1}


def test_in_dialog_request_without_a_row_gets_the_safe_default(tmp_path: Path) -> None:
    uas = edited(tmp_path, "uas_call")
    fragment = tmp_path / "fragments" / "in_dialog.yaml"
    text = fragment.read_text()
    for method in ("INFO", "UPDATE"):  # rows only while on hold: none in Active
        text = text.replace(f"from: Any, on: Dialog{method}", f"from: OnHold, on: Dialog{method}")
    fragment.write_text(text)
    pair = Pair(callee_tables=[uas])
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Active"
    pair.caller.runtime.dispatch(session, "SendDTMF", {"digits": "1"})
    pair.caller.runtime.dispatch(session, "Update")
    pair.run(1.0)
    info = [m.status for _, m in pair.messages("500") if m.cseq.method == "INFO"]
    update = [m.status for _, m in pair.messages("488") if m.cseq.method == "UPDATE"]
    assert info == [500] and update == [488]
    assert pair.callee.backend.defaults == {500: 1, 488: 1}
    assert session.state == "Active"


def test_a_method_no_row_handles_leaves_allow_and_gets_405(tmp_path: Path) -> None:
    uas = edited(tmp_path, "uas_call")
    fragment = tmp_path / "fragments" / "in_dialog.yaml"
    fragment.write_text("\n".join(line for line in fragment.read_text().splitlines()
                                  if "on: DialogINFO" not in line))
    pair = Pair(callee_tables=[uas])
    session = pair.caller.call()
    pair.run(1.0)
    pair.caller.runtime.dispatch(session, "SendDTMF", {"digits": "1"})
    pair.run(1.0)
    (_, refusal), = pair.messages("405")
    assert refusal.cseq.method == "INFO" and "INFO" not in _tokens(refusal.headers.get("Allow"))
    assert session.state == "Active"


# -- OPTIONS, Allow / Accept / Supported from the tables ---------------------------------------------
def test_options_out_of_dialog_lists_what_the_tables_handle() -> None:
    pair = Pair(callee_tables=["uas_call", "options"])
    probe = Probe(pair)
    (answer,) = probe.send("OPTIONS")
    assert answer.status == 200
    allow = _tokens(answer.headers.get("Allow"))
    assert allow == {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK", "UPDATE", "INFO", "MESSAGE"}
    assert _tokens(answer.headers.get("Accept")) == {
        "application/sdp", "application/dtmf-relay", "application/dtmf"}
    assert _tokens(answer.headers.get("Supported")) == {"100rel", "timer"}
    assert not pair.callee.runtime.sessions  # the options session ended with its answer


def test_allow_and_accept_change_when_a_table_loses_its_info_rows(tmp_path: Path) -> None:
    pair = Pair()
    before = pair.callee.backend.advertised
    fragment = (Path(__file__).resolve().parents[2] / "state_tables" / "fragments" / "in_dialog.yaml")
    text = "\n".join(line for line in fragment.read_text().splitlines()
                     if "DialogINFO" not in line)
    uas = edited(tmp_path, "uas_call")
    (tmp_path / "fragments" / "in_dialog.yaml").write_text(text)
    after = Pair(callee_tables=[uas]).callee.backend.advertised
    assert "INFO" in before.allow and "INFO" not in after.allow
    assert "application/dtmf" in before.accept and "application/dtmf" not in after.accept
    uac = edited(tmp_path, "uac_call", ("include: [in_dialog]\n", ""))
    assert uac.exists()


def test_options_in_dialog_and_allow_derived_from_rows(pair: Pair) -> None:
    session = pair.caller.call()
    pair.run(1.0)
    pair.caller.runtime.dispatch(session, "Ping")
    pair.run(1.0)
    (_, answer), = [(r, m) for r, m in pair.messages("200") if m.cseq.method == "OPTIONS"]
    assert "INFO" in _tokens(answer.headers.get("Allow"))
    assert "application/sdp" in _tokens(answer.headers.get("Accept"))
    assert session.state == "Active"


# -- peers that vanish -------------------------------------------------------------------------------
def test_peer_vanishing_mid_call_ends_the_session_with_timer_f(pair: Pair) -> None:
    session = pair.caller.call()
    pair.run(1.0)
    pair.net.set_link("10.0.0.1", "10.0.0.2", loss=1.0)
    pair.caller.runtime.dispatch(session, "SendDTMF", {"digits": "9"})
    pair.run(31.0)
    assert session.state == "Active"
    pair.run(2.0)
    assert session.state == "Terminated"
    ended = [d for _, n, d in pair.caller.published if n == "CallEnded"]
    assert ended and ended[0]["timer"] == "F"


# -- shutdown ------------------------------------------------------------------------------------------
def test_shutdown_ends_ringing_and_confirmed_calls_and_refuses_new_ones() -> None:
    pair = Pair(callee_params={"answer_delay": "1h"})
    ringing = pair.caller.call()
    pair.run(1.0)
    third = Party(pair.net, "udp:10.0.0.3:5060", ["uas_call"], 3)
    active = pair.caller.call(target="sip:carol@10.0.0.3:5060")
    pair.run(1.0)
    assert ringing.state == "Ringing" and active.state == "Active"
    third.backend.begin_shutdown()
    pair.callee.backend.shutdown(drain=5.0)
    pair.run()
    assert [m.status for _, m in pair.messages("480")] == [480]
    assert "BYE" in pair.wire()
    assert ringing.state == "Terminated" and active.state == "Terminated"
    late = pair.caller.call(target="sip:carol@10.0.0.3:5060")
    pair.run()
    assert late.state == "Terminated"
    assert [m.status for _, m in pair.messages("503")] == [503]
    assert not pair.callee.runtime.sessions and third.idle()
    assert pair.callee.backend.driver is None  # detached after the drain


# -- no leaks --------------------------------------------------------------------------------------
REJECTOR = """
table: rejector
role: UAS
starts_on: [DialogINVITE]
initial: Idle
states:
  Idle: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: DialogINVITE, do: [{SendSIPResponse: {code: 486}}], to: Done}
"""


def test_nothing_is_left_after_10000_failed_calls(tmp_path: Path) -> None:
    (tmp_path / "rejector.yaml").write_text(REJECTOR)
    pair = Pair(callee_tables=[tmp_path / "rejector.yaml"], delay=0.001)
    pair.net.record = False
    failed = []
    pair.caller.runtime.subscribe(lambda s, name, data: failed.append(1) if name == "CallFailed" else None)
    started = time.perf_counter()
    for _batch in range(100):
        for _ in range(100):
            pair.caller.call()
        pair.run(0.1)
    pair.run()
    wall = time.perf_counter() - started
    assert len(failed) == 10_000
    for party in (pair.caller, pair.callee):
        assert not party.runtime.sessions
        assert not any(party.backend.counts().values()), party.backend.counts()
        assert not party.runtime.timers.__dict__.get("_live", None)
    assert pair.clock.next_deadline() is None
    assert wall < 20.0


# -- registration and the real-socket backend ---------------------------------------------------------
def test_backends_are_registered_entry_points() -> None:
    assert load_backend("loopback") is LoopbackBackend
    assert load_backend("sip") is SipBackend
    assert "SendPRACK" in SipBackend.capabilities.actions
    assert "DialogUPDATE" in LoopbackBackend.capabilities.events


PINGER = """
table: pinger
role: UAC
starts_on: [Ping]
parameters: {target: ""}
initial: Idle
states:
  Idle: {}
  Asking: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: Ping, do: [{SendOPTIONS: {target: {param: target}}}], to: Asking}
  - {from: Asking, on: Dialog200OK, to: Done, publish: [CallEstablished]}
  - {from: Asking, on: Dialog4xxFailure, to: Done, publish: [CallFailed]}
  - {from: Asking, on: DialogTimeout, to: Done, publish: [CallFailed]}
  - {from: Asking, on: DialogTransportError, to: Done, publish: [CallFailed]}
"""


def test_options_sent_outside_a_dialog(tmp_path: Path) -> None:
    (tmp_path / "pinger.yaml").write_text(PINGER)
    pair = Pair(caller_tables=[tmp_path / "pinger.yaml"], callee_tables=["uas_call", "options"])
    ok = pair.caller.runtime.start_session("pinger", {"target": TARGET})
    pair.caller.runtime.dispatch(ok, "Ping")
    bad = pair.caller.runtime.start_session("pinger", {"target": "nonsense"})
    pair.caller.runtime.dispatch(bad, "Ping")
    pair.run()
    assert pair.caller.names().count("CallEstablished") == 1
    assert pair.caller.names().count("CallFailed") == 1
    (_, answer), = pair.messages("200")
    assert "INVITE" in _tokens(answer.headers.get("Allow"))
    assert pair.caller.idle() and pair.callee.idle()


def test_auth_challenges_message_but_never_options() -> None:
    pair = Pair(callee_tables=["uas_call", "options"], callee_options={"auth": {"alice": "secret"}})
    probe = Probe(pair)
    (answer,) = probe.send("OPTIONS")
    assert answer.status == 200
    (answer,) = probe.send("MESSAGE", call_id="probe-3")
    assert answer.status == 401 and answer.headers.get_all("WWW-Authenticate")
