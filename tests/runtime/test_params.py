"""Parameters: durations, coercion, {param: NAME} resolution and overrides."""

from __future__ import annotations

import pytest

from sipflow.runtime.params import ParamError, coerce, parse_duration

PARAMS = {
    "table": "p",
    "parameters": {"code": 486, "label": "busy", "delay": "1s"},
    "states": {"Idle": {"timers": {"Wait": {"param": "delay"}}}, "Done": {"final": True}},
    "transitions": [
        {"from": "Idle", "on": "Go",
         "do": [{"Count": {"n": {"param": "code"}}}, {"Note": {"tag": {"param": "label"}}}], "to": "Done"},
        {"from": "Idle", "on": "TimerWait", "to": "Done"},
    ],
}


@pytest.mark.parametrize(("text", "seconds"), [
    ("180s", 180.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (1.5, 1.5), (3, 3.0), ("0", 0.0),
    (" 2.5s ", 2.5), (".5s", 0.5),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", "1d", "", True, None, float("nan"), -2, [1]])
def test_parse_duration_rejects(bad):
    with pytest.raises(ParamError, match="answer_delay"):
        parse_duration(bad, "answer_delay")


def test_coerce_command_line_strings():
    assert coerce("486", "int", "x") == 486
    assert coerce("486,600", "codes", "x") == [486, 600]
    assert coerce("yes", "bool", "x") is True and coerce("off", "bool", "x") is False
    assert coerce("250ms", "duration", "x") == 0.25
    assert coerce("abc", "str", "x") == "abc"
    assert coerce(7, "int", "x") == 7
    with pytest.raises(ParamError, match="code: 'x4' is not a valid int"):
        coerce("x4", "int", "code")


def test_table_defaults(make_runtime, rec):
    rt = make_runtime(PARAMS)
    s = rt.start_session("p")
    rt.dispatch(s, "Go")
    assert rec.calls == [("count", 486), ("note", "busy", "Idle", "Go")]


def test_runtime_then_session_overrides_with_coercion(make_runtime, rec):
    rt = make_runtime(PARAMS, params={"code": "603", "label": "declined"})
    a = rt.start_session("p")
    b = rt.start_session("p", params={"code": "600"})
    rt.dispatch(a, "Go")
    rt.dispatch(b, "Go")
    assert rec.calls == [("count", 603), ("note", "declined", "Idle", "Go"),
                         ("count", 600), ("note", "declined", "Idle", "Go")]
    assert rt.param(a, "code") == "603"  # the raw value; actions get it coerced to int


def test_unknown_overrides_are_refused(make_runtime):
    with pytest.raises(ParamError, match="no loaded table has a parameter 'nope'"):
        make_runtime(PARAMS, params={"nope": 1})
    rt = make_runtime(PARAMS)
    with pytest.raises(ParamError, match=r"table 'p' has no parameter 'nope' \(declared: code, delay, label\)"):
        rt.start_session("p", params={"nope": 1})


def test_bad_duration_override_is_refused_up_front(make_runtime):
    with pytest.raises(ParamError, match="parameter delay .timer Wait"):
        make_runtime(PARAMS, params={"delay": "later"})
    rt = make_runtime(PARAMS)
    with pytest.raises(ParamError, match="'later' is not a duration"):
        rt.start_session("p", params={"delay": "later"})


def test_bad_action_override_is_a_logged_failure(make_runtime, rec, caplog):
    rt = make_runtime(PARAMS)
    s = rt.start_session("p", params={"code": "busy"})
    rt.dispatch(s, "Go")
    assert "test_table.yaml:100: action Count failed" in caplog.text
    assert "'busy' is not a valid int" in caplog.text
    assert s.ended  # the transition still completed


def test_unknown_table(make_runtime):
    rt = make_runtime(PARAMS)
    with pytest.raises(KeyError, match="no table named 'q' in this runtime"):
        rt.start_session("q")


def test_guard_parameters_may_be_table_parameters(make_runtime):
    spec = {
        "table": "gp",
        "parameters": {"busy": 486},
        "states": {"Idle": {}, "Busy": {}, "Other": {}, "End": {"final": True}},
        "transitions": [
            {"from": "Idle", "on": "Dialog4xxFailure", "if": [{"code": {"param": "busy"}}], "to": "Busy"},
            {"from": "Idle", "on": "Dialog4xxFailure", "to": "Other"},
            {"from": ["Busy", "Other"], "on": "Go", "to": "End"},
        ],
    }
    rt = make_runtime(spec)
    a, b = rt.start_session("gp"), rt.start_session("gp", params={"busy": "600,486"})
    c = rt.start_session("gp", params={"busy": "600"})
    for s in (a, b, c):
        rt.dispatch(s, "Dialog4xxFailure", {"code": 486})
    assert (a.state, b.state, c.state) == ("Busy", "Busy", "Other")
