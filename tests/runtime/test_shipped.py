"""The shipped call tables run on the runtime, in virtual time, against a recording backend."""

from __future__ import annotations

from typing import Any

import pytest

from sipflow.backends.base import BackendEvent
from sipflow.clock import VirtualClock
from sipflow.runtime.runtime import SESSION_ENDED, Runtime


class Backend:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, str, dict[str, Any]]] = []
        self.next = 0

    def perform(self, handle: Any, action: str, params: Any) -> Any:
        self.sent.append((handle, action, dict(params)))
        if handle is None:
            self.next += 1
            return f"call-{self.next}"
        return None


@pytest.fixture
def world():
    clock, backend = VirtualClock(), Backend()
    rt = Runtime(["uac_call", "uas_call"], None, clock, backend, params={"answer_delay": "2s"})
    published: list[tuple[Any, str]] = []
    rt.subscribe(lambda s, n, d: published.append((s.handle, n)))
    return rt, clock, backend, published


def test_uas_answers_after_answer_delay(world):
    rt, clock, backend, published = world
    assert rt.deliver(BackendEvent("in-1", "DialogINVITE", {"in_dialog": False}))
    assert ("in-1", "SendSIPResponse", {"code": 180}) in backend.sent
    clock.advance(1.999)
    assert rt.session_for("in-1").state == "Ringing"
    assert not any(p.get("code") == 200 for _, _, p in backend.sent)
    clock.advance(0.001)
    assert backend.sent[-1][:2] == ("in-1", "SendSIPResponse") and backend.sent[-1][2]["code"] == 200
    assert rt.deliver(BackendEvent("in-1", "DialogACK", {"in_dialog": True}))
    assert rt.deliver(BackendEvent("in-1", "DialogBYE", {"in_dialog": True}))
    names = [n for _, n in published]
    assert names.index("CallEstablished") < names.index("CallEnded") < names.index(SESSION_ENDED)
    assert names[-1] == SESSION_ENDED and not rt.sessions


def test_uac_gives_up_after_no_answer(world):
    rt, clock, backend, published = world
    session = rt.start_session("uac_call", params={"no_answer": "30s"})
    assert rt.dispatch(session, "MakeCall")
    assert backend.sent[0][:2] == (None, "SendINVITE")
    assert session.handle == "call-1" and session.state == "Calling"
    assert rt.deliver(BackendEvent("call-1", "Dialog180Ringing", {"code": 180, "method": "INVITE"}))
    clock.advance(30)
    assert session.state == "Cancelling"
    assert backend.sent[-1] == ("call-1", "SendCANCEL", {})
    assert rt.deliver(BackendEvent("call-1", "Dialog200OK", {"code": 200, "method": "CANCEL"}))
    assert session.state == "Cancelling"  # the 200 to the CANCEL itself: stay
    assert rt.deliver(BackendEvent("call-1", "Dialog4xxFailure", {"code": 487, "method": "INVITE"}))
    assert session.ended
    assert [n for _, n in published][-2:] == ["CallFailed", SESSION_ENDED]


def test_request_with_no_row_is_left_to_the_backend(world):
    rt, clock, backend, published = world
    rt.deliver(BackendEvent("in-2", "DialogINVITE", {"in_dialog": False}))
    assert rt.deliver(BackendEvent("in-2", "DialogREGISTER", {"in_dialog": True})) is False
    assert rt.unhandled[("uas_call", "Ringing", "DialogREGISTER")] == 1
    assert rt.deliver(BackendEvent("nobody", "DialogBYE", {"in_dialog": True})) is False
