"""Basic calls between the shipped uac_call and uas_call tables over the loopback backend."""

from __future__ import annotations

from .harness import Pair


def test_basic_call_is_established_and_hung_up(pair: Pair) -> None:
    session = pair.caller.call()
    pair.run(1.0)
    assert session.state == "Active"
    assert "CallEstablished" in pair.caller.names()
    assert "CallEstablished" in pair.callee.names()
    pair.caller.runtime.dispatch(session, "HangUp")
    pair.run()
    assert pair.caller.names() == ["Ringing", "CallEstablished", "CallEnded"]
    assert pair.callee.names() == ["IncomingCall", "CallEstablished", "CallEnded"]
    assert pair.caller.idle() and pair.callee.idle()
