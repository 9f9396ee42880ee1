"""Running scenarios: a passing flow passes, and every way of expecting the wrong thing fails.

"simulate is never vacuous": each matcher kind (status, method, header exact,
regex, absent, body, within) and each assertion kind is shown to fail when the
scenario expects something that did not happen, with the step's file:line and
expected against got.
"""

from __future__ import annotations

import time

import pytest

from sipflow.scenario import load_scenario, run_scenario


def run(path):
    return run_scenario(load_scenario(path))


def test_basic_call_passes_with_states_events_and_ladder(write, basic) -> None:
    result = run(write(basic + """\
assert:
  states: {bob: [Ringing, Answered, Active, Terminated]}
  published: {bob: [IncomingCall, CallEstablished, CallEnded]}
  never_sent: [{from: bob, method: BYE}, {to: caller, status: 486}]
"""))
    assert result.passed, result.report()
    assert result.summary() == "PASS basic"
    ladder = result.render_ladder("text")
    for text in ("INVITE sip:bob@10.0.0.2", "180 Ringing (INVITE)", "200 OK (BYE)",
                 "Ringing → Answered", "publish CallEstablished", "caller", "bob"):
        assert text in ladder
    assert "sequenceDiagram" in result.render_ladder("mermaid")
    assert "<svg" in result.render_ladder("html")
    fired = {row.source: row.fired for row in result.coverage["simple_uas"]}
    assert sum(fired.values()) >= 4


WRONG = [
    # (what is wrong, replace this, with this, words in the failure)
    ("status", "status: 180}", "status: 183}", "status: expected 183, got 180"),
    ("method of the answered request", "status: 200, method: BYE}", "status: 200, method: INFO}",
     "answering: expected INFO, got BYE"),
    ("a request instead of a response", "expect: {from: bob, to: caller, status: 180}",
     "expect: {from: bob, to: caller, method: UPDATE}", "expected a UPDATE request, got a 180"),
    ("exact header", "status: 180}", "status: 180, headers: {Content-Length: 7}}",
     "header Content-Length: expected '7', got '0'"),
    ("regex header", "status: 180}", "status: 180, headers: {To: 'regex:tag=nope'}}",
     "header To: expected regex:tag=nope"),
    ("absent header", "status: 180}", "status: 180, headers: {Call-ID: absent}}",
     "header Call-ID: expected absent"),
    ("present header", "status: 180}", "status: 180, headers: {X-Nothing: present}}",
     "header X-Nothing: expected present, got nothing (absent)"),
    ("body", "status: 200, method: INVITE}", "status: 200, method: INVITE, body: 'regex:m=video'}",
     "body: expected regex:m=video"),
    ("a body where there is none", "status: 180}", "status: 180, body: present}",
     "body: expected present, got no body"),
    ("too early", "status: 180}", "status: 180, not_before: 1s}",
     "time: expected not before 1s after the step began, it came after 0s"),
    ("direction", "expect: {from: bob, to: caller, status: 180}",
     "expect: {from: bob, to: caller, status: 180}\n  - expect: {to: bob, status: 180, within: 1s}",
     "expected 180 to bob within 1s, got nothing"),
]


@pytest.mark.parametrize(("what", "old", "new", "words"), WRONG, ids=[w[0] for w in WRONG])
def test_expecting_the_wrong_thing_fails(write, basic, what, old, new, words) -> None:
    assert old in basic
    path = write(basic.replace(old, new, 1))
    result = run(path)
    assert not result.passed
    report = result.report()
    assert words in report, report
    assert report.startswith(f"FAIL basic: {path}:"), report
    assert "ladder so far:" in report and "INVITE sip:bob@10.0.0.2" in report


def test_failure_names_the_step_line(write, basic) -> None:
    path = write(basic.replace("status: 180}", "status: 183}"))
    result = run(path)
    assert result.failure is not None
    assert (result.failure.source.file, result.failure.source.line) == (str(path), 7)
    assert result.as_dict()["failure"]["line"] == 7


