"""Behaviour kept by the performance work on the SIP core (not timings):

- header fields are immutable tuples shared between a request and the
  responses built from it, so changing one never changes the other;
- ``SipMessage._wire`` gives what ``serialize`` gives without changing the
  message, and ``message.rebuild`` brings back an equal message from it;
- lingering transactions (Accepted, Completed, Confirmed) keep only what
  their state machine needs (status, retransmitted bytes; a client INVITE
  in Accepted its request as bytes, rebuilt on access);
- RFC 3581 stamping replaces the top Via in place and keeps the other parsed
  values right;
- From/To tags read from the parser's validated match equal the NameAddr's;
- a finished call leaves few objects for the garbage collector to rescan
  while its transactions linger (Timers D/J/K/L/M).
"""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.events import RequestReceived
from sipflow.sip.message import Headers, Request, Response, rebuild
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.transaction_base import TxnState
from sipflow.sip.transaction_msg import client_key, server_key
from sipflow.sip.types import Address

A = Address("udp", "127.0.0.1", 5061)
B = Address("udp", "127.0.0.1", 5062)
TORTURE = Path(__file__).parent / "torture"

INVITE = (
    b"INVITE sip:bob@127.0.0.1:5062 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKabc;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"f: \"Alice\" <sip:alice@10.0.0.9>;tag=a1;x=y\r\n"
    b"To: <sip:bob@127.0.0.1>\r\n"
    b"Call-ID: c1@10.0.0.9\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Contact: <sip:alice@10.0.0.9:5070>\r\n"
    b"Subject: folded\r\n  across two lines\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 9\r\n"
    b"\r\n"
    b"v=0\r\n\r\nxx"
)


def same(a: Request | Response, b: Request | Response) -> None:
    assert type(a) is type(b)
    assert a.start_line() == b.start_line()
    assert list(a.headers) == list(b.headers)
    assert a.headers.lines() == b.headers.lines()
    assert a.body == b.body


# -- fields -------------------------------------------------------------------------------
def test_a_response_shares_fields_but_changing_it_leaves_the_request_alone():
    request = parse_message(INVITE)
    before = request.headers.lines()
    response = make_response(request, 200)
    response.headers.set("To", "<sip:bob@127.0.0.1>;tag=b2")
    response.headers.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKtop", first=True)
    response.headers.remove("Call-ID")
    assert request.headers.lines() == before
    assert request.to_tag is None and request.call_id == "c1@10.0.0.9"
    assert response.to_tag == "b2"


def test_copy_is_independent():
    request = parse_message(INVITE)
    copy = request.copy()
    copy.headers.set("Subject", "changed")
    assert request.headers.get("Subject") == "folded across two lines"
    assert copy.headers.get("Subject") == "changed"


# -- _wire and rebuild ----------------------------------------------------------------------
def test_wire_is_serialize_without_changing_the_message():
    request = Request("OPTIONS", "sip:bob@127.0.0.1", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
                                                      ("Call-ID", "x"), ("CSeq", "1 OPTIONS")],
                      b"hello")
    lines = request.headers.lines()
    wire = request._wire()
    assert request.headers.lines() == lines  # no Content-Length added to the message
    assert wire == request.serialize()  # serialize adds it to the message and the bytes
    assert b"Content-Length: 5\r\n" in wire


def test_wire_corrects_a_wrong_content_length_in_the_bytes_only():
    request = parse_message(INVITE)
    request.body = b"v=0\r\n"
    wire = request._wire()
    assert request.headers.get("Content-Length") == "9"
    assert b"\r\nContent-Length: 5\r\n" in wire
    same(parse_message(wire), rebuild(wire))


def test_rebuild_gives_an_equal_message_with_lazy_accessors():
    request = parse_message(INVITE)
    again = rebuild(request._wire(), source=A)
    same(request, again)  # it had a Content-Length: nothing added
    assert again.source == A
    assert again.from_tag == "a1" and again.to_tag is None
    assert again.cseq == (7, "INVITE") and again.call_id == "c1@10.0.0.9"
    assert again.top_via.branch == "z9hG4bKabc" and again.top_via.has_rport
    assert again.headers.get("Subject") == "folded across two lines"
    assert again.body == b"v=0\r\n\r\nxx"[:9]
    response = make_response(request, 486, "")
    back = rebuild(response._wire())
    assert isinstance(back, Response) and (back.status, back.reason) == (486, "")
    assert "content-length" not in response.headers and back.headers.get("Content-Length") == "0"
    response.serialize()  # what the bytes say: serialize adds Content-Length to the message
    same(response, back)


