"""Randomised call flows (seeded): loss, duplicated datagrams, forking, reliable
provisionals, UPDATE, re-INVITE glare, CANCEL races, early BYE, session
timers. Whatever the applications do, nothing raises inside the core and,
once every call is hung up, no handle, dialog, request, timer or
transaction is left on any endpoint."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, C, Net, uri  # noqa: E402

from sipflow.sip import events as ev  # noqa: E402
from sipflow.sip.errors import LocalProtocolError  # noqa: E402

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


class RandomApps:
    """Applications that choose at random among legal (and some refused) moves."""

    def __init__(self, net: Net, rnd: random.Random) -> None:
        self.net = net
        self.rnd = rnd
        self.handles: dict = {addr: set() for addr in net.eps}
        self.refused = 0  # LocalProtocolError: moves the core refused

    def act(self, addr, e: ev.UAEvent) -> None:
        ep, r = self.net[addr], self.rnd.random()
        self.handles[addr].add(e.handle)
        try:
            if isinstance(e, ev.RequestReceived) and e.request_id:
                if e.method == "INVITE" and not e.in_dialog:
                    if r < 0.15:
                        ep.respond(e.request_id, 486)
                    elif r < 0.4:
                        ep.respond(e.request_id, 183, body=SDP, reliable=True)
                    elif r < 0.55:
                        ep.respond(e.request_id, 180)
                        ep.request(e.handle, "UPDATE", body=SDP)
                    else:
                        ep.respond(e.request_id, 200, body=SDP)
                elif e.method == "PRACK":
                    ep.respond(e.request_id, 200)
                    invite = ep.pending_invite(e.handle)
                    if invite and r < 0.8:
                        ep.respond(invite, 200, body=SDP)
                elif e.method in ("INVITE", "UPDATE"):
                    ep.respond(e.request_id, self.rnd.choice([200, 200, 488]),
                               body=SDP if r < 0.7 else b"")
                else:
                    ep.respond(e.request_id, 200)
            elif isinstance(e, ev.RequestReceived) and e.method == "CANCEL":
                invite = ep.pending_invite(e.handle)
                if invite:
                    ep.respond(invite, 487)
            elif isinstance(e, ev.ResponseReceived) and e.reliable:
                ep.request(e.handle, "PRACK", dialog=e.dialog)
            elif isinstance(e, ev.ResponseReceived) and e.code in (180, 183):
                if r < 0.2:
                    ep.cancel(e.handle)
                elif r < 0.3:
                    ep.request(e.handle, "BYE", dialog=e.dialog)
            elif isinstance(e, ev.DialogEstablished):
                if r < 0.3:
                    ep.request(e.handle, "INVITE", body=SDP)
                elif r < 0.5:
                    ep.request(e.handle, "UPDATE", body=SDP)
                else:
                    ep.request(e.handle, "BYE")
            elif isinstance(e, (ev.AckTimeout, ev.SessionExpired, ev.SessionRefreshDue)):
                ep.request(e.handle, "BYE")
        except LocalProtocolError:
            self.refused += 1

    def drain(self) -> None:
        net = self.net
        while True:
            batches = [(addr, net.take(addr)) for addr in net.eps]
            for addr, events in batches:
                for e in events:
                    self.act(addr, e)
            if any(events for _, events in batches):
                continue
            if not net.step():
                return

    def hang_up_everything(self) -> None:
        for addr, handles in self.handles.items():
            ep = self.net[addr]
            for h in handles:
                try:
                    dialog = ep.dialog(h)
                    if dialog is not None and dialog.confirmed:
                        ep.request(h, "BYE")
                    else:
                        ep.cancel(h)
                    invite = ep.pending_invite(h)
                    if invite:
                        ep.respond(invite, 480)
                except LocalProtocolError:
                    pass


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("loss", [0.0, 0.15])
def test_random_flows_leave_nothing_behind(seed, loss):
    rnd = random.Random(seed)
    net = Net(A, B, C, seed=seed)
    net.drop = lambda src, dst, data: rnd.random() < loss
    # A "forking" copy of some INVITEs to C, and some datagrams delivered twice.
    net.tee = lambda src, dst, data: (
        ([C] if dst == B and data.startswith(b"INVITE") and rnd.random() < 0.3 else [])
        + ([dst] if rnd.random() < 0.1 else [])
    )
    apps = RandomApps(net, rnd)
    for _ in range(20):
        src, dst = (A, B) if rnd.random() < 0.7 else (B, A)
        h = net[src].invite(uri(dst), body=SDP if rnd.random() < 0.7 else b"",
                            session_expires=rnd.choice([None, 90, 120]))
        apps.handles[src].add(h)
    apps.drain()
    for _ in range(6):
        apps.hang_up_everything()
        apps.drain()
    for addr, ep in net.eps.items():
        assert {k: v for k, v in ep.counts().items() if v} == {}, addr
