"""SipEndpoint as a driver sees it: bytes in, bytes out — and bad input."""

from __future__ import annotations

import random

import pytest

from sipflow.sip import events as ev
from sipflow.sip.endpoint import EndpointConfig, SipEndpoint
from sipflow.sip.errors import LocalProtocolError
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address, Transmit

ME = Address("udp", "127.0.0.1", 5060)
PEER = Address("udp", "127.0.0.1", 40000)


def raw(
    method: str = "INVITE",
    ruri: str = "sip:me@127.0.0.1:5060",
    *,
    via: str = "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc123",
    cseq: str | None = None,
    extra: str = "",
    to: str = "<sip:me@127.0.0.1>",
    version: str = "SIP/2.0",
    body: bytes = b"",
) -> bytes:
    head = (
        f"{method} {ruri} {version}\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:peer@127.0.0.1>;tag=peer1\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: {cseq or '1 ' + method}\r\n"
        "Contact: <sip:peer@127.0.0.1:40000>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def endpoint(config: EndpointConfig | None = None) -> SipEndpoint:
    return SipEndpoint(ME, config, random.Random(7))


def answers(ep: SipEndpoint) -> list:
    out = ep.take_transmits()
    for t in out:
        assert isinstance(t, Transmit) and t.dest == PEER
    return [parse_message(t.data) for t in out]


def test_constructor_validates_addresses():
    with pytest.raises(ValueError):
        SipEndpoint([])
    with pytest.raises(ValueError):
        SipEndpoint(Address("sctp", "127.0.0.1", 5060))
    ep = SipEndpoint([ME, Address("tcp", "::1", 5060)])
    assert ep.next_deadline() is None and ep.take_transmits() == [] and ep.take_events() == []


def test_config_validation():
    with pytest.raises(ValueError):
        EndpointConfig(allow=("INVITE", "BAD METHOD"))
    with pytest.raises(ValueError):
        EndpointConfig(retry_after=60)
    with pytest.raises(ValueError):
        EndpointConfig(user="a b")


def test_invite_unanswered_for_200_ms_gets_100_trying():
    ep = endpoint()
    ep.receive(raw(), PEER, 0.0)
    event = ep.take_events()[0]
    assert isinstance(event, ev.RequestReceived) and event.method == "INVITE"
    assert ep.take_transmits() == []
    assert ep.next_deadline() == pytest.approx(0.2)
    ep.handle_timers(0.2)
    out = answers(ep)
    assert [m.status for m in out] == [100]
    assert out[0].to_tag is None and out[0].top_via.branch == "z9hG4bKabc123"


def test_invite_answered_at_once_gets_no_100_trying():
    ep = endpoint()
    ep.receive(raw(), PEER, 0.0)
    (event,) = ep.take_events()
    ep.respond(event.request_id, 180)
    ep.handle_timers(0.3)
    assert [m.status for m in answers(ep)] == [180]


def test_trying_delay_zero_sends_100_at_once():
    ep = endpoint(EndpointConfig(trying_delay=0))
    ep.receive(raw(), PEER, 0.0)
    assert [m.status for m in answers(ep)] == [100]
    with pytest.raises(ValueError):
        EndpointConfig(trying_delay=1.0)


def test_retransmitted_invite_is_absorbed():
    ep = endpoint()
    ep.receive(raw(), PEER, 0.0)
    ep.take_events()
    ep.receive(raw(), PEER, 0.1)
    assert ep.take_transmits() == [] and ep.take_events() == []  # nothing sent yet
    ep.handle_timers(0.2)
    ep.receive(raw(), PEER, 0.5)
    assert [m.status for m in answers(ep)] == [100, 100]  # the last response again
    assert ep.take_events() == []


def test_malformed_request_gets_400_naming_the_problem():
    ep = endpoint()
    ep.receive(raw(cseq="abc INVITE"), PEER, 0.0)
    (out,) = ep.take_transmits()
    assert out.dest == PEER and out.data.startswith(b"SIP/2.0 400 ")
    assert b"Warning: 399 sipflow \"CSeq header" in out.data
    assert b"CSeq: abc INVITE" in out.data  # copied as received (RFC 3261 8.2.6.2)
    assert b";tag=" in out.data.split(b"\r\nTo: ")[1].split(b"\r\n")[0]
    assert ep.take_events() == []
    # A header checked lazily by the core (Record-Route when the dialog is made).
    ep.receive(raw(extra="Record-Route: <sip:\r\n", via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKrr"),
               PEER, 0.0)
    (bad,) = answers(ep)
    assert bad.status == 400 and "Record-Route" in bad.headers.get("Warning")
    assert ep.take_events() == [] and ep.counts()["handles"] == 0


def test_wrong_content_length_gets_400():
    ep = endpoint()
    data = raw(body=b"v=0\r\n").replace(b"Content-Length: 5", b"Content-Length: 50")
    ep.receive(data, PEER, 0.0)
    assert [m.status for m in answers(ep)] == [400]


def test_garbage_and_unanswerable_messages_are_dropped():
    ep = endpoint()
    for data in (b"\x00\xff garbage", b"hello\r\n\r\n", b"SIP/2.0 999 Nope\r\n\r\n",
                 raw().replace(b"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc123\r\n", b""),
                 b"", b"\r\n\r\n"):
        ep.receive(data, PEER, 0.0)
    assert ep.take_transmits() == [] and ep.take_events() == []


def test_unknown_sip_version_gets_505():
    ep = endpoint()
    ep.receive(raw(version="SIP/7.0"), PEER, 0.0)
    assert [m.status for m in answers(ep)] == [505]


def test_unknown_method_gets_501_and_not_allowed_method_405_both_with_allow():
    ep = endpoint()
    ep.receive(raw("FOO", cseq="1 FOO"), PEER, 0.0)
    ep.receive(raw("REGISTER", cseq="1 REGISTER", via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK2"),
               PEER, 0.0)
    out = answers(ep)
    assert [m.status for m in out] == [501, 405]
    for m in out:
        assert m.allow == frozenset(EndpointConfig().allow)
    assert ep.take_events() == []


def test_allow_list_is_configurable():
    ep = endpoint(EndpointConfig(allow=("INVITE", "ACK", "BYE", "CANCEL", "REGISTER")))
    ep.receive(raw("REGISTER", cseq="1 REGISTER"), PEER, 0.0)
    assert ep.take_transmits() == []
    assert [e.method for e in ep.take_events()] == ["REGISTER"]
    ep.receive(raw("OPTIONS", cseq="2 OPTIONS", via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK3"),
               PEER, 0.0)
    assert [m.status for m in answers(ep)] == [405]


@pytest.mark.parametrize("ruri", ["tel:+15551234", "mailto:someone@example.com", "http://x/y"])
def test_unsupported_uri_scheme_gets_416(ruri):
    ep = endpoint()
    ep.receive(raw(ruri=ruri), PEER, 0.0)
    out = answers(ep)
    assert [m.status for m in out] == [416]
    assert ep.take_events() == []


def test_unknown_require_gets_420_with_unsupported():
    ep = endpoint()
    ep.receive(raw(extra="Require: foo, 100rel, bar\r\n"), PEER, 0.0)
    out = answers(ep)
    assert [m.status for m in out] == [420]
    assert out[0].headers.get_all("Unsupported") == ["bar", "foo"]


def test_max_forwards_zero():
    ep = endpoint()
    ep.receive(raw().replace(b"Max-Forwards: 70", b"Max-Forwards: 0"), PEER, 0.0)
    assert [m.status for m in answers(ep)] == [483]
    options = raw("OPTIONS", cseq="1 OPTIONS", via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKo")
    ep.receive(options.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"), PEER, 0.0)
    assert ep.take_transmits() == []
    (event,) = ep.take_events()
    ep.respond(event.request_id, 200)
    (ok,) = answers(ep)
    assert ok.status == 200 and "INVITE" in ok.allow and "100rel" in ok.supported
    assert ok.headers.get("Accept") == "application/sdp"


def test_in_dialog_request_without_dialog_gets_481():
    ep = endpoint()
    ep.receive(raw("BYE", to="<sip:me@127.0.0.1>;tag=unknown", cseq="2 BYE"), PEER, 0.0)
    assert [m.status for m in answers(ep)] == [481]
    ep.receive(raw("BYE", cseq="3 BYE", via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK9"),
               PEER, 0.0)  # no To tag: outside any dialog
    assert [m.status for m in answers(ep)] == [481]


def test_rport_and_received_are_stamped_and_responses_go_to_the_source():
    ep = endpoint()
    nat = Address("udp", "127.0.0.1", 41234)
    data = raw(via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnat;rport")
    ep.receive(data, nat, 0.0)
    ep.handle_timers(0.2)
    (event,) = ep.take_events()
    via = event.message.top_via
    assert via.received == "127.0.0.1" and via.rport == 41234
    (trying,) = ep.take_transmits()
    assert trying.dest == nat
    assert parse_message(trying.data).top_via.rport == 41234
    ep.respond(event.request_id, 486)
    (busy,) = ep.take_transmits()
    assert busy.dest == nat and parse_message(busy.data).status == 486


def test_respond_rejects_bad_arguments():
    ep = endpoint()
    ep.receive(raw(), PEER, 0.0)
    (event,) = ep.take_events()
    with pytest.raises(LocalProtocolError):
        ep.respond(event.request_id, 99)
    with pytest.raises(LocalProtocolError):
        ep.respond(event.request_id, 200, reliable=True)  # a final cannot be reliable
    with pytest.raises(LocalProtocolError):
        ep.respond("nope", 200)


def test_2xx_answer_carries_tag_contact_allow_supported_and_record_route():
    ep = endpoint()
    data = raw(extra="Record-Route: <sip:proxy.example;lr>\r\n")
    ep.receive(data, PEER, 0.0)
    (event,) = ep.take_events()
    ep.take_transmits()
    ep.respond(event.request_id, 200, body=b"v=0\r\n")
    (ok,) = answers(ep)
    assert ok.to_tag and ok.headers.get("Contact") == "<sip:sipflow@127.0.0.1:5060>"
    assert ok.headers.get("Record-Route") == "<sip:proxy.example;lr>"
    assert "BYE" in ok.allow and ok.content_type == "application/sdp"
    assert ok.headers.get("Server") == "sipflow"
    assert ep.next_deadline() == pytest.approx(0.5)  # the 2xx retransmission


def test_loose_route_set_is_used_for_in_dialog_requests():
    ep = endpoint()
    ep.receive(raw(extra="Record-Route: <sip:127.0.0.1:5999;lr>, <sip:127.0.0.2:5998;lr>\r\n"),
               PEER, 0.0)
    (event,) = ep.take_events()
    ep.respond(event.request_id, 200)
    ack = raw("ACK", to=f"<sip:me@127.0.0.1>;tag={ep.core.dialog_of(event.handle).local_tag}",
              cseq="1 ACK", via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKack")
    ep.receive(ack, PEER, 0.1)
    ep.take_transmits()
    ep.request(event.handle, "BYE")
    (bye,) = ep.take_transmits()
    msg = parse_message(bye.data)
    assert bye.dest == Address("udp", "127.0.0.1", 5999)  # the first route, not the target
    assert msg.uri == "sip:peer@127.0.0.1:40000"  # Request-URI = remote target (lr)
    assert msg.headers.get_all("Route") == ["<sip:127.0.0.1:5999;lr>", "<sip:127.0.0.2:5998;lr>"]


def test_stray_and_malformed_responses_are_dropped():
    ep = endpoint()
    resp = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnothing\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
            b"Content-Length: 0\r\n\r\n")
    ep.receive(resp, PEER, 0.0)
    ep.receive(resp.replace(b"CSeq: 1 INVITE", b"CSeq: x"), PEER, 0.0)
    assert ep.take_transmits() == [] and ep.take_events() == []


def test_application_now_defaults_to_the_last_seen_time():
    ep = endpoint()
    ep.receive(raw("OPTIONS", cseq="1 OPTIONS"), PEER, 100.0)
    ep.take_events()
    ep.request(None, "OPTIONS", uri="sip:x@127.0.0.1:40001")
    assert ep.next_deadline() == pytest.approx(100.5)  # Timer E from now=100


def test_transport_failed_ends_transactions_towards_the_peer():
    ep = endpoint()
    h = ep.request(None, "OPTIONS", uri="sip:x@127.0.0.1:40000;transport=tcp")
    ep.take_transmits()
    ep.transport_failed(Address("tcp", "127.0.0.1", 40000), 1.0)
    assert ep.take_events() == [ev.TransportError(h, "OPTIONS"), ev.HandleReleased(h)]
    # A server transaction whose answer cannot be delivered.
    ep.receive(raw(), PEER, 2.0)
    (inv,) = ep.take_events()
    ep.transport_failed(PEER, 2.1)
    assert ep.take_events() == [ev.TransportError(inv.handle, "INVITE"),
                                ev.HandleReleased(inv.handle)]
    assert {k: v for k, v in ep.counts().items() if v} == {}
    ep.handle_timers(2.2)
    assert ep.take_transmits() == []


def test_dialog_of_a_handle_is_readable():
    ep = endpoint()
    ep.receive(raw(), PEER, 0.0)
    (event,) = ep.take_events()
    dialog = ep.dialog(event.handle)
    assert dialog.call_id == "call-1@127.0.0.1" and dialog.remote_tag == "peer1"
    assert dialog.remote_target == "sip:peer@127.0.0.1:40000" and not dialog.confirmed
    ep.respond(event.request_id, 200)
    assert ep.dialog(event.handle).confirmed
    assert ep.dialog("c999") is None


def test_merged_request_gets_482():
    ep = endpoint()
    ep.receive(raw(), PEER, 0.0)
    (first,) = ep.take_events()
    # The same INVITE forked back to us by another path: same From tag, Call-ID
    # and CSeq, another branch.
    ep.receive(raw(via="SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKother"), PEER, 0.0)
    assert [m.status for m in answers(ep)] == [482]
    assert ep.take_events() == []
    ep.respond(first.request_id, 486)
    ep.take_transmits()
    # Once answered, the key is free again (a new transaction may reuse it).
    assert ep.core._ongoing == {}


def test_local_address_follows_the_destination_transport_and_family():
    locals_ = [ME, Address("tcp", "127.0.0.1", 5070), Address("udp", "::1", 5080)]
    ep = SipEndpoint(locals_, rng=random.Random(3))
    ep.invite("sip:b@127.0.0.1:6000;transport=tcp")
    ep.invite("sip:b@[::1]:6000")
    ep.invite("sip:b@127.0.0.1:6000")
    sent = ep.take_transmits()
    assert [t.dest for t in sent] == [Address("tcp", "127.0.0.1", 6000),
                                      Address("udp", "::1", 6000), Address("udp", "127.0.0.1", 6000)]
    vias = [parse_message(t.data).top_via for t in sent]
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("TCP", "127.0.0.1", 5070), ("UDP", "::1", 5080), ("UDP", "127.0.0.1", 5060)]
    contacts = [parse_message(t.data).headers.get("Contact") for t in sent]
    assert contacts == ["<sip:sipflow@127.0.0.1:5070;transport=tcp>",
                        "<sip:sipflow@[::1]:5080>", "<sip:sipflow@127.0.0.1:5060>"]


def test_unanswered_non_invite_request_gets_500_after_64_t1():
    ep = endpoint()
    ep.receive(raw("OPTIONS", cseq="1 OPTIONS"), PEER, 10.0)
    (event,) = ep.take_events()
    ep.handle_timers(41.9)
    assert ep.take_transmits() == []
    ep.handle_timers(42.0)
    (late,) = answers(ep)
    assert (late.status, late.reason) == (500, "Not Answered In Time")
    assert ep.take_events() == [ev.HandleReleased(event.handle)]
    with pytest.raises(LocalProtocolError):
        ep.respond(event.request_id, 200)


def test_oversized_message_gets_513_and_the_endpoint_keeps_serving():
    ep = endpoint()
    ep.receive(raw(body=b"x" * 70_000), PEER, 0.0)
    out = ep.take_transmits()
    assert [t.data.split(b" ", 2)[1] for t in out] == [b"513"]
    assert ep.take_events() == []
    ep.receive(raw("OPTIONS", cseq="1 OPTIONS"), PEER, 0.1)
    assert [e.method for e in ep.take_events()] == ["OPTIONS"]


def test_all_responses_to_one_request_carry_the_same_to_tag():
    ep = endpoint()
    ep.receive(raw("MESSAGE", cseq="1 MESSAGE", body=b"hi"), PEER, 0.0)
    (event,) = ep.take_events()
    ep.respond(event.request_id, 181)
    ep.respond(event.request_id, 202)
    first, final = answers(ep)
    assert (first.status, final.status) == (181, 202)
    assert first.to_tag and first.to_tag == final.to_tag
