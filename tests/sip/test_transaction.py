"""RFC 3261 §17 / RFC 6026 transaction state machines and timers, in virtual time.

Every test drives a ``TransactionLayer`` with explicit ``now`` values: the
``Harness`` steps ``now`` to ``next_deadline()`` and records what was sent
(with the virtual time of sending) and what the TU heard.
"""

from __future__ import annotations

import itertools

import pytest

from sipflow.sip.errors import LocalProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import make_response, parse_message
from sipflow.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    TransactionLayer,
)
from sipflow.sip.types import Address

UDP_PEER = Address("udp", "127.0.0.1", 5070)
TCP_PEER = Address("tcp", "127.0.0.1", 5070)
_branches = itertools.count(1)


def fresh_branch() -> str:
    return f"z9hG4bK-test-{next(_branches)}"


def make_request(
    method: str = "INVITE",
    branch: str | None = None,
    *,
    cseq: int = 1,
    cseq_method: str | None = None,
    via_host: str = "10.0.0.1:5060",
    to_tag: str | None = None,
    routes: tuple[str, ...] = (),
    uri: str = "sip:bob@example.com",
    call_id: str = "call-1@example.com",
) -> Request:
    via = f"SIP/2.0/UDP {via_host}"
    if branch is not None:
        via += f";branch={branch}"
    to = "Bob <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    fields = [("Via", via), ("Max-Forwards", "70")]
    fields += [("Route", r) for r in routes]
    fields += [
        ("From", "Alice <sip:alice@example.com>;tag=a1"),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {cseq_method or method}"),
    ]
    return Request(method, uri, fields)


def answer(request: Request, status: int, to_tag: str | None = "b1") -> Response:
    response = make_response(request, status)
    if to_tag is not None and status > 100 and request.to_tag is None:
        response.headers.set("To", f"{request.headers.get('to')};tag={to_tag}")
    return response


