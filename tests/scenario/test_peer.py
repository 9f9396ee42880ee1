"""The scripted peer builds valid messages from the dialog it tracks, and sends raw bytes as written."""

from __future__ import annotations

import pytest

from sipflow.clock import VirtualClock
from sipflow.scenario.model import Participant, Send
from sipflow.scenario.peer import PeerError, ScriptedPeer
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address
from sipflow.tables.model import Source
from sipflow.transport.loopback import LoopbackNetwork

SRC = Source("t.scenario.yaml", 1)


class Far:
    """The other end: records what arrives and can answer with prepared bytes."""

    def __init__(self, network: LoopbackNetwork, address: Address) -> None:
        self.port = network.bind(address)
        self.port.on_receive = lambda data, source: self.got.append(parse_message(data))
        self.got: list[Request | Response] = []

    def send(self, text: str, dest: Address) -> None:
        self.port.send(text.replace("\n", "\r\n").encode(), dest)


def setup():
    clock = VirtualClock()
    network = LoopbackNetwork(clock)
    me = Participant("caller", Address("udp", "10.0.0.1", 5060), SRC)
    them = Participant("bob", Address("udp", "10.0.0.2", 5060), SRC, table="x")
    peer = ScriptedPeer(me, network)
    far = Far(network, them.address)
    return clock, peer, far, them


def send(peer, them, clock, **fields):
    data = peer.send(Send("caller", "bob", SRC, **fields), them)
    clock.run_until_idle()
    return parse_message(data)


def test_invite_is_complete_and_valid() -> None:
    clock, peer, far, them = setup()
    invite = send(peer, them, clock, method="INVITE", body="sdp",
                  headers=(("Subject", "hi"), ("Max-Forwards", "10")))
    assert isinstance(invite, Request) and invite.uri == "sip:bob@10.0.0.2:5060"
    assert invite.top_via.branch.startswith("z9hG4bK")
    assert invite.headers.get("Via").startswith("SIP/2.0/UDP 10.0.0.1:5060;")
    assert invite.from_tag and invite.to_tag is None
    assert invite.cseq == (1, "INVITE")
    assert invite.headers.get("Max-Forwards") == "10"          # override replaces
    assert invite.headers.get("Subject") == "hi"
    assert invite.headers.get("Contact") == "<sip:caller@10.0.0.1:5060>"
    assert invite.headers.get("Content-Type") == "application/sdp"
    assert int(invite.headers.get("Content-Length")) == len(invite.body) > 0
    assert b"m=audio" in invite.body
    assert far.got[0].call_id == invite.call_id


def test_in_dialog_requests_ack_and_cancel() -> None:
    clock, peer, far, them = setup()
    invite = send(peer, them, clock, method="INVITE")
    cancel = send(peer, them, clock, method="CANCEL")
    assert cancel.cseq == (invite.cseq.seq, "CANCEL")
    assert cancel.top_via.branch == invite.top_via.branch and cancel.uri == invite.uri
    far.send(f"""SIP/2.0 200 OK
Via: {invite.headers.get('Via')}
From: {invite.headers.get('From')}
To: {invite.headers.get('To')};tag=far-1
Call-ID: {invite.call_id}
CSeq: 1 INVITE
Contact: <sip:bob@10.0.0.2:5099>
Content-Length: 0

""", peer.address)
    clock.run_until_idle()
    ack = send(peer, them, clock, method="ACK")
    assert ack.cseq == (1, "ACK") and ack.to_tag == "far-1"
    assert ack.top_via.branch != invite.top_via.branch           # a 2xx ACK is its own transaction
    assert ack.uri == "sip:bob@10.0.0.2:5099"                    # the remote target
    bye = send(peer, them, clock, method="BYE", headers=(("Subject", None),))
    assert bye.cseq == (2, "BYE") and bye.call_id == invite.call_id and bye.to_tag == "far-1"


def test_ack_of_a_failure_uses_the_invite_branch() -> None:
    clock, peer, far, them = setup()
    invite = send(peer, them, clock, method="INVITE")
    far.send(f"""SIP/2.0 486 Busy Here
Via: {invite.headers.get('Via')}
From: {invite.headers.get('From')}
To: {invite.headers.get('To')};tag=far-2
Call-ID: {invite.call_id}
CSeq: 1 INVITE
Content-Length: 0

""", peer.address)
    clock.run_until_idle()
    ack = send(peer, them, clock, method="ACK")
    assert ack.top_via.branch == invite.top_via.branch and ack.to_tag == "far-2"
    again = send(peer, them, clock, method="INVITE")
    assert again.call_id != invite.call_id                       # the failed INVITE left no dialog


def test_responses_copy_the_request_and_add_a_tag() -> None:
    clock, peer, far, them = setup()
    far.send("""INVITE sip:caller@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-far
Max-Forwards: 70
From: <sip:bob@10.0.0.2>;tag=b1
To: <sip:caller@10.0.0.1>
Call-ID: far-call
CSeq: 5 INVITE
Contact: <sip:bob@10.0.0.2:5060>
Content-Length: 0

""", peer.address)
    clock.run_until_idle()
    ringing = send(peer, them, clock, status=180)
    ok = send(peer, them, clock, status=200, body="sdp")
    assert isinstance(ok, Response) and ok.status == 200 and ok.reason == "OK"
    assert ok.headers.get("Via") == "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-far"
    assert ok.call_id == "far-call" and ok.cseq == (5, "INVITE") and ok.from_tag == "b1"
    assert ok.to_tag and ok.to_tag == ringing.to_tag
    assert ok.headers.get("Contact") == "<sip:caller@10.0.0.1:5060>"
    bye = send(peer, them, clock, method="BYE")
    assert bye.call_id == "far-call" and bye.to_tag == "b1" and bye.from_tag == ok.to_tag
    assert bye.uri == "sip:bob@10.0.0.2:5060"


def test_nothing_to_answer_or_acknowledge_is_a_peer_error() -> None:
    clock, peer, far, them = setup()
    with pytest.raises(PeerError, match="no request from bob to answer with 200"):
        send(peer, them, clock, status=200)
    with pytest.raises(PeerError, match="no INVITE to bob to ACK"):
        send(peer, them, clock, method="ACK")


def test_raw_is_sent_as_written_with_crlf() -> None:
    clock, peer, far, them = setup()
    data = peer.send(Send("caller", "bob", SRC, raw="OPTIONS sip:x SIP/2.0\nX: y\n\n"), them)
    assert data == b"OPTIONS sip:x SIP/2.0\r\nX: y\r\n\r\n"
    exact = peer.send(Send("caller", "bob", SRC, raw="A\r\nB\n"), them)
    assert exact == b"A\r\nB\n"
