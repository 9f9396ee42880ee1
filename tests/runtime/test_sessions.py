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
    assert s._data is None and s.queue is None and s.timers is None and s.params is None
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
