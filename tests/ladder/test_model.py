"""Ladder model: participants, labels, ordering, loss marking and the builders."""

from __future__ import annotations

import pytest

from sipflow.ladder.model import (
    Ladder,
    Message,
    Note,
    StateChange,
    TimerFired,
    address_key,
    from_capture,
    from_loopback,
    message_label,
    printable,
)
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address
from sipflow.trace.capture import Capture, CapturedMessage

INVITE = (b"INVITE sip:bob@[2001:db8::2]:5062;transport=tcp SIP/2.0\r\n"
          b"Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1\r\n"
          b"From: <sip:a@x>;tag=1\r\nTo: <sip:bob@y>\r\nCall-ID: c\r\nCSeq: 5 INVITE\r\n"
          b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
RINGING = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
           b"From: <sip:a@x>;tag=1\r\nTo: <sip:bob@y>;tag=2\r\nCall-ID: c\r\n"
           b"CSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n")


def test_labels():
    assert message_label(parse_message(INVITE)) == "INVITE sip:bob@[2001:db8::2]"
    assert message_label(parse_message(RINGING)) == "180 Ringing (INVITE)"
    options = INVITE.replace(b"INVITE sip:bob@[2001:db8::2]:5062;transport=tcp",
                             b"OPTIONS sip:10.0.0.2:5060;lr").replace(b"5 INVITE",
                                                                          b"5 OPTIONS")
    assert message_label(parse_message(options)) == "OPTIONS sip:10.0.0.2"
    tel = INVITE.replace(b"sip:bob@[2001:db8::2]:5062;transport=tcp", b"tel:+15551234")
    assert message_label(parse_message(tel)) == "INVITE tel:+15551234"


def test_address_keys_ignore_the_transport():
    assert address_key(Address("udp", "10.0.0.1", 5060)) == "10.0.0.1:5060"
    assert address_key(Address("tcp", "::1", 5060)) == "[::1]:5060"
    ladder = Ladder()
    assert ladder.participant(Address("udp", "::1", 5)) is ladder.participant(
        Address("tcp", "::1", 5))


def test_entries_sorted_by_time_stable_for_equal_times():
    ladder = Ladder("t")
    a, b = Address("udp", "10.0.0.1", 1), Address("udp", "10.0.0.2", 2)
    ladder.message(1.0, a, b, INVITE)
    ladder.state(0.5, a, "Idle", "Calling")
    ladder.timer(1.0, a, "TimerNoAnswer")
    ladder.note(1.0, "everyone")
    ladder.message(0.9, b, a, RINGING)
    kinds = [type(e) for e in ladder.entries]
    assert kinds == [StateChange, Message, Message, TimerFired, Note]
    assert ladder.entries[0].label == "Idle → Calling"
    assert ladder.start == 0.5 and len(ladder) == 5
    assert [m.label for m in ladder.messages] == ["180 Ringing (INVITE)",
                                                 "INVITE sip:bob@[2001:db8::2]"]


def test_names_and_first_mention_order():
    ladder = Ladder()
    b = Address("udp", "10.0.0.2", 2)
    ladder.participant("10.0.0.1:1", "alice")
    ladder.message(0.0, b, Address("udp", "10.0.0.1", 1), RINGING)
    ladder.participant(b, "bob")
    assert [p.label for p in ladder.participants.values()] == [
        "alice (10.0.0.1:1)", "bob (10.0.0.2:2)"]


def test_malformed_message_is_kept_with_its_reason():
    ladder = Ladder()
    entry = ladder.message(0.0, "x:1", "y:2", b"INVITE sip:a SIP/2.0\r\nCSeq: x\r\n\r\n")
    assert entry.malformed and entry.label.startswith("malformed: ")
    assert entry.raw.startswith("INVITE sip:a")


