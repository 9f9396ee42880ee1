"""The ``sip`` backend over real UDP on 127.0.0.1 (port 0): one call, caller and callee
runtimes in one event loop, and a clean stop."""

from __future__ import annotations

import asyncio

from sipflow.backends.sip import SipBackend
from sipflow.clock import AsyncioClock
from sipflow.runtime.runtime import Runtime


async def test_one_call_over_udp_and_a_clean_stop() -> None:
    clock = AsyncioClock()
    callee = SipBackend(clock, trying_delay=0.0)
    uas = Runtime(["uas_call", "options"], None, clock, callee)
    await callee.start(["udp:127.0.0.1:0"], uas.deliver)
    caller = SipBackend(clock)
    uac = Runtime(["uac_call"], None, clock, caller)
    await caller.start(["udp:127.0.0.1:0"], uac.deliver)
    port = callee.local_addresses[0].port
    assert port != 0
    heard: list[str] = []
    done = asyncio.Event()

    def on_event(session: object, name: str, data: object) -> None:
        heard.append(name)
        if name == "SessionEnded":
            done.set()

    uac.subscribe(on_event)
    session = uac.start_session("uac_call", {"target": f"sip:bob@127.0.0.1:{port}"})
    uac.dispatch(session, "MakeCall")
    for _ in range(200):
        if session.state == "Active":
            break
        await asyncio.sleep(0.01)
    assert session.state == "Active"
    uac.dispatch(session, "HangUp")
    await asyncio.wait_for(done.wait(), 5.0)
    assert heard == ["Ringing", "CallEstablished", "CallEnded", "SessionEnded"]
    await caller.stop(1.0)
    await callee.stop(1.0)
    assert not uac.sessions and not uas.sessions
    assert callee.left_open.get("sessions") is None
