"""``sipflow.app.logging``: one line per call, traces only with -v."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sipflow.app.logging import CallLog, failure_reason, message_identity
from sipflow.clock import VirtualClock
from sipflow.sip.parser import parse_message

INVITE = (b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\n"
          b"From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\n"
          b"Call-ID: c1@host\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def session(key: object, table: str = "uas_call") -> SimpleNamespace:
    return SimpleNamespace(handle=key, table=SimpleNamespace(name=table))


def make_log(verbose: bool = False) -> tuple[CallLog, VirtualClock, list[str]]:
    clock = VirtualClock()
    lines: list[str] = []
    return CallLog(clock, lines.append, verbose=verbose), clock, lines


def test_identity_from_a_parsed_message() -> None:
    assert message_identity(parse_message(INVITE)) == (
        "c1@host", "sip:alice@127.0.0.1", "sip:bob@127.0.0.1")
    assert message_identity(object()) == ("-", "-", "-")


def test_completed_call_one_line_with_duration() -> None:
    log, clock, lines = make_log()
    log.note("k1", "DialogINVITE", parse_message(INVITE))
    s = session("k1")
    clock.advance(1.5)
    log.on_published(s, "CallEstablished", {})
    log.on_published(s, "CallEnded", {})
    assert lines == []
    clock.advance(0.5)
    log.on_published(s, "SessionEnded", {"state": "Terminated"})
    assert lines == ["call call-id=c1@host from=sip:alice@127.0.0.1 to=sip:bob@127.0.0.1 "
                     "outcome=completed duration=2.000s"]
    assert log.open_calls == 0 and log.outcomes == {"completed": 1}


def test_failed_call_says_why() -> None:
    log, clock, lines = make_log()
    log.note("k", "Dialog4xxFailure", parse_message(INVITE))
    s = session("k", "uac_call")
    log.on_published(s, "CallFailed", {"code": 486, "reason": "Busy Here"})
    log.on_published(s, "SessionEnded", {})
    assert lines[0].endswith('outcome=failed duration=0.000s reason="486 Busy Here"')
    log.note("c", "DialogCANCEL", parse_message(INVITE))
    s2 = session("c")
    log.on_published(s2, "CallFailed", {})
    log.on_published(s2, "SessionEnded", {})
    assert lines[1].endswith('reason="DialogCANCEL"')
    assert log.outcomes == {"failed": 2}


def test_other_tables_are_not_calls_and_open_calls_flush() -> None:
    log, clock, lines = make_log()
    log.on_published(session("o", "options"), "SessionEnded", {})
    assert lines == []
    log.note("x", "DialogINVITE", None)
    assert log.flush_open() == 1
    assert lines == ["call call-id=- from=- to=- outcome=open duration=0.000s"]


def test_trace_only_when_verbose_and_write_errors_dropped() -> None:
    log, _, lines = make_log()
    log.trace("in", "udp:127.0.0.1:5061", "INVITE sip:bob SIP/2.0\r\n\r\n")
    assert lines == []
    log, _, lines = make_log(verbose=True)
    log.trace("in", "udp:127.0.0.1:5061", "INVITE sip:bob SIP/2.0\r\n\r\n")
    log.trace("out", "udp:127.0.0.1:5061", "SIP/2.0 180 Ringing\r\n\r\n")
    assert lines[0].startswith("<<< from udp:127.0.0.1:5061\nINVITE sip:bob SIP/2.0")
    assert lines[1].startswith(">>> to udp:127.0.0.1:5061\nSIP/2.0 180 Ringing")

    def broken(_: str) -> None:
        raise OSError("disk full")

    failing = CallLog(VirtualClock(), broken)
    failing.note("k", "DialogINVITE", None)
    failing.on_published(session("k"), "SessionEnded", {})
    assert failing.dropped == 1 and failing.lines == 1


def test_failure_reason() -> None:
    assert failure_reason({"code": 503, "reason": "Service Unavailable"}, None) == \
        "503 Service Unavailable"
    assert failure_reason({}, "DialogTimeout") == "DialogTimeout"
    assert failure_reason({"timer": "B", "method": "INVITE"}, None) == "timeout (Timer B)"
    assert failure_reason({"method": "INVITE", "reason": "transport error"}, None) == \
        "transport error"
    assert failure_reason({"in_dialog": True, "method": "BYE"}, None) == "BYE received"
    assert failure_reason({}, None) == "unknown"


def test_mark_all_names_the_command_that_ended_open_calls() -> None:
    log, _, lines = make_log()
    log.note("a", "DialogINVITE", None)
    log.note("b", "DialogINVITE", None)
    log.mark_all("Shutdown")
    for key in ("a", "b"):
        log.on_published(session(key), "CallFailed", {})
        log.on_published(session(key), "SessionEnded", {})
    assert [line.rsplit(" ", 1)[1] for line in lines] == ['reason="Shutdown"'] * 2


def test_json_lines() -> None:
    import json

    clock = VirtualClock()
    lines: list[str] = []
    log = CallLog(clock, lines.append, verbose=True, json_lines=True)
    log.note("k", "DialogINVITE", parse_message(INVITE))
    log.trace("in", "udp:127.0.0.1:5061", "INVITE sip:bob SIP/2.0\r\n\r\n")
    clock.advance(0.25)
    log.on_published(session("k"), "CallFailed", {"code": 480, "reason": "Temporarily Unavailable"})
    log.on_published(session("k"), "SessionEnded", {})
    message, call = (json.loads(line) for line in lines)
    assert message == {"event": "message", "direction": "in", "peer": "udp:127.0.0.1:5061",
                       "text": "INVITE sip:bob SIP/2.0\r\n\r\n"}
    assert call == {"event": "call", "call_id": "c1@host", "from": "sip:alice@127.0.0.1",
                    "to": "sip:bob@127.0.0.1", "outcome": "failed", "duration_s": 0.25,
                    "reason": "480 Temporarily Unavailable"}


@pytest.mark.parametrize("header", [
    "sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001", "<sip:bob@127.0.0.1>",
    "sip:u@example.com:5060;tag=1", "Bob <sips:b%41b@Example.COM;transport=tcp>;tag=2",
    '"A, B" <sip:ab@[::1]:5060>', "<sip:x@h:05060>", "<SIP:x@h>", "<tel:+15551234>"])
def test_identity_is_the_parsed_uri(header: str) -> None:
    data = INVITE.replace(b"From: <sip:alice@127.0.0.1>;tag=a", b"From: " + header.encode())
    message = parse_message(data)
    assert message_identity(message)[1] == str(parse_message(data).from_.uri)