def test_within_is_virtual_time(write, uas) -> None:
    slow = """\
participants:
  caller: {peer: true}
  bob: {table: UAS, parameters: {answer_delay: 30s}}
steps:
  - send: {from: caller, to: bob, method: INVITE, body: sdp}
  - expect: {from: bob, to: caller, status: 180}
  - expect: {from: bob, to: caller, status: 200, within: WITHIN}
"""
    slow = slow.replace("UAS", uas)
    too_short = run(write(slow.replace("WITHIN", "29s")))
    assert not too_short.passed
    assert "expected 200 from bob to caller within 29s, got nothing" in too_short.report()
    enough = run(write(slow.replace("WITHIN", "31s")))
    assert enough.passed, enough.report()


def test_three_minute_timeout_takes_milliseconds(write, uac) -> None:
    path = write(f"""\
participants:
  caller: {{peer: true}}
  alice: {{table: {uac}}}
steps:
  - MakeCall: {{participant: alice, to: caller}}
  - expect: {{from: alice, to: caller, method: INVITE}}
  - send: {{from: caller, to: alice, status: 180}}
  - expect: {{from: alice, to: caller, method: CANCEL, within: 181s}}
  - send: {{from: caller, to: alice, status: 200, method: CANCEL}}
  - send: {{from: caller, to: alice, status: 487, method: INVITE}}
  - expect: {{from: alice, to: caller, method: ACK}}
assert:
  states: {{alice: [Calling, Ringing, Cancelling, Terminated]}}
  published: {{alice: [Ringing, CallFailed]}}
""")
    started = time.perf_counter()
    result = run(path)
    elapsed = time.perf_counter() - started
    assert result.passed, result.report()
    assert result.virtual_time >= 180.0
    assert elapsed < 2.0
    cancel = [w for w in result.observer.wires() if w.message is not None
              and getattr(w.message, "method", "") == "CANCEL"][0]
    assert cancel.record.sent == pytest.approx(180.0)


ASSERTS = [
    ("states out of order", "states: {bob: [Active, Ringing]}",
     "bob should enter Active, Ringing in this order; it entered Ringing, Answered, Active, Terminated"),
    ("a state never entered", "states: {bob: [Terminating]}", "bob should enter Terminating"),
    ("an event never published", "published: {bob: [CallFailed]}",
     "bob should publish CallFailed in this order; it published IncomingCall, CallEstablished, "
     "CallEnded"),
    ("a message that was sent", "never_sent: [{from: bob, status: 180}]",
     "180 from bob must never be sent, but 180 Ringing (INVITE) from bob to caller was"),
    ("a header matcher in never_sent", "never_sent: [{from: bob, status: 200, headers: {CSeq: 'regex:BYE'}}]",
     "200 from bob must never be sent, but 200 OK (BYE) from bob to caller was"),
]


@pytest.mark.parametrize(("what", "check", "words"), ASSERTS, ids=[a[0] for a in ASSERTS])
def test_assertions_that_do_not_hold_fail(write, basic, what, check, words) -> None:
    path = write(basic + f"assert:\n  {check}\n")
    result = run(path)
    assert not result.passed
    assert words in result.report(), result.report()
    assert f"{path}:" in result.summary()


def test_two_tables_call_each_other(write, uac, uas) -> None:
    result = run(write("""\
participants:
  alice: {table: UAC}
  bob: {table: UAS, parameters: {answer_delay: 2s}}
steps:
  - MakeCall: {participant: alice, to: bob}
  - expect: {from: alice, to: bob, method: INVITE, body: "regex:m=audio"}
  - expect: {from: bob, to: alice, status: 180}
  - expect: {from: bob, to: alice, status: 200, method: INVITE, within: 3s}
  - expect: {from: alice, to: bob, method: ACK}
  - wait: 10s
  - SendDTMF: {participant: alice, digits: "5"}
  - expect: {from: alice, to: bob, method: INFO, headers: {Content-Type: application/dtmf-relay},
             body: "regex:Signal=5"}
  - expect: {from: bob, to: alice, status: 200, method: INFO}
  - HangUp: alice
  - expect: {from: alice, to: bob, method: BYE}
  - expect: {from: bob, to: alice, status: 200, method: BYE}
assert:
  states:
    alice: [Calling, Ringing, Active, Terminating, Terminated]
    bob: [Ringing, Answered, Active, Terminated]
  published:
    alice: [Ringing, CallEstablished, CallEnded]
    bob: [IncomingCall, CallEstablished, CallEnded]
""".replace("UAC", uac).replace("UAS", uas)))
    assert result.passed, result.report()
    ladder = result.render_ladder("text")
    assert "alice" in ladder and "MakeCall" in ladder and "HangUp" in ladder