@pytest.mark.parametrize("path", sorted(TORTURE.glob("*.dat")), ids=lambda p: p.stem)
def test_rebuild_round_trips_every_parseable_torture_message(path: Path):
    try:
        message = parse_message(path.read_bytes())
    except RemoteProtocolError:
        return  # malformed on purpose: nothing to rebuild
    wire = message._wire()
    same(rebuild(wire), parse_message(wire))
    assert wire == message.serialize()
    same(rebuild(wire), message)


# -- lingering transactions -----------------------------------------------------------------
def _pair():
    return SipEndpoint(A, rng=random.Random(1)), SipEndpoint(B, rng=random.Random(2))


def _pump(ea: SipEndpoint, eb: SipEndpoint) -> None:
    moved = True
    while moved:
        moved = False
        for src, ep, dst in ((A, ea, eb), (B, eb, ea)):
            for t in ep.take_transmits():
                moved = True
                dst.receive(t.data, src, 0.0)


def test_lingering_transactions_keep_only_what_their_state_machine_needs():
    ea, eb = _pair()
    ea.invite("sip:u@127.0.0.1:5062", body=b"v=0\r\n", now=0.0)
    (invite_out,) = ea.take_transmits()
    eb.receive(invite_out.data, A, 0.0)
    (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
    received = event.message
    eb.respond(event.request_id, 200, body=b"v=0\r\n", now=0.0)
    server = eb.core.layer.get_server(server_key(received))
    assert server is not None and server.state is TxnState.ACCEPTED
    assert server.request is received and server.last_response.status == 200  # not yet slimmed
    ea.receive(invite_out.data, A, 0.0)  # anything entering a layer slims what lingers
    eb.handle_timers(0.0)
    _pump(ea, eb)
    # The server INVITE in Accepted keeps neither message: only key, state and status.
    assert server._request is None and server._last_response is None
    assert server._packed_request is None and server._wire is None and server._sent is None
    assert server.last_status == 200 and server.state is TxnState.ACCEPTED
    with pytest.raises(LocalProtocolError, match="lingers"):
        server.request  # noqa: B018
    with pytest.raises(LocalProtocolError, match="last_status"):
        server.last_response  # noqa: B018
    # The client INVITE in Accepted keeps the bytes it sent: the TU reads the
    # request when a 2xx is retransmitted or another fork answers.
    client = ea.core.layer.get_client(client_key(parse_message(invite_out.data)))
    assert client is not None and client.state is TxnState.ACCEPTED
    ea.handle_timers(0.0)
    assert client._request is None and client._last_response is None
    assert client._packed_request is not None and client._packed_request[0] == invite_out.data
    assert client.request.serialize() == invite_out.data  # rebuilt on each access
    assert client.request is not client.request  # not cached: the lingering stays small
    assert client.last_status == 200
    client.last_response = None  # the setter replaces what was kept
    assert client.last_response is None and client.last_status is None
    server.request = received  # so does the request's
    assert server.request is received


def test_a_retransmitted_2xx_reaches_the_tu_after_slimming_and_is_acked_again():
    ea, eb = _pair()
    ea.invite("sip:u@127.0.0.1:5062", body=b"v=0\r\n", now=0.0)
    (invite_out,) = ea.take_transmits()
    eb.receive(invite_out.data, A, 0.0)
    (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
    eb.respond(event.request_id, 200, body=b"v=0\r\n", now=0.0)
    (ok,) = [t.data for t in eb.take_transmits()]
    ea.receive(ok, B, 0.0)
    (ack,) = [t.data for t in ea.take_transmits()]
    assert ack.startswith(b"ACK ")
    client = ea.core.layer.get_client(client_key(parse_message(invite_out.data)))
    ea.handle_timers(0.1)  # slims the client INVITE transaction in Accepted
    assert client.state is TxnState.ACCEPTED and client._request is None
    ea.receive(ok, B, 0.2)  # the 2xx again (as if our ACK was lost)
    assert [t.data for t in ea.take_transmits()] == [ack]  # the same ACK again
    assert client.state is TxnState.ACCEPTED and client.last_status == 200


def test_a_late_cancel_of_an_answered_invite_gets_200_with_the_2xx_to_tag_and_no_event():
    ea, eb = _pair()
    ea.invite("sip:u@127.0.0.1:5062", body=b"v=0\r\n", now=0.0)
    (invite_out,) = ea.take_transmits()
    eb.receive(invite_out.data, A, 0.0)
    (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
    eb.respond(event.request_id, 200, body=b"v=0\r\n", now=0.0)
    (ok,) = [parse_message(t.data) for t in eb.take_transmits()]
    eb.take_events()  # DialogEstablished
    eb.handle_timers(0.0)  # the INVITE transaction lingers, slimmed; the leg is not kept
    server = eb.core.layer.get_server(server_key(event.message))
    assert server.state is TxnState.ACCEPTED and server.user_data == ok.to_tag
    invite = parse_message(invite_out.data)
    cancel = Request(
        "CANCEL",
        invite.uri,
        [(name, invite.headers.get(name)) for name in ("Via", "From", "To", "Call-ID")]
        + [("CSeq", f"{invite.cseq.seq} CANCEL"), ("Max-Forwards", "70")],
    )
    eb.receive(cancel.serialize(), A, 0.1)
    (answer,) = [parse_message(t.data) for t in eb.take_transmits()]
    assert (answer.status, answer.cseq.method, answer.to_tag) == (200, "CANCEL", ok.to_tag)
    assert [type(e).__name__ for e in eb.take_events()] == []


@pytest.mark.parametrize("status", [200, 486])
def test_a_transport_failure_after_the_final_answer_is_quiet(status):
    # The INVITE transaction lingers (Accepted or Completed) with only our To
    # tag as its TU data; a late transport failure towards the peer ends it
    # without an event and without touching the finished leg.
    ea, eb = _pair()
    ea.invite("sip:u@127.0.0.1:5062", body=b"v=0\r\n", now=0.0)
    (invite_out,) = ea.take_transmits()
    eb.receive(invite_out.data, A, 0.0)
    (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
    eb.respond(event.request_id, status, body=b"v=0\r\n" if status == 200 else b"", now=0.0)
    eb.take_transmits()
    eb.take_events()
    eb.handle_timers(0.1)
    server = eb.core.layer.get_server(server_key(event.message))
    assert type(server.user_data) is str
    eb.transport_failed(A, 0.2)
    assert server.terminated
    assert [type(e).__name__ for e in eb.take_events()] == []


def test_equal_peer_addresses_become_one_object_and_the_table_is_bounded(monkeypatch):
    from sipflow.sip import endpoint as endpoint_module

    eb = SipEndpoint(B, rng=random.Random(2))
    first = Address("udp", "".join(["127.0.0.", "1"]), 5061)  # built per datagram, as a driver does
    again = Address("udp", "".join(["127.0.0.", "1"]), 5061)
    assert first == again and first is not again
    eb.receive(INVITE, first, 0.0)
    retransmission_source = again
    eb.receive(INVITE, retransmission_source, 0.1)
    (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
    server = eb.core.layer.get_server(server_key(event.message))
    assert server.source is first
    assert all(t.dest is first for t in eb.take_transmits())
    monkeypatch.setattr(endpoint_module, "MAX_PEERS_KEPT", 3)
    for port in range(6000, 6010):
        eb.receive(b"garbage", Address("udp", "192.0.2.1", port), 0.2)
    assert 1 <= len(eb._peers) <= 3


# -- responses tagged while copied ----------------------------------------------------------
def test_make_response_tags_the_copied_to_like_set_to_tag_does():
    request = parse_message(INVITE)
    plain = make_response(request, 200)
    plain.headers.set("To", f"{plain.headers.get('To')};tag=t9")
    tagged = make_response(request, 200, to_tag="t9")
    assert tagged.serialize() == plain.serialize()
    assert tagged.to_tag == "t9" and request.to_tag is None
    assert request.headers.get("To") == "<sip:bob@127.0.0.1>"  # the request is untouched
    in_dialog = parse_message(INVITE.replace(b"To: <sip:bob@127.0.0.1>", b"To: <sip:bob@127.0.0.1>;tag=b7"))
    assert make_response(in_dialog, 200, to_tag="t9").to_tag == "b7"  # a tag is never replaced


@pytest.mark.parametrize("extra", [(), (("X-Note", "1"),), (("t", "<sip:other@127.0.0.1>"),)])
def test_uas_responses_carry_the_legs_tag_whoever_wrote_the_to(extra):
    eb = SipEndpoint(B, rng=random.Random(2))
    eb.receive(INVITE, A, 0.0)
    (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
    eb.respond(event.request_id, 180, headers=list(extra), now=0.0)
    eb.respond(event.request_id, 486, headers=iter(extra), now=0.0)  # any iterable
    ringing, busy = [parse_message(t.data) for t in eb.take_transmits()]
    assert ringing.to_tag and ringing.to_tag == busy.to_tag
    assert len(ringing.headers.get_all("To")) == 1
    if extra and extra[0][0] == "t":  # set_to_tag keeps one To, the request's, tagged (as before)
        assert ringing.headers.get("To").startswith("<sip:bob@127.0.0.1>;tag=")
    else:
        assert ringing.headers.get("To") == f"<sip:bob@127.0.0.1>;tag={ringing.to_tag}"


# -- RFC 3581 stamping ----------------------------------------------------------------------
def test_stamping_replaces_the_top_via_and_keeps_the_other_values():
    eb = SipEndpoint(B, rng=random.Random(2))
    data = INVITE
    second_via = data.replace(b"Max-Forwards", b"Via: SIP/2.0/UDP p.example;branch=z9hG4bKp\r\nMax-Forwards", 1)
    second_via = second_via.replace(b"Call-ID: c1", b"Call-ID: c2").replace(b"abc;rport", b"def;rport")
    for raw in (data, second_via):
        eb.receive(raw, Address("udp", "192.0.2.7", 6000), 0.0)
        (event,) = [e for e in eb.take_events() if type(e) is RequestReceived]
        m = event.message
        assert m.top_via.received == "192.0.2.7" and m.top_via.rport == 6000
        assert m.vias[0].params == m.top_via.params
        assert m.headers.get_all("Via")[0] == (
            f"SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK{'abc' if raw is data else 'def'};rport=6000;"
            "received=192.0.2.7"
        )
        assert len(m.vias) == (1 if raw is data else 2)
        call_id = "c1@10.0.0.9" if raw is data else "c2@10.0.0.9"
        assert (m.from_tag, m.to_tag, m.call_id, m.cseq) == ("a1", None, call_id, (7, "INVITE"))
        assert m.from_.display == "Alice" and m.from_.params == {"tag": "a1", "x": "y"}
        eb.respond(event.request_id, 486, now=0.0)
        eb.take_transmits()


# -- tags ------------------------------------------------------------------------------------
@pytest.mark.parametrize("to", ["<sip:b@h>", "<sip:b@h>;tag=t9", "B <sip:b@h;lr>;x;tag=t9;y=1",
                                "sip:b@h;tag=t9", "\"Q\" <sip:b@h> ; tag = t9"])
def test_tags_from_the_fast_path_equal_the_name_addr_tags(to: str):
    data = INVITE.replace(b"To: <sip:bob@127.0.0.1>", f"To: {to}".encode())
    fast, slow = parse_message(data), parse_message(data)
    tag = fast.to_tag
    assert tag == slow.to.params.get("tag") == slow.to_tag
    assert fast.from_tag == slow.from_.tag == "a1"


# -- garbage collector -------------------------------------------------------------------------
def test_a_finished_call_leaves_few_objects_for_the_collector_while_it_lingers():
    ea, eb = _pair()

    def calls(n: int) -> None:
        for _ in range(n):
            handle = ea.invite("sip:u@127.0.0.1:5062", body=b"v=0\r\n", now=0.0)
            _pump(ea, eb)
            for e in eb.take_events():
                if type(e) is RequestReceived and e.method == "INVITE":
                    eb.respond(e.request_id, 200, body=b"v=0\r\n", now=0.0)
            _pump(ea, eb)
            ea.take_events()
            ea.request(handle, "BYE", now=0.0)
            _pump(ea, eb)
            for e in eb.take_events():
                if type(e) is RequestReceived and e.method == "BYE":
                    eb.respond(e.request_id, 200, now=0.0)
            _pump(ea, eb)
            ea.take_events()

    calls(20)
    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        before = len(gc.get_objects())
        calls(200)
        ea.handle_timers(0.0)
        eb.handle_timers(0.0)
        gc.collect()
        per_call = (len(gc.get_objects()) - before) / 200
    finally:
        if was:
            gc.enable()
    lingering = sum(v for ep in (ea, eb) for k, v in ep.counts().items() if k.endswith(("client", "server")))
    assert lingering == 220 * 4  # INVITE and BYE, client and server: all still lingering
    assert per_call < 30  # was 172 before messages were packed (measured 19)


@pytest.mark.parametrize("value, tag", [("<sip:a@h>;tag=x1", "x1"), ("<sip:a@h>", None),
                                        ("A <sip:a@h>;foo;tag=x2", "x2"),
                                        ("\"A \\\"q\\\"\" <sip:a@h>;tag=x3", "x3"),
                                        ("sip:a@h;tag=x4", "x4")])
def test_tags_of_a_message_we_built_equal_the_name_addr_tags(value: str, tag: str | None):
    built = Request("OPTIONS", "sip:b@h", [("From", value), ("To", value)])
    assert built.from_tag == tag and built.to_tag == tag
    assert built.from_.tag == tag and built.to.tag == tag
    assert built.from_tag == tag  # the NameAddr, once built, stays authoritative
    built.headers.set("To", "<sip:b@h>;tag=changed")
    assert built.to_tag == "changed" and built.from_tag == tag


# -- the first-field index survives changes ---------------------------------------------------
NAMES = ["Via", "v", "Route", "Contact", "m", "Subject", "X-A", "Require"]
op_strategy = st.tuples(
    st.sampled_from(["add", "add_first", "set", "remove", "remove_first_value", "get"]),
    st.sampled_from(NAMES),
    st.sampled_from(["a", "b, c", "d"]),
)


@settings(max_examples=150, deadline=None)
@given(start=st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(["1", "2, 3"])), max_size=5),
       ops=st.lists(op_strategy, max_size=12))
def test_header_lookups_after_any_changes_equal_a_fresh_index(start, ops):
    headers = Headers(start)
    for op, name, value in ops:
        if op == "add":
            headers.add(name, value)
        elif op == "add_first":
            headers.add(name, value, first=True)
        elif op == "set":
            headers.set(name, value)
        elif op == "remove":
            headers.remove(name)
        elif op == "remove_first_value":
            headers.remove_first_value(name)
        headers.get(name)  # builds the index when missing, so later changes keep it
        fresh = Headers._from_wire(list(headers._fields))
        for other in NAMES:
            assert headers.get(other) == fresh.get(other)
            assert headers.get_all(other) == fresh.get_all(other)  # get_all trusts the index
            assert (other in headers) == (other in fresh)


def test_once_the_name_addr_is_built_its_tag_is_the_answer():
    for message in (parse_message(INVITE), Request("OPTIONS", "sip:b@h", [("To", "<sip:b@h>;tag=t1")])):
        first = message.to_tag  # cached from the match
        message.to.params["tag"] = "mine"  # the NameAddr, once built, is authoritative
        assert message.to_tag == "mine" and first in (None, "t1")


@pytest.mark.parametrize("via", [
    "SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport",
    "SIP/2.0/UDP h;rport;BRANCH=z9hG4bK2",
    "SIP/2.0/TCP [::1]:5060;received=x",
    "SIP/2.0/UDP h;branch=z9hG4bK3, SIP/2.0/UDP p;branch=z9hG4bKp",
    "SIP / 2.0 / UDP h ; branch = z9hG4bK4",
])
def test_client_matching_branch_equals_the_top_via_branch(via: str):
    built = Request("OPTIONS", "sip:b@h", [("Via", via), ("CSeq", "1 OPTIONS")])
    parsed = parse_message(built.serialize().replace(b"OPTIONS sip", b"OPTIONS sip", 1)
                           .replace(b"CSeq", b"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
                                    b"Call-ID: c\r\nCSeq", 1))
    for message in (built, parsed):
        expected = Request("OPTIONS", "sip:b@h", [("Via", via)]).top_via.branch
        assert message._top_branch() == expected
        assert client_key(message) == (expected or "", "OPTIONS")
        message.top_via.params["branch"] = "z9hG4bKnew"  # the built Via is authoritative
        assert message._top_branch() == "z9hG4bKnew"
