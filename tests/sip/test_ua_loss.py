"""Calls over a lossy in-memory network (seeded, reproducible): with 100rel,
PRACK, ACK and BYE all subject to loss, retransmissions complete the calls
and both endpoints end with nothing left — no handle, dialog, transaction or
timer."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, Net, uri  # noqa: E402

from sipflow.sip import events as ev  # noqa: E402

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


class Apps:
    """Scripted applications: the callee answers 180 reliably, then 200 once
    PRACKed; the caller PRACKs reliable provisionals and hangs up once the
    call is established."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.established = 0
        self.ended = 0
        self.failed = 0

    def caller(self, e: ev.UAEvent) -> None:
        ep = self.net[A]
        if isinstance(e, ev.ResponseReceived) and e.reliable:
            ep.request(e.handle, "PRACK", dialog=e.dialog)
        elif isinstance(e, ev.DialogEstablished):
            self.established += 1
            ep.request(e.handle, "BYE")
        elif isinstance(e, ev.DialogTerminated):
            self.ended += 1
        elif isinstance(e, (ev.Timeout, ev.TransportError)):
            self.failed += 1
        elif isinstance(e, ev.RequestReceived) and e.request_id:
            ep.respond(e.request_id, 200)

    def callee(self, e: ev.UAEvent) -> None:
        ep = self.net[B]
        if not isinstance(e, ev.RequestReceived) or e.request_id is None:
            return
        if e.method == "INVITE":
            ep.respond(e.request_id, 180, reliable=True)
        elif e.method == "PRACK":
            ep.respond(e.request_id, 200)
            invite = ep.pending_invite(e.handle)
            if invite is not None:
                ep.respond(invite, 200, body=SDP)
        else:
            ep.respond(e.request_id, 200)

    def run(self) -> None:
        net = self.net
        while True:
            events = net.take(A), net.take(B)
            for e in events[0]:
                self.caller(e)
            for e in events[1]:
                self.callee(e)
            if any(events):
                continue
            if not net.step():
                return


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calls_with_ten_percent_loss_complete_and_leave_nothing(seed):
    net = Net(A, B, seed=seed)
    lossy = random.Random(seed)
    dropped: list[bytes] = []

    def drop(src, dst, data: bytes) -> bool:
        if lossy.random() < 0.10:
            dropped.append(data)
            return True
        return False

    net.drop = drop
    apps = Apps(net)
    calls = 30
    for _ in range(calls):
        net[A].invite(uri(B), body=SDP)
    apps.run()
    assert len(dropped) >= 10  # the losses really happened …
    methods = net.methods_on_wire()
    assert methods.count("INVITE") > calls and methods.count("180") > calls  # … and were repaired
    assert apps.established + apps.failed == calls
    assert apps.established >= calls - 2  # Timer B needs 7 losses in a row
    assert apps.ended >= apps.established - apps.failed
    for ep in net.eps.values():
        assert {k: v for k, v in ep.counts().items() if v} == {}