def test_from_loopback_marks_lost_messages_at_their_send_time(call):
    lossy = call(loss=0.35, delay=0.02, seed=3)
    assert any(r.outcome == "dropped" for r in lossy.trace)
    ladder = from_loopback(lossy.trace, "lossy")
    lost = [m for m in ladder.messages if m.lost]
    assert len(lost) == sum(1 for r in lossy.trace if r.outcome == "dropped")
    assert all(m.lost == "dropped" and m.arrived is None for m in lost)
    delivered = [m for m in ladder.messages if not m.lost]
    assert all(m.arrived == pytest.approx(m.time + 0.02) for m in delivered)
    times = [m.time for m in ladder.messages]
    assert times == sorted(times)


def test_from_loopback_unreachable():
    from sipflow.clock import VirtualClock
    from sipflow.transport.loopback import LoopbackNetwork

    clock = VirtualClock()
    net = LoopbackNetwork(clock)
    port = net.bind(Address("udp", "10.0.0.1", 5060))
    port.send(INVITE, Address("udp", "10.0.0.9", 5060))
    ladder = from_loopback(net.trace)
    assert [(m.label, m.lost) for m in ladder.messages] == [
        ("INVITE sip:bob@[2001:db8::2]", "unreachable")]


def test_from_capture_keeps_malformed_messages():
    a, b = Address("udp", "10.0.0.1", 1), Address("udp", "10.0.0.2", 2)
    capture = Capture("x.pcap", 1, 2, [
        CapturedMessage(5.0, "udp", a, b, INVITE, parse_message(INVITE)),
        CapturedMessage(6.0, "udp", b, a, b"SIP/2.0 xyz", None, "bad status line"),
    ])
    ladder = from_capture(capture, names={"10.0.0.1:1": "alice"})
    assert ladder.title == "x.pcap"
    assert [(m.label, m.malformed) for m in ladder.messages] == [
        ("INVITE sip:bob@[2001:db8::2]", False), ("malformed: bad status line", True)]
    assert ladder.participants["10.0.0.1:1"].name == "alice"


def test_retransmissions_are_marked_per_direction():
    ladder = Ladder()
    a, b = Address("udp", "10.0.0.1", 1), Address("udp", "10.0.0.2", 2)
    first = ladder.message(0.0, a, b, INVITE)
    again = ladder.message(0.5, a, b, INVITE, lost="dropped")
    other_way = ladder.message(0.6, b, a, INVITE)
    assert (first.retransmission, again.retransmission, other_way.retransmission) == (
        False, True, False)
    assert again.text == "INVITE sip:bob@[2001:db8::2] [retransmission] [dropped]"
    assert first.text == first.label


def test_simulator_api_names_participants_by_name():
    ladder = Ladder()
    a = Address("udp", "10.0.0.1", 5060)
    ladder.participant(a, "alice")
    ladder.state(1.0, "alice", "Idle", "Calling")
    ladder.timer(2.0, "alice", "TimerNoAnswer")
    ladder.note(3.0, "hi", a)
    assert list(ladder.participants) == ["10.0.0.1:5060"]
    assert {e.who for e in ladder.entries} == {"10.0.0.1:5060"}
    ladder.state(4.0, "bob", "Idle", "Ringing")  # unknown name: a participant of its own
    assert list(ladder.participants) == ["10.0.0.1:5060", "bob"]


def test_text_is_made_printable_as_it_enters():
    hostile = RINGING.replace(b"180 Ringing", b"180 Ring\x1b[2J\xff")
    ladder = Ladder("t\x1b]0;owned\x07")
    entry = ladder.message(0.0, "a:1\x1b", "b:2", hostile)
    assert "\x1b" not in entry.label and "\\x1b" in entry.label and "\\xff" in entry.label
    assert "\x1b" not in entry.raw and "\r\n" in entry.raw  # line breaks kept in the raw text
    assert ladder.title == "t\\x1b]0;owned\\x07"
    assert list(ladder.participants) == ["a:1\\x1b", "b:2"]
    ladder.participant("b:2", "bob\x9b")
    note = ladder.note(1.0, "tab\there", "a:1\x1b")
    state = ladder.state(1.0, "bob\\x9b", "I\x00", "R")
    assert (note.text, note.who) == ("tab\\x09here", "a:1\\x1b")
    assert (state.who, state.old) == ("b:2", "I\\x00")
    assert printable("ordinary text → ok ⏱") == "ordinary text → ok ⏱"