class Recorder:
    """A TransactionUser that records every callback."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.on_request_hook = None

    def on_request(self, txn, request, source, now):
        self.events.append(("request", txn, request.method, now))
        if self.on_request_hook is not None:
            self.on_request_hook(txn, request, now)

    def on_response(self, txn, response, now):
        self.events.append(("response", txn, response.status, now))

    def on_stray_response(self, response, source, now):
        self.events.append(("stray", response.status, now))

    def on_timeout(self, txn, timer, now):
        self.events.append(("timeout", txn, timer, now))

    def on_transport_error(self, txn, now):
        self.events.append(("transport_error", txn, now))

    def on_terminated(self, txn):
        self.events.append(("terminated", txn))

    def kinds(self, kind: str) -> list[tuple]:
        return [e for e in self.events if e[0] == kind]


class AckTimeoutRecorder(Recorder):
    def on_ack_timeout(self, txn, now):
        self.events.append(("ack_timeout", txn, now))


class Harness:
    """A layer on virtual time plus a record of the bytes it sent."""

    def __init__(self, config: TimerConfig | None = None, tu: Recorder | None = None) -> None:
        self.now = 0.0
        self.tu = tu or Recorder()
        self.sent: list[tuple[float, bytes, Address]] = []
        self.fail_sends = 0  # the next N sends raise OSError
        self.layer = TransactionLayer(self.tu, self._send, config or TimerConfig())

    def _send(self, data: bytes, dest: Address) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise OSError("network unreachable")
        self.sent.append((self.now, data, dest))

    def at(self, t: float) -> Harness:
        """Run every timer due up to ``t``, each at its own deadline, then set now = t."""
        while True:
            deadline = self.layer.next_deadline()
            if deadline is None or deadline > t:
                break
            self.now = max(self.now, deadline)
            self.layer.handle_timers(self.now)
        self.now = t
        return self

    def respond(self, txn: ServerTransaction, response: Response, t: float) -> None:
        self.at(t)
        self.layer.respond(txn, response, t)

    def receive(self, response: Response, source: Address, t: float) -> None:
        self.at(t)
        self.layer.receive_response(response, source, t)

    def run_until_idle(self, limit: float = 10_000.0) -> None:
        deadline = self.layer.next_deadline()
        while deadline is not None and deadline <= limit:
            self.at(deadline)
            deadline = self.layer.next_deadline()

    def send_times(self, first_line: bytes) -> list[float]:
        return [t for t, data, _ in self.sent if data.startswith(first_line)]

    def messages(self, first_line: bytes) -> list:
        return [parse_message(data) for _, data, _ in self.sent if data.startswith(first_line)]


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


# -- TimerConfig ---------------------------------------------------------------------


def test_timer_config_defaults_and_derived_values():
    c = TimerConfig()
    assert (c.t1, c.t2, c.t4, c.timer_d) == (0.5, 4.0, 5.0, 32.0)
    assert c.timeout() == 32.0  # B, F, H, J(UDP), L, M = 64*T1
    assert (c.d(False), c.d(True)) == (32.0, 0.0)
    assert (c.i(False), c.i(True)) == (5.0, 0.0)
    assert (c.j(False), c.j(True)) == (32.0, 0.0)
    assert (c.k(False), c.k(True)) == (5.0, 0.0)
    assert (c.retransmit_first(False), c.retransmit_first(True)) == (0.5, None)


@pytest.mark.parametrize(
    "kwargs, word",
    [({"t1": 0}, "t1"), ({"t2": -1}, "t2"), ({"t4": "5"}, "t4"), ({"t1": 2, "t2": 1}, "t2")],
)
def test_timer_config_rejects_bad_values_with_a_clear_message(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TimerConfig(**kwargs)


# -- INVITE client -------------------------------------------------------------------


def test_timer_a_doubles_until_timer_b_times_out():
    h = Harness()
    txn = h.layer.send_request(make_request(branch=fresh_branch()), UDP_PEER, 0.0)
    assert txn.state == "Calling" and txn.is_invite and not txn.reliable
    h.at(40.0)
    times = h.send_times(b"INVITE ")
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert gaps(times) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]  # no T2 cap for INVITE
    assert h.tu.kinds("timeout") == [("timeout", txn, "B", 32.0)]
    assert txn.state == "Terminated"
    assert h.layer.counts() == {} and h.layer.next_deadline() is None


def test_timer_a_and_b_scale_with_t1():
    h = Harness(TimerConfig(t1=0.1))
    h.layer.send_request(make_request(branch=fresh_branch()), UDP_PEER, 0.0)
    h.run_until_idle()
    assert gaps(h.send_times(b"INVITE "))[:3] == [0.1, 0.2, 0.4]
    assert h.tu.kinds("timeout")[0][3] == pytest.approx(6.4)


def test_invite_over_tcp_is_never_retransmitted_but_times_out():
    h = Harness()
    txn = h.layer.send_request(make_request(branch=fresh_branch()), TCP_PEER, 0.0)
    assert txn.reliable
    h.at(40.0)
    assert h.send_times(b"INVITE ") == [0.0]
    assert h.tu.kinds("timeout") == [("timeout", txn, "B", 32.0)]


def test_provisional_stops_retransmissions_and_timer_b():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    h.at(1.0)  # one retransmission at 0.5
    h.receive(answer(invite, 180), UDP_PEER, 1.0)
    assert txn.state == "Proceeding"
    assert h.layer.next_deadline() is None
    h.at(100.0)
    assert h.send_times(b"INVITE ") == [0.0, 0.5]
    assert h.tu.kinds("timeout") == []
    h.receive(answer(invite, 183), UDP_PEER, 100.0)
    assert [e[2] for e in h.tu.kinds("response")] == [180, 183]


def test_non_2xx_final_is_acked_per_17_1_1_3_and_timer_d_ends_it():
    h = Harness()
    invite = make_request(
        branch=fresh_branch(), routes=("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
    )
    txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    busy = answer(invite, 486, to_tag="t486")
    h.receive(busy, UDP_PEER, 0.2)
    assert txn.state == "Completed" and txn.last_response is busy
    (ack,) = h.messages(b"ACK ")
    assert ack.method == "ACK" and ack.uri == invite.uri
    assert [str(v) for v in ack.vias] == [str(invite.top_via)]
    assert ack.top_via.branch == invite.top_via.branch
    assert ack.headers.get("from") == invite.headers.get("from")
    assert ack.to_tag == "t486" and ack.to.uri == invite.to.uri
    assert ack.call_id == invite.call_id
    assert (ack.cseq.seq, ack.cseq.method) == (invite.cseq.seq, "ACK")
    assert [str(r) for r in ack.route] == [str(r) for r in invite.route]
    assert ack.body == b""
    # Retransmissions of the 486 get the same ACK again, and never reach the TU.
    h.at(1.0)
    h.receive(busy, UDP_PEER, 1.0)
    h.receive(busy, UDP_PEER, 2.0)
    acks = [data for _, data, _ in h.sent if data.startswith(b"ACK ")]
    assert len(acks) == 3 and len(set(acks)) == 1
    assert [e[2] for e in h.tu.kinds("response")] == [486]
    assert h.send_times(b"INVITE ") == [0.0]  # Timer A stopped by the final response
    # Timer D: 32 s on UDP.
    h.at(32.1)
    assert txn.state == "Completed"
    h.at(32.2)
    assert txn.state == "Terminated" and h.layer.counts() == {}
    assert h.tu.kinds("timeout") == []
    h.receive(busy, UDP_PEER, 33.0)
    assert h.tu.kinds("stray") == [("stray", 486, 33.0)]


def test_timer_d_is_zero_on_tcp():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, TCP_PEER, 0.0)
    h.receive(answer(invite, 603), TCP_PEER, 0.3)
    assert len(h.messages(b"ACK ")) == 1
    assert txn.state == "Terminated" and h.layer.counts() == {}
    assert h.layer.next_deadline() is None


def test_2xx_enters_accepted_and_every_2xx_reaches_the_tu_until_timer_m():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    ok_a = answer(invite, 200, to_tag="fork-a")
    ok_b = answer(invite, 200, to_tag="fork-b")
    h.receive(answer(invite, 180, to_tag="fork-a"), UDP_PEER, 0.1)
    h.receive(ok_a, UDP_PEER, 1.0)
    assert txn.state == "Accepted"
    assert h.messages(b"ACK ") == []  # the ACK of a 2xx is the TU's
    h.receive(ok_a, UDP_PEER, 1.5)  # retransmission
    h.receive(ok_b, UDP_PEER, 2.0)  # another fork
    h.receive(answer(invite, 486), UDP_PEER, 2.5)  # ignored in Accepted
    h.receive(answer(invite, 183), UDP_PEER, 2.6)  # ignored in Accepted
    assert [(e[2], e[3]) for e in h.tu.kinds("response")] == [
        (180, 0.1),
        (200, 1.0),
        (200, 1.5),
        (200, 2.0),
    ]
    assert txn.last_status == 200  # lingering: the status stays, the message is dropped
    # Timer M = 64*T1 from entering Accepted.
    h.at(32.9)
    assert txn.state == "Accepted"
    h.at(33.0)
    assert txn.state == "Terminated" and h.layer.counts() == {}
    h.receive(ok_a, UDP_PEER, 34.0)
    assert h.tu.kinds("stray") == [("stray", 200, 34.0)]
    assert h.tu.kinds("timeout") == []


def test_cancel_gives_a_proceeding_invite_64_t1_more_then_timer_b():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    h.receive(answer(invite, 180), UDP_PEER, 0.1)
    h.at(60.0)
    assert txn.state == "Proceeding" and h.tu.kinds("timeout") == []
    cancel_txn = h.layer.send_request(make_request("CANCEL", invite.top_via.branch), UDP_PEER, 60.0)
    h.receive(answer(cancel_txn.request, 200), UDP_PEER, 60.1)
    h.at(100.0)  # the UAS never sends its 487 (RFC 3261 §9.1)
    assert h.tu.kinds("timeout") == [("timeout", txn, "B", 92.0)]
    assert h.layer.counts() == {}


def test_cancel_sent_before_any_provisional_still_bounds_the_invite():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, TCP_PEER, 0.0)
    h.layer.send_request(make_request("CANCEL", invite.top_via.branch), TCP_PEER, 0.0)
    h.receive(answer(invite, 180), TCP_PEER, 10.0)  # Calling -> Proceeding after the CANCEL
    h.at(41.9)
    assert txn.state == "Proceeding"
    h.at(43.0)
    assert h.tu.kinds("timeout")[-1] == ("timeout", txn, "B", 42.0)


def test_cancel_answered_by_487_ends_normally():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, TCP_PEER, 0.0)
    h.receive(answer(invite, 180), TCP_PEER, 0.1)
    h.layer.send_request(make_request("CANCEL", invite.top_via.branch), TCP_PEER, 1.0)
    h.receive(answer(invite, 487), TCP_PEER, 1.1)
    assert txn.state == "Terminated" and h.tu.kinds("timeout") == []
    assert [e[2] for e in h.tu.kinds("response")] == [180, 487]


def test_2xx_after_a_non_2xx_final_goes_to_on_stray_response():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    h.receive(answer(invite, 486, to_tag="x"), UDP_PEER, 0.1)
    h.receive(answer(invite, 200, to_tag="y"), UDP_PEER, 0.2)
    assert txn.state == "Completed"
    assert [e[2] for e in h.tu.kinds("response")] == [486]
    assert h.tu.kinds("stray") == [("stray", 200, 0.2)]


def test_ack_for_2xx_is_sent_stateless_and_send_request_refuses_it():
    h = Harness()
    ack = make_request("ACK", branch=fresh_branch(), to_tag="b1")
    with pytest.raises(LocalProtocolError, match="send_stateless"):
        h.layer.send_request(ack, UDP_PEER, 0.0)
    h.layer.send_stateless(ack, UDP_PEER)
    assert len(h.messages(b"ACK ")) == 1 and h.layer.counts() == {}


# -- non-INVITE client ----------------------------------------------------------------


def test_timer_e_doubles_capped_at_t2_until_timer_f():
    h = Harness()
    txn = h.layer.send_request(make_request("OPTIONS", fresh_branch()), UDP_PEER, 0.0)
    assert txn.state == "Trying" and not txn.is_invite
    h.at(40.0)
    times = h.send_times(b"OPTIONS ")
    assert gaps(times) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert times[-1] == 31.5
    assert h.tu.kinds("timeout") == [("timeout", txn, "F", 32.0)]
    assert h.layer.counts() == {}


def test_timer_e_runs_at_t2_in_proceeding_and_f_still_times_out():
    h = Harness()
    request = make_request("BYE", fresh_branch(), to_tag="b1")
    txn = h.layer.send_request(request, UDP_PEER, 0.0)
    h.receive(answer(request, 100), UDP_PEER, 0.2)
    assert txn.state == "Proceeding"
    h.at(40.0)
    times = h.send_times(b"BYE ")
    assert times[:3] == [0.0, 0.5, 4.5]
    assert set(gaps(times)[1:]) == {4.0}
    assert h.tu.kinds("timeout") == [("timeout", txn, "F", 32.0)]


def test_non_invite_over_tcp_is_not_retransmitted():
    h = Harness()
    h.layer.send_request(make_request("REGISTER", fresh_branch()), TCP_PEER, 0.0)
    h.at(40.0)
    assert h.send_times(b"REGISTER ") == [0.0]
    assert [e[2] for e in h.tu.kinds("timeout")] == ["F"]


def test_final_response_completes_and_timer_k_absorbs_retransmissions():
    h = Harness()
    request = make_request("OPTIONS", fresh_branch())
    txn = h.layer.send_request(request, UDP_PEER, 0.0)
    ok = answer(request, 200)
    h.receive(ok, UDP_PEER, 0.7)
    assert txn.state == "Completed" and txn.last_response is ok
    h.receive(ok, UDP_PEER, 1.0)
    h.at(5.6)
    assert txn.state == "Completed"
    h.at(5.8)  # K = T4 = 5 s after 0.7
    assert txn.state == "Terminated" and h.layer.counts() == {}
    assert [e[2] for e in h.tu.kinds("response")] == [200]
    assert h.send_times(b"OPTIONS ") == [0.0, 0.5]
    assert h.tu.kinds("timeout") == []


def test_timer_k_is_zero_on_tcp():
    h = Harness()
    request = make_request("OPTIONS", fresh_branch())
    txn = h.layer.send_request(request, TCP_PEER, 0.0)
    h.receive(answer(request, 404), TCP_PEER, 0.1)
    assert txn.state == "Terminated" and h.layer.counts() == {}
    assert h.tu.kinds("terminated") == [("terminated", txn)]


def test_response_matches_by_branch_and_cseq_method():
    h = Harness()
    branch = fresh_branch()
    invite = make_request(branch=branch)
    cancel = make_request("CANCEL", branch)
    inv_txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    can_txn = h.layer.send_request(cancel, UDP_PEER, 0.0)
    assert h.layer.counts() == {"invite_client": 1, "non_invite_client": 1}
    h.receive(answer(cancel, 200), UDP_PEER, 0.1)
    h.receive(answer(invite, 487), UDP_PEER, 0.2)
    assert [(e[1], e[2]) for e in h.tu.kinds("response")] == [(can_txn, 200), (inv_txn, 487)]
    other = make_request(branch=fresh_branch())
    h.receive(answer(other, 200), UDP_PEER, 0.3)
    assert h.tu.kinds("stray") == [("stray", 200, 0.3)]


def test_send_request_rejects_a_branch_without_magic_cookie_and_duplicates():
    h = Harness()
    with pytest.raises(LocalProtocolError, match="z9hG4bK"):
        h.layer.send_request(make_request("OPTIONS", "old-style"), UDP_PEER, 0.0)
    branch = fresh_branch()
    h.layer.send_request(make_request("OPTIONS", branch), UDP_PEER, 0.0)
    with pytest.raises(LocalProtocolError, match="exists"):
        h.layer.send_request(make_request("OPTIONS", branch), UDP_PEER, 0.0)


# -- INVITE server --------------------------------------------------------------------


def incoming(h: Harness, request: Request, t: float, source: Address = UDP_PEER):
    h.at(t)
    h.layer.receive_request(request, source, t)
    requests = h.tu.kinds("request")
    return requests[-1][1] if requests else None


def test_invite_server_sends_100_trying_and_answers_retransmissions():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    assert isinstance(txn, ServerTransaction) and txn.state == "Proceeding"
    (trying,) = h.messages(b"SIP/2.0 100")
    assert trying.call_id == invite.call_id and trying.to_tag is None
    incoming(h, invite, 0.5)  # retransmission: absorbed, 100 re-sent
    assert len(h.tu.kinds("request")) == 1
    assert len(h.messages(b"SIP/2.0 100")) == 2
    h.respond(txn, answer(invite, 180), 1.0)
    incoming(h, invite, 1.5)
    assert h.send_times(b"SIP/2.0 180") == [1.0, 1.5]
    assert txn.state == "Proceeding" and txn.last_response.status == 180


def test_no_100_trying_when_the_tu_answers_at_once_or_auto_trying_is_off():
    h = Harness()
    h.tu.on_request_hook = lambda txn, req, now: h.respond(txn, answer(req, 180), now)
    incoming(h, make_request(branch=fresh_branch()), 0.0)
    assert h.messages(b"SIP/2.0 100") == [] and len(h.messages(b"SIP/2.0 180")) == 1
    quiet = Harness()
    quiet.layer.auto_trying = False
    incoming(quiet, make_request(branch=fresh_branch()), 0.0)
    assert quiet.sent == []


def test_timer_g_doubles_capped_at_t2_until_ack_then_timer_i():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    busy = answer(invite, 486)
    h.respond(txn, busy, 0.0)
    assert txn.state == "Completed"
    h.at(20.0)
    times = h.send_times(b"SIP/2.0 486")
    assert gaps(times) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    incoming(h, invite, 20.0)  # a retransmitted INVITE gets the 486 again
    assert h.send_times(b"SIP/2.0 486")[-1] == 20.0
    ack = make_request("ACK", invite.top_via.branch, cseq_method="ACK", to_tag="b1")
    incoming(h, ack, 21.0)
    assert txn.state == "Confirmed"
    incoming(h, ack, 22.0)  # absorbed
    assert [e[2] for e in h.tu.kinds("request")] == ["INVITE"]
    sent_before = len(h.sent)
    h.at(25.9)
    assert len(h.sent) == sent_before  # no more G in Confirmed
    assert txn.state == "Confirmed"
    h.at(26.0)  # Timer I = T4 = 5 s
    assert txn.state == "Terminated" and h.layer.counts() == {}


def test_timer_h_without_ack_reports_ack_timeout():
    h = Harness(tu=AckTimeoutRecorder())
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    h.respond(txn, answer(invite, 500), 0.0)
    h.at(31.9)
    assert txn.state == "Completed"
    h.at(40.0)
    assert h.tu.kinds("ack_timeout") == [("ack_timeout", txn, 32.0)]
    assert h.tu.kinds("transport_error") == []
    assert h.send_times(b"SIP/2.0 500")[-1] == 31.5
    assert txn.state == "Terminated" and h.layer.counts() == {}


def test_timer_h_falls_back_to_transport_error_without_the_optional_hook():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    h.respond(txn, answer(invite, 500), 0.0)
    h.at(40.0)
    assert h.tu.kinds("transport_error") == [("transport_error", txn, 32.0)]


def test_invite_server_over_tcp_has_no_g_and_zero_i():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0, TCP_PEER)
    assert txn.reliable
    h.respond(txn, answer(invite, 486), 0.0)
    h.at(10.0)
    assert h.send_times(b"SIP/2.0 486") == [0.0]
    ack = make_request("ACK", invite.top_via.branch, cseq_method="ACK", to_tag="b1")
    incoming(h, ack, 10.0, TCP_PEER)
    assert txn.state == "Terminated" and h.layer.counts() == {}
    assert h.layer.next_deadline() is None


def test_invite_server_over_tcp_times_out_with_h():
    h = Harness(tu=AckTimeoutRecorder())
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0, TCP_PEER)
    h.respond(txn, answer(invite, 486), 0.0)
    h.at(40.0)
    assert h.tu.kinds("ack_timeout") == [("ack_timeout", txn, 32.0)]


def test_2xx_enters_accepted_timer_l_and_acks_reach_the_tu():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    ok = answer(invite, 200)
    h.respond(txn, ok, 1.0)
    assert txn.state == "Accepted"
    sent = len(h.sent)
    incoming(h, invite, 1.2)  # retransmitted INVITE absorbed, nothing sent
    assert len(h.sent) == sent and len(h.tu.kinds("request")) == 1
    h.at(1.5)
    assert len(h.sent) == sent  # no automatic 2xx retransmission (TU's job)
    h.respond(txn, ok, 1.5)  # the TU's §13.3.1.4 retransmission
    assert h.send_times(b"SIP/2.0 200") == [1.0, 1.5]
    with pytest.raises(LocalProtocolError, match="2xx was sent"):
        h.respond(txn, answer(invite, 486), 1.6)
    ack = make_request("ACK", fresh_branch(), cseq_method="ACK", to_tag="b1")
    incoming(h, ack, 2.0)
    same_branch_ack = make_request("ACK", invite.top_via.branch, cseq_method="ACK", to_tag="b1")
    incoming(h, same_branch_ack, 2.1)
    assert [(e[1], e[2]) for e in h.tu.kinds("request")] == [
        (txn, "INVITE"),
        (None, "ACK"),
        (None, "ACK"),
    ]
    h.at(32.9)
    assert txn.state == "Accepted"
    h.at(33.0)  # Timer L = 64*T1 after the first 2xx
    assert txn.state == "Terminated" and h.layer.counts() == {}
    with pytest.raises(LocalProtocolError, match="Terminated"):
        h.respond(txn, ok, 34.0)


def test_respond_refuses_a_response_to_another_method():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    with pytest.raises(LocalProtocolError, match="CSeq method BYE"):
        h.respond(txn, answer(make_request("BYE", fresh_branch()), 200), 0.1)
    assert txn.state == "Proceeding" and txn.last_response.status == 100


def test_ack_in_proceeding_is_absorbed():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = incoming(h, invite, 0.0)
    ack = make_request("ACK", invite.top_via.branch, cseq_method="ACK")
    incoming(h, ack, 0.1)
    assert txn.state == "Proceeding" and len(h.tu.kinds("request")) == 1


# -- non-INVITE server ----------------------------------------------------------------


def test_non_invite_server_trying_proceeding_completed_and_timer_j():
    h = Harness()
    bye = make_request("BYE", fresh_branch(), to_tag="b1")
    txn = incoming(h, bye, 0.0)
    assert txn.state == "Trying" and h.sent == []  # no automatic 100 for non-INVITE
    incoming(h, bye, 0.5)  # Trying: retransmission dropped, nothing to send
    assert h.sent == [] and len(h.tu.kinds("request")) == 1
    h.respond(txn, answer(bye, 100), 0.6)
    assert txn.state == "Proceeding"
    incoming(h, bye, 1.0)
    assert h.send_times(b"SIP/2.0 100") == [0.6, 1.0]
    h.respond(txn, answer(bye, 200), 1.1)
    assert txn.state == "Completed"
    incoming(h, bye, 2.0)
    incoming(h, bye, 3.0)
    assert h.send_times(b"SIP/2.0 200") == [1.1, 2.0, 3.0]
    with pytest.raises(LocalProtocolError, match="Completed"):
        h.respond(txn, answer(bye, 500), 3.0)
    assert len(h.tu.kinds("request")) == 1
    h.at(33.0)
    assert txn.state == "Completed"
    h.at(33.1)  # J = 64*T1 after 1.1
    assert txn.state == "Terminated" and h.layer.counts() == {}
    incoming(h, bye, 34.0)  # after J a retransmission is a new request
    assert len(h.tu.kinds("request")) == 2


def test_timer_j_is_zero_on_tcp():
    h = Harness()
    options = make_request("OPTIONS", fresh_branch())
    txn = incoming(h, options, 0.0, TCP_PEER)
    h.respond(txn, answer(options, 200), 0.0)
    assert txn.state == "Terminated" and h.layer.counts() == {}


# -- transport errors ---------------------------------------------------------------


def test_transport_error_on_first_send_terminates_the_client_transaction():
    h = Harness()
    h.fail_sends = 1
    txn = h.layer.send_request(make_request(branch=fresh_branch()), UDP_PEER, 0.0)
    assert isinstance(txn, ClientTransaction)
    assert txn.state == "Terminated"
    assert [e[0] for e in h.tu.events] == ["transport_error", "terminated"]
    assert h.layer.counts() == {} and h.layer.next_deadline() is None


def test_transport_error_on_retransmission():
    h = Harness()
    txn = h.layer.send_request(make_request("OPTIONS", fresh_branch()), UDP_PEER, 0.0)
    h.at(0.2)
    h.fail_sends = 1
    h.at(10.0)
    assert h.tu.kinds("transport_error") == [("transport_error", txn, 0.5)]
    assert h.tu.kinds("timeout") == [] and h.layer.counts() == {}


def test_transport_error_when_sending_the_ack():
    h = Harness()
    invite = make_request(branch=fresh_branch())
    txn = h.layer.send_request(invite, UDP_PEER, 0.0)
    h.fail_sends = 1
    h.receive(answer(invite, 404), UDP_PEER, 0.1)
    assert [e[0] for e in h.tu.events] == ["response", "transport_error", "terminated"]
    assert txn.state == "Terminated" and h.layer.counts() == {}


def test_transport_error_on_response_send_and_on_timer_g():
    h = Harness()
    h.fail_sends = 1  # the automatic 100 Trying fails
    txn = incoming(h, make_request(branch=fresh_branch()), 0.0)
    assert txn.state == "Terminated" and h.tu.kinds("transport_error")[0][1] is txn
    h2 = Harness()
    invite = make_request(branch=fresh_branch())
    txn2 = incoming(h2, invite, 0.0)
    h2.respond(txn2, answer(invite, 480), 0.0)
    h2.fail_sends = 1
    h2.at(1.0)
    assert h2.tu.kinds("transport_error") == [("transport_error", txn2, 0.5)]
    assert h2.layer.counts() == {}


def test_transport_failed_later_ends_the_transactions_of_that_peer():
    h = Harness()
    other = Address("tcp", "127.0.0.1", 5999)
    to_peer = h.layer.send_request(make_request("OPTIONS", fresh_branch()), TCP_PEER, 0.0)
    to_other = h.layer.send_request(make_request("OPTIONS", fresh_branch()), other, 0.0)
    from_peer = incoming(h, make_request("INFO", fresh_branch()), 0.0, TCP_PEER)
    assert h.layer.transport_failed(TCP_PEER, 0.3) == 2
    errors = {e[1] for e in h.tu.kinds("transport_error")}
    assert errors == {to_peer, from_peer}
    assert to_other.state == "Trying" and h.layer.counts() == {"non_invite_client": 1}
    assert h.layer.transport_failed(TCP_PEER, 0.4) == 0


def test_terminated_hook_runs_once_per_transaction():
    h = Harness()
    request = make_request("OPTIONS", fresh_branch())
    txn = h.layer.send_request(request, UDP_PEER, 0.0)
    h.receive(answer(request, 200), UDP_PEER, 0.1)
    h.run_until_idle()
    h.receive(answer(request, 200), UDP_PEER, 10.0)
    assert h.tu.kinds("terminated") == [("terminated", txn)]


def test_user_data_and_pending_are_one_slot():
    h = Harness()
    txn = incoming(h, make_request("MESSAGE", fresh_branch()), 0.0)
    txn.pending = {"session": 7}
    assert txn.user_data == {"session": 7}
    with pytest.raises(AttributeError):
        txn.anything_else = 1  # __slots__: no per-instance dict


# -- every lifetime timer, table-driven, with non-default T1/T4/D ----------------------

CUSTOM = TimerConfig(t1=0.2, t2=1.6, t4=2.5, timer_d=40.0)
START = 1.0  # when the timer under test is armed


def _client_final(method: str, status: int):
    def setup(h: Harness, peer: Address) -> None:
        request = make_request(method, fresh_branch())
        h.layer.send_request(request, peer, 0.0)
        h.receive(answer(request, status), peer, START)

    return setup


def _server_final(method: str, status: int, ack_at: float | None = None):
    def setup(h: Harness, peer: Address) -> None:
        request = make_request(method, fresh_branch())
        txn = incoming(h, request, 0.0, peer)
        h.respond(txn, answer(request, status), START)
        if ack_at is not None:
            ack = make_request("ACK", request.top_via.branch, cseq_method="ACK", to_tag="b1")
            incoming(h, ack, ack_at, peer)

    return setup


def _client_silent(method: str):
    def setup(h: Harness, peer: Address) -> None:
        h.at(START)
        h.layer.send_request(make_request(method, fresh_branch()), peer, START)

    return setup


@pytest.mark.parametrize(
    "timer, setup, udp_end, tcp_end",
    [
        ("B", _client_silent("INVITE"), START + 64 * 0.2, START + 64 * 0.2),
        ("F", _client_silent("OPTIONS"), START + 64 * 0.2, START + 64 * 0.2),
        ("D", _client_final("INVITE", 404), START + 40.0, START),
        ("M", _client_final("INVITE", 200), START + 64 * 0.2, START + 64 * 0.2),
        ("K", _client_final("OPTIONS", 200), START + 2.5, START),
        ("H", _server_final("INVITE", 404), START + 64 * 0.2, START + 64 * 0.2),
        ("I", _server_final("INVITE", 404, ack_at=3.0), 3.0 + 2.5, 3.0),
        ("J", _server_final("OPTIONS", 200), START + 64 * 0.2, START),
        ("L", _server_final("INVITE", 200), START + 64 * 0.2, START + 64 * 0.2),
    ],
)
@pytest.mark.parametrize("peer", [UDP_PEER, TCP_PEER], ids=["udp", "tcp"])
def test_each_lifetime_timer_ends_its_transaction_on_time(timer, setup, udp_end, tcp_end, peer):
    h = Harness(CUSTOM, tu=AckTimeoutRecorder())
    ended: list[float] = []
    h.tu.on_terminated = lambda txn: ended.append(h.now)
    setup(h, peer)
    h.run_until_idle()
    expected = udp_end if peer is UDP_PEER else tcp_end
    assert ended == [pytest.approx(expected)], timer
    assert h.layer.counts() == {} and len(h.layer.heap) == 0


def test_answering_counts_what_may_still_answer_a_retransmission():
    """INVITE client Completed (Timer D) and server Completed (H, J) count; Accepted,
    Confirmed, a non-INVITE client in Completed (Timer K) and live ones do not."""
    h = Harness()
    invite = make_request(branch=fresh_branch(), call_id="c1")
    client = h.layer.send_request(invite, UDP_PEER, 0.0)
    assert h.layer.answering() == 0  # Calling
    h.receive(answer(invite, 486), UDP_PEER, 0.1)
    assert client.state == "Completed" and h.layer.answering() == 1  # Timer D
    options = make_request("OPTIONS", fresh_branch(), call_id="c2")
    h.layer.send_request(options, UDP_PEER, 0.1)
    h.receive(answer(options, 200), UDP_PEER, 0.2)
    assert h.layer.answering() == 1  # Timer K absorbs only
    ok_invite = make_request(branch=fresh_branch(), call_id="c3")
    h.layer.send_request(ok_invite, UDP_PEER, 0.2)
    h.receive(answer(ok_invite, 200), UDP_PEER, 0.3)
    assert h.layer.answering() == 1  # Accepted: the UA core re-ACKs 2xx
    server_invite = make_request(branch=fresh_branch(), call_id="c4")
    txn = incoming(h, server_invite, 0.4)
    h.respond(txn, answer(server_invite, 486), 0.4)
    assert h.layer.answering() == 2  # Timer G/H: our 486 until its ACK
    ack = make_request("ACK", server_invite.top_via.branch, cseq_method="ACK", to_tag="b1",
                       call_id="c4")
    incoming(h, ack, 0.5)
    assert txn.state == "Confirmed" and h.layer.answering() == 1
    bye = make_request("BYE", fresh_branch(), call_id="c5", to_tag="b1")
    txn = incoming(h, bye, 0.6)
    h.respond(txn, answer(bye, 200), 0.6)
    assert h.layer.answering() == 2  # Timer J: answer a retransmitted BYE again
    h.at(40.0)
    assert h.layer.answering() == 0 and h.layer.counts() == {}
