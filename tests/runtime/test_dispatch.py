"""Dispatch: queued events, publish, final states, routing and failures."""

from __future__ import annotations

import logging

import pytest

from sipflow.backends.base import BackendEvent
from sipflow.runtime.compiler import CompileError
from sipflow.runtime.runtime import SESSION_ENDED

QUEUE = {
    "table": "queue",
    "states": {"Idle": {}, "A": {}, "B": {}, "C": {}, "End": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "Go",
         "do": [{"Raise": {"event": "Next"}}, {"Raise": {"event": "Poke"}}, {"Note": {"tag": "go"}}],
         "to": "A"},
        {"from": "A", "on": "Next", "do": [{"Note": {"tag": "next"}}, {"Raise": {"event": "Go"}}],
         "to": "B"},
        {"from": "B", "on": "Poke", "do": [{"Note": {"tag": "poke"}}], "to": "C"},
        {"from": "C", "on": "Go", "do": [{"Note": {"tag": "go-again"}}], "to": "End"},
    ],
}


def test_raised_events_run_after_the_transition_in_order(make_runtime, rec):
    rt = make_runtime(QUEUE)
    s = rt.start_session("queue")
    assert rt.dispatch(s, "Go") is True
    notes = [(c[1], c[2]) for c in rec.calls if c[0] == "note"]
    # "go" runs before the raised events; Next and Poke run in the order raised,
    # then the Go raised by Next's row.
    assert notes == [("go", "Idle"), ("next", "A"), ("poke", "B"), ("go-again", "C")]
    assert s.state == "End" and s.ended


def test_reentrant_dispatch_is_queued(make_runtime, rec):
    rt = make_runtime({
        "table": "re",
        "states": {"Idle": {}, "A": {}, "End": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go", "publish": ["Ringing"], "to": "A"},
            {"from": "A", "on": "Next", "to": "End"},
        ],
    })
    s = rt.start_session("re")
    seen = []

    def answer(session, name, data):
        seen.append((name, session.state))
        if name == "Ringing":
            assert rt.dispatch(session, "Next") is True  # queued: the session is busy
            seen.append(("after-dispatch", session.state))

    rt.subscribe(answer)
    rt.dispatch(s, "Go")
    assert seen == [("Ringing", "A"), ("after-dispatch", "A"), (SESSION_ENDED, "End")]


def test_unmatched_event_returns_false_and_is_recorded(make_runtime):
    rt = make_runtime(QUEUE)
    s = rt.start_session("queue")
    assert rt.dispatch(s, "Poke") is False
    assert rt.dispatch(s, "DialogBYE") is False
    assert s.state == "Idle"
    assert rt.unhandled[("queue", "Idle", "Poke")] == 1
    assert rt.unhandled[("queue", "Idle", "DialogBYE")] == 1


PUB = {
    "table": "pub",
    "states": {"Idle": {}, "Up": {}, "End": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "Go", "do": [{"Shout": {"name": "IncomingCall"}}],
         "publish": ["Ringing"], "to": "Up"},
        {"from": "Up", "on": "Next", "publish": ["CallEnded"], "to": "End"},
    ],
}


def test_publish_reaches_global_and_session_subscribers_after_the_state_change(make_runtime):
    rt = make_runtime(PUB)
    a, b = rt.start_session("pub"), rt.start_session("pub")
    everyone, only_a = [], []
    rt.subscribe(lambda s, n, d: everyone.append((s is a, n, s.state, dict(d))))
    rt.subscribe(lambda s, n, d: only_a.append(n), session=a)
    rt.dispatch(a, "Go", {"code": 200})
    rt.dispatch(b, "Go")
    assert everyone[:2] == [(True, "IncomingCall", "Up", {"from": "action"}),
                            (True, "Ringing", "Up", {"code": 200})]
    assert [e[1] for e in everyone[2:]] == ["IncomingCall", "Ringing"]
    assert only_a == ["IncomingCall", "Ringing"]


def test_unsubscribe_and_failing_subscriber(make_runtime, caplog):
    rt = make_runtime(PUB)
    got = []
    stop = rt.subscribe(lambda s, n, d: got.append(n))

    def bad(s, n, d):
        raise KeyError("subscriber bug")

    rt.subscribe(bad)
    s = rt.start_session("pub")
    with caplog.at_level(logging.ERROR, "sipflow.runtime"):
        rt.dispatch(s, "Go")
    assert got == ["IncomingCall", "Ringing"]
    assert "subscriber" in caplog.text and "Ringing" in caplog.text
    stop()
    rt.dispatch(s, "Next")
    assert got == ["IncomingCall", "Ringing"]
    assert s.state == "End"