def test_a_command_without_a_session_fails_the_step(write, uas) -> None:
    result = run(write(f"""\
participants:
  caller: {{peer: true}}
  bob: {{table: {uas}}}
steps:
  - HangUp: bob
"""))
    assert not result.passed
    assert "HangUp: bob has no session in progress to take HangUp" in result.report()


def test_a_command_no_row_takes_fails_the_step(write, basic) -> None:
    result = run(write(basic.replace("  - send: {from: caller, to: bob, method: ACK}\n",
                                     "  - Answer: bob\n")))
    assert not result.passed
    assert "Answer: bob's table simple_uas has no row for Answer in state Answered" in \
        result.report()


def test_a_response_with_nothing_to_answer_fails_the_step(write, uas) -> None:
    result = run(write(f"""\
participants:
  caller: {{peer: true}}
  bob: {{table: {uas}}}
steps:
  - send: {{from: caller, to: bob, status: 200}}
"""))
    assert not result.passed
    assert "caller has received no request from bob to answer with 200" in result.report()


def test_raw_malformed_message_gets_400(write, uas) -> None:
    result = run(write("""\
participants:
  caller: {peer: true}
  bob: {table: UAS}
steps:
  - send:
      from: caller
      to: bob
      raw: |+
        INVITE sip:bob@10.0.0.2:5060 SIP/2.0
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-raw-1
        From: <sip:caller@10.0.0.1>;tag=1
        To: <sip:bob@10.0.0.2>
        Call-ID: raw-1
        CSeq: 1 INVITE
        Max-Forwards: many
        Content-Length: 0

  - expect: {from: bob, to: caller, status: 400, headers: {Call-ID: raw-1}}
assert:
  never_sent: [{from: bob, status: 180}]
""".replace("UAS", uas)))
    assert result.passed, result.report()


def test_raw_garbage_is_on_the_ladder_as_malformed(write, uas) -> None:
    result = run(write(f"""\
participants:
  caller: {{peer: true}}
  bob: {{table: {uas}}}
steps:
  - send: {{from: caller, to: bob, raw: "HELLO\\n\\n"}}
  - wait: 1s
assert:
  never_sent: [{{from: bob}}]
"""))
    assert result.passed, result.report()
    assert "malformed" in result.render_ladder("text")


def test_a_run_is_reproducible(write, basic) -> None:
    first = run(write(basic))
    second = run(write(basic))
    def lines(result):
        return [(w.record.sent, w.describe(), w.message.headers.get("Call-ID"))
                for w in result.observer.wires()]

    assert lines(first) == lines(second) and len(lines(first)) == 6


def test_a_disconnected_peer_gets_nothing(write, uac) -> None:
    result = run(write(f"""\
participants:
  alice: {{table: {uac}}}
  bob: {{peer: true}}
steps:
  - MakeCall: {{participant: alice, to: bob}}
  - expect: {{from: alice, to: bob, method: INVITE}}
  - send: {{from: bob, to: alice, status: 180}}
  - disconnect: bob
  - HangUp: alice
  - expect: {{from: alice, to: bob, method: CANCEL}}
"""))
    assert result.passed, result.report()
    ladder = result.render_ladder("text")
    assert "disconnected" in ladder and "CANCEL sip:bob@10.0.0.2 [unreachable]" in ladder
    cancel = [w for w in result.observer.wires() if "CANCEL" in w.describe()][0]
    assert cancel.record.outcome == "unreachable"
