"""Sessions are small records: slots, lazy parts, ≤ 1 KiB each."""

from __future__ import annotations

import gc
import tracemalloc

from sipflow.runtime.session import Session

SPEC = {
    "table": "s",
    "states": {"Idle": {}, "Done": {"final": True}},
    "transitions": [{"from": "Idle", "on": "Go", "to": "Done"}],
}


def test_session_is_a_slots_record_with_lazy_parts(make_runtime):
    rt = make_runtime(SPEC)
    s = rt.start_session("s", handle=("dlg", 1))
    assert not hasattr(s, "__dict__")
    assert s.state == "Idle" and s.handle == ("dlg", 1) and s.table is rt.tables["s"]
    assert s._data is None and s.timers is None and s.params is None and s.watchers is None
    s.data["x"] = 1
    assert s.data == {"x": 1}
    assert "Session s state=Idle" in repr(s)


def test_sessions_cost_well_under_a_kibibyte(make_runtime):
    rt = make_runtime(SPEC)
    count = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for key in range(count):
            rt.start_session("s", handle=key)
        per_session = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(rt.sessions) == count
    assert per_session <= 1024, per_session


def test_ended_sessions_are_forgotten(make_runtime):
    rt = make_runtime(SPEC)
    sessions = [rt.start_session("s", handle=k) for k in range(100)]
    for s in sessions:
        rt.dispatch(s, "Go")
    assert not rt.sessions and all(rt.session_for(k) is None for k in range(100))
    assert isinstance(sessions[0], Session) and sessions[0].ended


class Handles:
    """A backend whose ``perform`` returns the handle it is told to."""

    def __init__(self) -> None:
        self.next: object = None

    def perform(self, handle, action, params):
        return self.next


def test_live_sessions_follow_handles_given_later_changed_and_taken(make_runtime):
    backend = Handles()
    rt = make_runtime(SPEC, backend=backend)
    keyless = rt.start_session("s")
    keyed = rt.start_session("s", handle="a")
    assert len(rt.sessions) == 2 and set(rt.sessions) == {keyless, keyed}
    assert keyless in rt.sessions and keyed in rt.sessions and "a" not in rt.sessions
    backend.next = "b"  # the keyless session gets its first handle
    rt.perform(keyless, "SendINVITE", {})
    assert rt.session_for("b") is keyless and len(rt.sessions) == 2
    backend.next = "c"  # a retry: a new handle replaces the old one
    rt.perform(keyless, "SendINVITE", {})
    assert rt.session_for("c") is keyless and rt.session_for("b") is None
    assert len(rt.sessions) == 2 and keyless in rt.sessions
    backend.next = "a"  # a confused backend hands out a handle in use: both stay live
    rt.perform(keyless, "SendINVITE", {})
    assert rt.session_for("a") is keyless and len(rt.sessions) == 2
    assert keyed in rt.sessions and keyless in rt.sessions
    for session in list(rt.sessions):
        rt.dispatch(session, "Go")
    assert not rt.sessions and len(rt.sessions) == 0 and keyed not in rt.sessions
    assert rt._by_key == {} and rt._keyless == set()


def test_a_session_costs_one_112_byte_block(make_runtime):
    import sys

    rt = make_runtime(SPEC)
    # the collector's 16 B header + a 16 B object header + 9 slots of 8 B: pymalloc's 112 B class
    assert sys.getsizeof(rt.start_session("s")) <= 104


def test_equal_overrides_are_shared_and_still_checked(make_runtime):
    import pytest

    from sipflow.runtime.params import ParamError

    spec = dict(SPEC, parameters={"target": "", "other": 1})
    rt = make_runtime(spec)
    params = {"target": "sip:bob@h"}
    a = rt.start_session("s", params)
    b = rt.start_session("s", dict(params))
    c = rt.start_session("s", {"target": "sip:carol@h"})
    assert a.params == b.params == params and a.params is b.params and a.params is not params
    assert c.params == {"target": "sip:carol@h"} and c.params is not a.params
    assert rt.param(a, "target") == "sip:bob@h" and rt.param(c, "target") == "sip:carol@h"
    assert rt.param(a, "other") == 1
    d = rt.start_session("s", {"target": "sip:bob@h", "other": 1})
    e = rt.start_session("s", {"target": "sip:bob@h", "other": True})
    assert d.params is not e.params and rt.param(e, "other") is True  # equal, not the same
    with pytest.raises(ParamError):
        rt.start_session("s", {"nope": 1})
    with pytest.raises(ParamError):
        rt.start_session("s", {"nope": 1})  # a refused set is never remembered
