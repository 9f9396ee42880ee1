"""Loading scenario files: the model built, and one clear file:line error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.scenario import ScenarioError, load_scenario
from sipflow.scenario.model import Command, Expect, Send, Wait
from sipflow.sip.types import Address


def test_builds_participants_steps_and_assertions(write) -> None:
    path = write("""\
        scenario: demo
        description: a demo
        settle: 10s
        participants:
          caller: {peer: true}
          bob: {table: uas_call, parameters: {answer_delay: 4s}, address: "tcp:10.9.0.2:5070"}
        steps:
          - send: {from: caller, to: bob, method: invite, headers: {X-Test: 1, Subject: null}, body: sdp}
          - expect: {from: bob, status: 180, headers: {To: "regex:tag="}, within: 2s}
          - wait: 500ms
          - Answer: bob
          - HangUp: {participant: bob, reason: done}
        assert:
          states: {bob: [Ringing, Terminated]}
          published: {bob: [IncomingCall]}
          never_sent: [{from: bob, method: BYE}]
        """)
    scenario = load_scenario(path)
    assert scenario.name == "demo" and scenario.description == "a demo"
    assert scenario.settle == 10.0
    caller, bob = scenario.participants["caller"], scenario.participants["bob"]
    assert caller.is_peer and caller.address == Address("udp", "10.0.0.1", 5060)
    assert bob.table == "uas_call" and bob.parameters == {"answer_delay": "4s"}
    assert bob.address == Address("tcp", "10.9.0.2", 5070)
    assert bob.uri == "sip:bob@10.9.0.2:5070;transport=tcp"
    send, expect, wait, answer, hangup = scenario.steps
    assert isinstance(send, Send) and send.method == "INVITE" and send.body == "sdp"
    assert send.headers == (("X-Test", "1"), ("Subject", None))
    assert (send.source.file, send.source.line) == (str(path), 8)
    assert isinstance(expect, Expect) and expect.status == 180 and expect.within == 2.0
    assert expect.sender == "bob" and expect.target is None
    assert expect.headers[0][0] == "To" and expect.headers[0][1].kind == "regex"
    assert isinstance(wait, Wait) and wait.seconds == 0.5
    assert isinstance(answer, Command) and (answer.name, answer.participant, answer.data) == \
        ("Answer", "bob", {})
    assert isinstance(hangup, Command) and hangup.data == {"reason": "done"}
    assert scenario.assertions.states["bob"][0] == ("Ringing", "Terminated")
    assert scenario.assertions.published["bob"][0] == ("IncomingCall",)
    assert scenario.assertions.never_sent[0].method == "BYE"


def test_make_call_to_a_participant_becomes_its_uri(write) -> None:
    path = write("""\
        participants:
          alice: {table: uac_call}
          bob: {table: uas_call}
        steps:
          - MakeCall: {participant: alice, to: bob}
        """)
    (step,) = load_scenario(path).steps
    assert step.data["to"] == "sip:bob@10.0.0.2:5060"


def test_name_defaults_to_the_file_name(write, basic) -> None:
    assert load_scenario(write(basic.replace("scenario: basic\n", ""), "my_flow")).name == "my_flow"


def test_table_path_is_relative_to_the_scenario_file(tmp_path: Path, write, basic, uas) -> None:
    tables = tmp_path / "mine"
    tables.mkdir()
    (tables / "copy.yaml").write_text(Path(uas).read_text())
    scenario = load_scenario(write(basic.replace(uas, "mine/copy.yaml")))
    bob = scenario.participants["bob"]
    assert bob.table == str(tmp_path / "mine" / "copy.yaml")
    assert bob.loaded is not None and bob.loaded.name == "simple_uas"


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    return text


BAD = [
    # (what, text, line, words in the message)
    ("not YAML", "participants: [\n", 2, "invalid YAML"),
    ("not a mapping", "- just\n- a list\n", 1, "mapping with participants"),
    ("no steps", "participants: {bob: {table: uas_call}}\n", 1, "missing 'steps'"),
    ("unknown top key",
     "participants: {bob: {table: uas_call}}\nstep: []\nsteps: [{wait: 1s}]\n", 2,
     "unexpected key 'step'"),
    ("unknown step",
     "participants: {bob: {table: uas_call}}\nsteps:\n  - wait: 1s\n  - sned: {}\n", 4,
     "unknown step 'sned' (did you mean 'send'?)"),
    ("two keys in a step",
     "participants: {bob: {table: uas_call}}\nsteps:\n  - {wait: 1s, Answer: bob}\n", 3,
     "exactly one key"),
    ("unknown participant in send",
     "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - send: {from: caller, to: bobby, method: INVITE}\n", 5,
     "unknown participant 'bobby' in send.to (did you mean 'bob'?)"),
    ("unknown participant in a command",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - Answer: alice\n", 4,
     "unknown participant 'alice'"),
    ("unknown participant in an assertion",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - wait: 1s\nassert:\n"
     "  states:\n    carol: [Ringing]\n", 7, "unknown participant 'carol' in assert.states"),
    ("unknown table",
     "participants:\n  bob: {table: no_such_table}\nsteps:\n  - wait: 1s\n", 2,
     "no shipped table named 'no_such_table'"),
    ("missing table file",
     "participants:\n  bob: {table: nowhere/t.yaml}\nsteps:\n  - wait: 1s\n", 2,
     "no such file"),
    ("unknown state",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - wait: 1s\nassert:\n"
     "  states: {bob: [Ringing, Dancing]}\n", 6, "has no state 'Dancing'"),
    ("unknown application event",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - wait: 1s\nassert:\n"
     "  published: {bob: [CallEstablishd]}\n", 6, "did you mean 'CallEstablished'?"),
    ("unknown parameter",
     "participants:\n  bob: {table: uas_call, parameters: {answer_dealy: 1s}}\nsteps:\n"
     "  - wait: 1s\n", 2, "no parameter 'answer_dealy'"),
    ("bad regular expression",
     "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - expect:\n      from: bob\n      headers: {To: 'regex:(unclosed'}\n", 7,
     "bad regular expression"),
    ("matcher of the wrong type",
     "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - expect:\n      from: bob\n      headers: {To: [a, b]}\n", 7, "headers.To"),
    ("bad duration", "participants:\n  bob: {table: uas_call}\nsteps:\n  - wait: soon\n", 4,
     "steps[0].wait"),
    ("send from a table",
     "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - send: {from: bob, to: caller, method: BYE}\n", 5, "only a scripted peer"),
    ("expect from a peer",
     "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - expect: {from: caller, to: bob}\n", 5, "nothing to expect from it"),
    ("expect naming nobody",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - expect: {status: 200}\n", 4,
     "expect needs from or to"),
    ("not_before after within",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - expect: {from: bob, not_before: 9s}\n", 4,
     "not_before (9s) is later than within (5s)"),
    ("disconnect a table",
     "participants:\n  bob: {table: uas_call}\nsteps:\n  - disconnect: bob\n", 4,
     "only a scripted peer can be disconnected"),
    ("command to a peer",
     "participants:\n  caller: {peer: true}\nsteps:\n  - HangUp: caller\n", 4,
     "is a scripted peer"),
    ("send with two kinds",
     "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - send: {from: caller, to: bob, raw: x, status: 200}\n", 5, "exactly one of"),
    ("peer and table at once",
     "participants:\n  bob: {table: uas_call, peer: true}\nsteps:\n  - wait: 1s\n", 2,
     "either a table"),
    ("bad address",
     "participants:\n  bob: {table: uas_call, address: 'sctp:1.2.3.4:5060'}\nsteps:\n"
     "  - wait: 1s\n", 2, "participants.bob.address"),
    ("shared address",
     "participants:\n  a: {peer: true, address: 'udp:10.1.1.1:5060'}\n"
     "  b: {peer: true, address: 'udp:10.1.1.1:5060'}\nsteps:\n  - wait: 1s\n", 3,
     "has the address"),
    ("bad status", "participants:\n  caller: {peer: true}\n  bob: {table: uas_call}\nsteps:\n"
     "  - send: {from: caller, to: bob, status: 999}\n", 5, "steps[0].send.status"),
    ("duplicate key", "participants:\n  bob: {table: uas_call}\n  bob: {peer: true}\nsteps: []\n",
     3, "duplicate key 'bob'"),
]


@pytest.mark.parametrize(("what", "text", "line", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_with_file_and_line(write, what: str, text: str, line: int,
                                                  words: str) -> None:
    path = write(text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message, message


def test_missing_file_and_unknown_shipped_name(tmp_path: Path) -> None:
    assert "no such file" in error_of(tmp_path / "gone.scenario.yaml")
    with pytest.raises(ScenarioError, match="no shipped scenario named 'no_such_flow'"):
        load_scenario("no_such_flow")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bin.scenario.yaml"
    path.write_bytes(b"participants:\x00\n")
    assert "binary file" in error_of(path)


def test_an_edited_table_is_read_again(tmp_path: Path, write, basic, uas) -> None:
    table = tmp_path / "mine.yaml"
    table.write_text(Path(uas).read_text())
    path = write(basic.replace(uas, str(table)))
    first = load_scenario(path).participants["bob"].loaded
    assert first is load_scenario(path).participants["bob"].loaded      # unchanged: loaded once
    table.write_text(Path(uas).read_text().replace("answer_delay: 0s", "answer_delay: 12.5s"))
    again = load_scenario(path).participants["bob"].loaded
    assert again.parameters["answer_delay"] == "12.5s"