def test_final_state_ends_the_session(make_runtime, clock):
    spec = {
        "table": "fin",
        "states": {"Idle": {"timers": {"Guard": 30}}, "End": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go", "do": [{"Raise": {"event": "Next"}}],
             "publish": ["CallEnded"], "to": "End"},
            {"from": "Idle", "on": "Next", "to": "End"},
            {"from": "Idle", "on": "TimerGuard", "to": "End"},
        ],
    }
    rt = make_runtime(spec)
    s = rt.start_session("fin", handle="dlg-1")
    told = []
    rt.subscribe(lambda sess, n, d: told.append((n, dict(d))), session=s)
    assert rt.session_for("dlg-1") is s and s in rt.sessions
    assert s.timers is not None
    rt.dispatch(s, "Go")
    assert s.ended and s.state == "End"
    assert told == [("CallEnded", {}), (SESSION_ENDED, {"state": "End"})]
    assert s not in rt.sessions and rt.session_for("dlg-1") is None
    assert s.timers is None and not rt._queued  # the queued Next was dropped
    assert clock.run_until_idle() == 0  # the timer was cancelled
    assert rt.dispatch(s, "Go") is False


def test_action_exception_is_logged_with_file_line_and_state_and_queue_survive(make_runtime, rec, caplog):
    spec = {
        "table": "oops",
        "states": {"Idle": {}, "A": {}, "End": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go",
             "do": [{"Raise": {"event": "Next"}}, "Boom", {"Note": {"tag": "skipped"}}], "to": "A"},
            {"from": "A", "on": "Next", "do": [{"Note": {"tag": "next"}}], "to": "End"},
        ],
    }
    rt = make_runtime(spec)
    s = rt.start_session("oops")
    with caplog.at_level(logging.ERROR, "sipflow.runtime"):
        assert rt.dispatch(s, "Go") is True
    assert "test_table.yaml:100: action Boom failed in table oops (state Idle, event Go)" in caplog.text
    assert ("note", "skipped", "Idle", "Go") not in rec.calls
    assert ("note", "next", "A", "Next") in rec.calls
    assert s.state == "End"
    assert rt.failures["test_table.yaml:100"] == 1


def test_guard_exception_skips_the_row(make_runtime, caplog):
    spec = {
        "table": "g",
        "states": {"Idle": {}, "A": {}, "B": {}, "End": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go", "if": ["broken"], "to": "A"},
            {"from": "Idle", "on": "Go", "to": "B"},
            {"from": ["A", "B"], "on": "Next", "to": "End"},
        ],
    }
    rt = make_runtime(spec)
    s = rt.start_session("g")
    with caplog.at_level(logging.ERROR, "sipflow.runtime"):
        assert rt.dispatch(s, "Go")
    assert s.state == "B"
    assert "test_table.yaml:100: guard broken failed" in caplog.text


UAS = {
    "table": "uas",
    "starts_on": ["DialogINVITE"],
    "states": {"Idle": {}, "Ringing": {}, "Done": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "DialogINVITE", "if": [{"not": {"flag": "reject"}}], "to": "Ringing"},
        {"from": "Ringing", "on": "DialogBYE", "to": "Done"},
    ],
}


def test_deliver_routes_by_key_and_starts_on(make_runtime):
    rt = make_runtime(UAS)
    assert rt.deliver(BackendEvent("k1", "DialogINVITE", {})) is True
    s = rt.session_for("k1")
    assert s is not None and s.state == "Ringing" and s.handle == "k1"
    # the same key goes to the same session
    assert rt.deliver("k1", "DialogBYE", {}) is True
    assert s.ended and rt.session_for("k1") is None
    # an event that no session owns and no table starts on
    assert rt.deliver(BackendEvent("k2", "DialogBYE", {})) is False
    assert rt.unhandled[(None, None, "DialogBYE")] == 1
    # a new session whose first event finds no row is dropped silently
    ended = []
    rt.subscribe(lambda sess, n, d: ended.append(n))
    assert rt.deliver(BackendEvent("k3", "DialogINVITE", {"reject": True})) is False
    assert rt.session_for("k3") is None and not rt.sessions and ended == []


class FakeBackend:
    def __init__(self):
        self.calls = []

    def perform(self, handle, action, params):
        self.calls.append((handle, action, dict(params)))
        return f"dlg-{len(self.calls)}" if handle is None else None


