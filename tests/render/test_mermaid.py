"""render_mermaid: output that a conservative stateDiagram-v2 grammar accepts, and that
says exactly what the table says once entity codes are decoded."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.tables.model import ANY
from sipflow.tables.render import (
    ANY_LABEL,
    MERMAID_KEYWORDS,
    mermaid_text,
    render_mermaid,
    state_ids,
    timer_label,
)

ID = r"[A-Za-z_][A-Za-z0-9_]*"
TEXT = r"(?:[A-Za-z0-9 _.,=()$/+\-'!?@*]|#[0-9]+;)*"
END = r"(?:\[\*\]|" + ID + r")"
LINE_RULES = [
    ("comment", re.compile(r"^    %% [^\n]*$")),
    ("declare", re.compile(rf'^    state "({TEXT})" as ({ID})$')),
    ("describe", re.compile(rf"^    ({ID}) : ({TEXT})$")),
    ("transition", re.compile(rf"^    ({END}) --> ({END})(?: : ({TEXT}))?$")),
    ("bare", re.compile(rf"^    ({ID})$")),
]


def decode(text: str) -> str:
    return re.sub(r"#([0-9]+);", lambda m: chr(int(m.group(1))), text)


def parse(diagram: str) -> tuple[dict[str, str], dict[str, list[str]], list[tuple[str, str, str | None]]]:
    """Check ``diagram`` line by line against a conservative subset of stateDiagram-v2.

    Returns the states (id → decoded label), their descriptions and the transitions
    (source id, target id, decoded label) in order. Fails on anything outside the subset.
    """
    lines = diagram.split("\n")
    assert lines[0] == "stateDiagram-v2"
    assert lines[-1] == "", "the diagram ends with a newline"
    states: dict[str, str] = {}
    descriptions: dict[str, list[str]] = {}
    transitions: list[tuple[str, str, str | None]] = []
    for number, line in enumerate(lines[1:-1], start=2):
        for kind, rule in LINE_RULES:  # noqa: B007 - kind is used after the loop
            m = rule.match(line)
            if m:
                break
        else:
            raise AssertionError(f"line {number} is outside the grammar: {line!r}")
        ids = [g for g in m.groups() if g is not None and re.fullmatch(ID, g)] if kind != "comment" else []
        for sid in ids[:2] if kind == "transition" else ids[-1:]:
            assert sid.lower() not in MERMAID_KEYWORDS, f"line {number}: keyword used as id {sid!r}"
        if kind == "bare":
            assert m.group(1) not in states, f"line {number}: {m.group(1)} declared twice"
            states[m.group(1)] = m.group(1)
        elif kind == "declare":
            assert m.group(2) not in states, f"line {number}: {m.group(2)} declared twice"
            states[m.group(2)] = decode(m.group(1))
        elif kind == "describe":
            assert m.group(1) in states, f"line {number}: describes undeclared {m.group(1)}"
            descriptions.setdefault(m.group(1), []).append(decode(m.group(2)))
        elif kind == "transition":
            src, dst, label = m.group(1), m.group(2), m.group(3)
            for end in (src, dst):
                assert end == "[*]" or end in states, f"line {number}: undeclared state {end}"
            assert not (src == "[*]" and dst == "[*]"), f"line {number}: [*] --> [*]"
            transitions.append((src, dst, None if label is None else decode(label)))
    return states, descriptions, transitions


def expected_transitions(table) -> list[tuple[str, str, str | None]]:
    ids = state_ids(table)
    out: list[tuple[str, str, str | None]] = [("[*]", ids[table.initial], None)]
    for r in table.rows:
        for s in ([ANY] if r.is_any else r.sources):
            out.append((ids[s], ids[r.target] if r.target else ids[s], r.label()))
    out += [(ids[f], "[*]", None) for f in table.final_states]
    return out


def test_call_table_fits_the_grammar_and_says_what_the_table_says(call_table):
    states, descriptions, transitions = parse(render_mermaid(call_table))
    assert states == {**{n: n for n in call_table.states}, "AnyState": ANY_LABEL}
    assert descriptions == {"Calling": ["timer NoAnswer $no_answer=180s"], "Ringing": ["timer Guard 500ms"]}
    assert transitions == expected_transitions(call_table)


def test_initial_and_final_states_use_the_start_and_end_markers(call_table):
    _, _, transitions = parse(render_mermaid(call_table))
    assert transitions[0] == ("[*]", "Idle", None)
    assert [t for t in transitions if t[1] == "[*]"] == [("Terminated", "[*]", None)]


def test_stay_rows_are_self_loops_and_any_rows_are_not_copied(call_table):
    _, _, transitions = parse(render_mermaid(call_table))
    assert ("Active", "Active", "DialogUPDATE [not has_sdp] / SendSIPResponse(code=200)") in transitions
    bye = [t for t in transitions if t[2] and t[2].startswith("DialogBYE")]
    assert bye == [("AnyState", "Terminated", "DialogBYE / SendSIPResponse(code=200)")]


def test_tricky_names_fit_the_grammar_and_round_trip(tricky_table):
    states, descriptions, transitions = parse(render_mermaid(tricky_table))
    ids = state_ids(tricky_table)
    assert {ids[n]: n for n in tricky_table.states} == {k: v for k, v in states.items() if k != ids[ANY]}
    assert states[ids[ANY]] == ANY_LABEL
    assert transitions == expected_transitions(tricky_table)
    assert ids["end"] != "end" and ids["state"] != "state"
    assert ("s_end", "[*]", None) in transitions


def test_timer_descriptions_with_parameters_are_escaped(call_table):
    text = render_mermaid(call_table)
    label = timer_label(call_table.states["Calling"].timers[0], call_table.parameters)
    assert f"    Calling : {mermaid_text(label)}" in text.split("\n")


def test_reserved_characters_become_entity_codes():
    assert mermaid_text('a:b;c"d[e]f#g') == "a#58;b#59;c#34;d#91;e#93;f#35;g"
    assert mermaid_text("x|y <z> {w} %%") == "x#124;y #60;z#62; #123;w#125; #37;#37;"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_escapes_to_grammar_safe_text_and_decodes_back(text):
    escaped = mermaid_text(text)
    assert re.fullmatch(TEXT, escaped)
    assert decode(escaped) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=8, unique=True))
def test_state_ids_are_unique_plain_and_never_keywords(rt, names):
    names = [n for n in names if n != ANY] or ["Idle"]
    table = rt.build_table("t", {n: rt.make_call_table().states["Idle"] for n in names}, [])
    ids = state_ids(table)
    assert len(set(ids.values())) == len(ids) == len(names) + 1
    for sid in ids.values():
        assert re.fullmatch(ID, sid) and sid.lower() not in MERMAID_KEYWORDS
