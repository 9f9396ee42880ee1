"""Lint semantics beyond the one-per-rule fixtures: overlap logic, graph rules, options."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipflow.runtime.builtins import default_registry
from sipflow.tables.duration import is_duration, parse_duration
from sipflow.tables.lint import lint_paths, lint_table, lint_tables
from sipflow.tables.lint_rows import exclusive
from sipflow.tables.loader import load_table
from sipflow.tables.model import ActionCall, GuardCall, Row, Source, StateDef, Table

HEAD = """\
table: t
role: UA
starts_on: [MakeCall]
initial: Idle
states:
  Idle: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: MakeCall, to: Done}
"""


def rules(tmp_path: Path, rows: str, head: str = HEAD) -> list[tuple[str, int]]:
    path = tmp_path / "t.yaml"
    path.write_text(head + rows)
    return [(d.rule, d.line) for d in lint_paths([path]).diagnostics]


@pytest.mark.parametrize("first, second", [
    ("[{code: 486}]", "[{code: 404}]"),
    ("[{code: [486, 480]}]", "[{code: 404}]"),
    ("[{response_to: INVITE}]", "[{response_to: BYE}]"),
    ("[has_sdp]", "[{not: has_sdp}]"),
    ("[{code: 486}]", "[{not: {code: [486, 600]}}]"),
    ("[in_dialog, {code: 486}]", "[has_sdp, {code: 487}]"),
])
def test_exclusive_guards_are_not_overlaps(tmp_path: Path, first: str, second: str) -> None:
    rows = (f"  - {{from: Idle, on: Dialog4xxFailure, if: {first}, to: Done}}\n"
            f"  - {{from: Idle, on: Dialog4xxFailure, if: {second}, to: Done}}\n")
    assert rules(tmp_path, rows) == []


@pytest.mark.parametrize("first, second", [
    ("[{code: [486, 480]}]", "[{code: 480}]"),  # not a subset by guard identity: can both hold
    ("[{not: {code: 486}}]", "[{code: [486, 480]}]"),
    ("[has_sdp]", "[in_dialog]"),
    ("[{code: {param: c}}]", "[{code: 486}]"),
])
def test_overlapping_guards_warn_once_at_the_later_row(tmp_path: Path, first: str, second: str) -> None:
    head = HEAD.replace("initial:", "parameters: {c: 486}\ninitial:")
    rows = (f"  - {{from: Idle, on: Dialog4xxFailure, if: {first}, to: Done}}\n"
            f"  - {{from: Idle, on: Dialog4xxFailure, if: {second}, to: Done}}\n")
    found = [r for r in rules(tmp_path, rows, head) if r[0] != "W-UNUSED-PARAM"]
    assert found == [("W-OVERLAP", 12)]


def test_specific_then_general_is_a_fallback(tmp_path: Path) -> None:
    rows = ("  - {from: Idle, on: Dialog4xxFailure, if: [{code: 486}, has_sdp], to: Done}\n"
            "  - {from: Idle, on: Dialog4xxFailure, if: [{code: 486}], to: Done}\n"
            "  - {from: Idle, on: Dialog4xxFailure, to: Done}\n")
    assert rules(tmp_path, rows) == []


def test_code_list_order_and_scalar_form_are_the_same_guard(tmp_path: Path) -> None:
    rows = ("  - {from: Idle, on: Dialog4xxFailure, if: [{code: [600, 486]}], to: Done}\n"
            "  - {from: Idle, on: Dialog4xxFailure, if: [{code: [486, 600]}], to: Done}\n"
            "  - {from: Idle, on: Dialog5xxFailure, if: [{code: 503}], to: Done}\n"
            "  - {from: Idle, on: Dialog5xxFailure, if: [{code: [503]}], to: Done}\n")
    assert rules(tmp_path, rows) == [("E-DUPLICATE-ROW", 11), ("E-DUPLICATE-ROW", 13)]


def test_named_row_overrides_any_row_without_report(tmp_path: Path) -> None:
    head = HEAD.replace("  Done:", "  Busy: {}\n  Done:")
    rows = ("  - {from: Idle, on: HangUp, to: Busy}\n"
            "  - {from: Busy, on: HangUp, to: Done}\n"
            "  - {from: Any, on: HangUp, to: Done}\n"
            "  - {from: Any, on: Answer, to: Done}\n")
    found = [r for r in rules(tmp_path, rows, head) if r[0] != "W-UNHANDLED-REQUEST"]
    # the Any HangUp row is overridden in Idle and Busy, i.e. everywhere: it never fires
    assert found == [("E-SHADOWED-ROW", 13)]


def test_any_row_hidden_by_earlier_any_row(tmp_path: Path) -> None:
    rows = ("  - {from: Any, on: HangUp, to: Done}\n"
            "  - {from: Any, on: HangUp, if: [has_sdp], to: Done}\n")
    assert rules(tmp_path, rows) == [("E-SHADOWED-ROW", 11)]


def test_row_listing_a_final_state_is_still_checked(tmp_path: Path) -> None:
    rows = "  - {from: [Idle, Done], on: HangUp, to: Done}\n"
    assert rules(tmp_path, rows) == []


def test_trap_loop_reported_at_each_state_of_the_loop(tmp_path: Path) -> None:
    head = HEAD.replace("  Done:", "  A: {}\n  B: {}\n  Done:")
    rows = ("  - {from: Idle, on: HangUp, to: A}\n"
            "  - {from: A, on: HangUp, to: B}\n"
            "  - {from: B, on: HangUp, to: A}\n"
            "  - {from: Any, on: DialogBYE, do: [{SendSIPResponse: {code: 200}}]}\n")
    found = [r for r in rules(tmp_path, rows, head) if r[0] != "W-UNHANDLED-REQUEST"]
    assert found == [("E-NO-FINAL-PATH", 7), ("E-NO-FINAL-PATH", 8)]


def test_timer_event_without_declaring_state(tmp_path: Path) -> None:
    rows = "  - {from: Idle, on: TimerLater, to: Done}\n"
    assert rules(tmp_path, rows) == [("E-UNKNOWN-EVENT", 10)]


def test_param_is_counts_as_use_and_checks_the_name(tmp_path: Path) -> None:
    head = HEAD.replace("initial:", "parameters: {mode: fast}\ninitial:")
    ok = "  - {from: Idle, on: HangUp, if: [{param_is: {name: mode, value: fast}}], to: Done}\n"
    assert rules(tmp_path, ok, head) == []
    bad = "  - {from: Idle, on: HangUp, if: [{param_is: {name: mood, value: fast}}], to: Done}\n"
    assert rules(tmp_path, bad, head) == [("W-UNUSED-PARAM", 4), ("E-UNKNOWN-PARAM", 11)]


def test_action_param_checks(tmp_path: Path) -> None:
    head = HEAD.replace("initial:", "parameters: {code: busy}\ninitial:")
    rows = ("  - from: Idle\n    on: HangUp\n    do:\n"
            "      - {SendSIPResponse: {reason: x}}\n"           # missing code
            "      - {SendSIPResponse: {code: 200, colour: red}}\n"  # unknown parameter
            "      - {SendSIPResponse: {code: 200, request: other}}\n"  # not in the enum
            "      - {SendSIPResponse: {code: {param: code}}}\n"   # default of the wrong type
            "    to: Done\n")
    found = rules(tmp_path, rows, head)
    assert found == [("E-ACTION-PARAM", 14), ("E-ACTION-PARAM", 15), ("E-ACTION-PARAM", 16),
                     ("E-ACTION-PARAM", 17)]


@pytest.mark.parametrize("event, guard, never", [
    ("Dialog4xxFailure", "{code: 503}", True),
    ("Dialog4xxFailure", "{code: 401}", True),
    ("DialogAuthChallenge", "{code: [401, 407]}", False),
    ("Dialog4xxFailure", "{code: [404, 503]}", False),
    ("Dialog200OK", "{code: 202}", False),
    ("Dialog1xxProvisional", "{code: 180}", True),
    ("DialogBYE", "{code: 200}", True),
    ("DialogBYE", "{response_to: BYE}", True),
    ("Dialog200OK", "{response_to: BYE}", False),
    ("Dialog4xxFailure", "{not: {code: 503}}", False),
])
def test_guards_that_never_hold(tmp_path: Path, event: str, guard: str, never: bool) -> None:
    rows = f"  - {{from: Idle, on: {event}, if: [{guard}], to: Done}}\n"
    assert rules(tmp_path, rows) == ([("E-GUARD-NEVER-HOLDS", 10)] if never else [])


def test_guard_without_parameters_given_one(tmp_path: Path) -> None:
    rows = "  - {from: Idle, on: HangUp, if: [{has_sdp: true}], to: Done}\n"
    assert rules(tmp_path, rows) == [("E-GUARD-PARAM", 10)]


def test_deliverable_limits_unhandled_request_warnings(tmp_path: Path) -> None:
    path = Path(__file__).parent / "fixtures" / "W-UNHANDLED-REQUEST.yaml"
    table = load_table(path)
    assert [d.rule for d in lint_table(table, deliverable={"DialogINVITE", "DialogREGISTER"})] == []
    (diag,) = lint_table(table, deliverable={"DialogBYE", "DialogOPTIONS"})
    assert "DialogBYE, DialogOPTIONS" in diag.message and "safe default" in diag.message


def test_fragment_problem_reported_once_for_two_tables(tmp_path: Path) -> None:
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "shared.yaml").write_text(
        "fragment: shared\ntransitions:\n  - {from: Any, on: HangUp, do: [Nonsense], to: Done}\n")
    for name, start in (("a", "MakeCall"), ("b", "DialogINVITE")):
        text = HEAD.replace("table: t", f"table: {name}").replace("[MakeCall]", f"[{start}]")
        text = text.replace("on: MakeCall", f"on: {start}").replace("initial:", "include: [shared]\ninitial:")
        (tmp_path / f"{name}.yaml").write_text(text)
    found = [(Path(d.file).name, d.line, d.rule) for d in lint_paths([tmp_path]).diagnostics]
    assert found == [("shared.yaml", 3, "E-UNKNOWN-ACTION")]


def test_lint_table_built_in_code_has_positions_from_sources() -> None:
    src = Source("<code>", 1)
    table = Table(
        name="coded", role="UA", initial="Idle", source=src, starts_on=("MakeCall",),
        states={"Idle": StateDef("Idle", Source("<code>", 2)), "Done": StateDef("Done", Source("<code>", 3), final=True)},
        rows=[Row(("Idle",), "MakeCall", (GuardCall("bogus", {}, False, Source("<code>", 5)),),
                  (ActionCall("SendINVITE", {}, Source("<code>", 6)),), "Done", (), Source("<code>", 4))],
    )
    found = [(d.rule, d.line) for d in lint_table(table, default_registry())]
    assert found == [("E-UNKNOWN-GUARD", 5)]


def test_lint_tables_cross_check() -> None:
    uac, uas = load_table("uac_call"), load_table("uas_call")
    assert lint_tables([uac, uas]) == []
    (diag,) = lint_tables([uac, uas, load_table("uac_call")])
    assert diag.rule == "E-STARTS-ON-CONFLICT" and "MakeCall" in diag.message


@pytest.mark.parametrize("text, seconds", [
    ("180s", 180.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), ("1.5s", 1.5), (" 7 ", 7.0),
    (3, 3.0), (0.25, 0.25), ("0s", 0.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("bad", ["soon", "-1s", "5 parsecs", True, None, [], -2, "1e3s", "s", float("inf")])
def test_bad_durations(bad: object) -> None:
    assert not is_duration(bad)
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


guard_sets = st.frozensets(st.tuples(
    st.sampled_from(["code", "response_to", "has_sdp"]), st.booleans(),
    st.sampled_from([(), (("value", frozenset({486})),), (("value", frozenset({486, 600})),),
                     (("value", frozenset({"BYE"})),)])), max_size=3)


@given(guard_sets, guard_sets)
def test_exclusive_is_symmetric_and_never_holds_for_a_set_and_its_subset(a, b) -> None:
    assert exclusive(a, b) == exclusive(b, a)
    # a consistent set (one that does not exclude itself) never excludes its own subsets
    if not exclusive(b, b) and a <= b:
        assert not exclusive(a, b)


@given(st.one_of(st.text(alphabet=" .0123456789smh-e", max_size=8), st.integers(-3, 10**6),
                 st.floats(allow_nan=True), st.booleans()))
def test_lint_and_runtime_agree_on_durations(value: object) -> None:
    """Lint must accept exactly the durations the runtime accepts (--set and {param:} values)."""
    from sipflow.runtime.params import ParamError
    from sipflow.runtime.params import parse_duration as runtime_parse

    try:
        expected: object = runtime_parse(value)
    except ParamError:
        expected = None
    assert (parse_duration(value) if is_duration(value) else None) == expected