def test_perform_goes_to_the_backend_and_adopts_the_handle(make_runtime):
    spec = {
        "table": "uac",
        "states": {"Idle": {}, "Calling": {}, "Done": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "MakeCall", "do": [{"SendINVITE": {"body": "sdp-offer"}}], "to": "Calling"},
            {"from": "Calling", "on": "Dialog200OK", "do": ["SendACK"], "to": "Done"},
        ],
    }
    backend = FakeBackend()
    rt = make_runtime(spec, backend=backend)
    s = rt.start_session("uac")
    rt.dispatch(s, "MakeCall")
    assert backend.calls == [(None, "SendINVITE", {"body": "sdp-offer"})]
    assert s.handle == "dlg-1" and rt.session_for("dlg-1") is s
    assert rt.deliver(BackendEvent("dlg-1", "Dialog200OK", {"code": 200})) is True
    assert backend.calls[-1] == ("dlg-1", "SendACK", {})
    assert s.ended


def test_perform_without_backend_is_a_logged_action_failure(make_runtime, caplog):
    spec = {
        "table": "nob",
        "states": {"Idle": {}, "Done": {"final": True}},
        "transitions": [{"from": "Idle", "on": "MakeCall", "do": ["SendINVITE"], "to": "Done"}],
    }
    rt = make_runtime(spec)
    s = rt.start_session("nob")
    with caplog.at_level(logging.ERROR, "sipflow.runtime"):
        assert rt.dispatch(s, "MakeCall")
    assert "no backend to perform SendINVITE" in caplog.text
    assert s.state == "Done"


def test_application_command_opens_a_session_without_a_key(make_runtime):
    spec = {
        "table": "uac",
        "starts_on": ["MakeCall"],
        "states": {"Idle": {}, "Calling": {}, "Done": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "MakeCall", "do": ["SendINVITE"], "to": "Calling"},
            {"from": "Calling", "on": "Dialog200OK", "do": ["SendACK"], "to": "Done"},
        ],
    }
    backend = FakeBackend()
    rt = make_runtime(spec, backend=backend)
    assert rt.deliver(None, "MakeCall", {"uri": "sip:bob@127.0.0.1"}) is True
    (session,) = rt.sessions
    assert session.handle == "dlg-1" and rt.session_for("dlg-1") is session


def test_two_tables_with_one_name_or_one_start_event_are_refused(make_runtime):
    with pytest.raises(CompileError, match="two tables are named 'uas'"):
        make_runtime(UAS, UAS)
    with pytest.raises(CompileError, match="tables 'uas' and 'uas2' both start on DialogINVITE"):
        make_runtime(UAS, dict(UAS, table="uas2"))


def test_close_cancels_timers_and_forgets_sessions(make_runtime, clock):
    spec = {
        "table": "c",
        "states": {"Idle": {"timers": {"Wait": 5}}, "Done": {"final": True}},
        "transitions": [{"from": "Idle", "on": "TimerWait", "to": "Done"}],
    }
    rt = make_runtime(spec)
    sessions = [rt.start_session("c", handle=k) for k in range(10)]
    rt.close()
    assert not rt.sessions and rt.session_for(3) is None
    assert clock.run_until_idle() == 0
    assert all(s.ended and s.state == "Idle" for s in sessions)


def test_a_handle_belongs_to_one_live_session(make_runtime):
    rt = make_runtime(UAS)
    first = rt.start_session("uas", handle="h")
    with pytest.raises(ValueError, match="handle 'h' already belongs to <Session uas state=Idle"):
        rt.start_session("uas", handle="h")
    rt.dispatch(first, "DialogINVITE")
    rt.dispatch(first, "DialogBYE")
    assert first.ended
    assert rt.start_session("uas", handle="h") is rt.session_for("h")


def test_an_action_may_drive_another_session_of_the_same_machine(make_runtime, registry, rec):
    @registry.action("Relay", "dispatch Go to the session stored in data['peer']")
    def relay(ctx, **params):
        peer = ctx.session.data["peer"]
        assert ctx.runtime.dispatch(peer, "Go") is True  # nested trigger on the shared machine
        rec.calls.append(("relayed", peer.state, ctx.session.state))

    spec = {
        "table": "pair",
        "states": {"Idle": {}, "Up": {}, "End": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Go", "do": [{"Note": {"tag": "go"}}], "to": "Up"},
            {"from": "Idle", "on": "Poke", "do": ["Relay"], "to": "End"},
            {"from": "Up", "on": "Next", "to": "End"},
        ],
    }
    rt = make_runtime(spec)
    a, b = rt.start_session("pair"), rt.start_session("pair")
    a.data["peer"] = b
    assert rt.dispatch(a, "Poke")
    assert rec.calls == [("note", "go", "Idle", "Go"), ("relayed", "Up", "Idle")]
    assert a.state == "End" and a.ended and b.state == "Up" and not b.ended


def test_deliver_names_what_it_expects(make_runtime):
    rt = make_runtime(UAS)
    with pytest.raises(TypeError, match=r"deliver\(\) takes a BackendEvent or \(session_key, name, data, message\)"):
        rt.deliver("DialogINVITE")
