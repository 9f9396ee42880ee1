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


def expected_transitions(table) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the diagram must say: start, one edge per state pair with its rows' labels, ends."""
    ids = state_ids(table)
    edges: dict[tuple[str, str], tuple[str, ...]] = {}
    for r in table.rows:
        for s in ([ANY] if r.is_any else r.sources):
            key = (ids[s], ids[r.target] if r.target else ids[s])
            edges[key] = (*edges.get(key, ()), r.label())
    return ([("[*]", ids[table.initial], ())] + [(a, b, labels) for (a, b), labels in edges.items()]
            + [(ids[f], "[*]", ()) for f in table.final_states])


def test_call_table_fits_the_grammar_and_says_what_the_table_says(rt, call_table):
    states, descriptions, transitions = rt.parse_mermaid(render_mermaid(call_table))
    assert states == {**{n: n for n in call_table.states}, "AnyState": ANY_LABEL}
    assert descriptions == {"Calling": ["timer NoAnswer $no_answer=180s"], "Ringing": ["timer Guard 500ms"]}
    assert transitions == expected_transitions(call_table)


def test_initial_and_final_states_use_the_start_and_end_markers(rt, call_table):
    _, _, transitions = rt.parse_mermaid(render_mermaid(call_table))
    assert transitions[0] == ("[*]", "Idle", ())
    assert [t for t in transitions if t[1] == "[*]"] == [("Terminated", "[*]", ())]


def test_stay_rows_are_self_loops_and_any_rows_are_not_copied(rt, call_table):
    _, _, transitions = rt.parse_mermaid(render_mermaid(call_table))
    assert ("Active", "Active", ("DialogUPDATE [not has_sdp] / SendSIPResponse(code=200)",)) in transitions
    bye = [t for t in transitions if any(line.startswith("DialogBYE") for line in t[2])]
    assert bye == [("AnyState", "Terminated", ("DialogBYE / SendSIPResponse(code=200)",))]


def test_rows_between_two_states_share_one_transition(rt, call_table):
    _, _, transitions = rt.parse_mermaid(render_mermaid(call_table))
    assert ("Calling", "Terminated", ("Dialog4xxFailure [code=486|600]", "TimerNoAnswer / SendCANCEL")) in transitions
    assert "    Calling --> Terminated : Dialog4xxFailure #91;code=486#124;600#93;<br>TimerNoAnswer / SendCANCEL" \
        in render_mermaid(call_table).split("\n")


def test_tricky_names_fit_the_grammar_and_round_trip(rt, tricky_table):
    states, descriptions, transitions = rt.parse_mermaid(render_mermaid(tricky_table))
    ids = state_ids(tricky_table)
    assert {ids[n]: n for n in tricky_table.states} == {k: v for k, v in states.items() if k != ids[ANY]}
    assert states[ids[ANY]] == ANY_LABEL
    assert transitions == expected_transitions(tricky_table)
    assert ids["end"] != "end" and ids["state"] != "state"
    assert ("s_end", "[*]", ()) in transitions


def test_timer_descriptions_with_parameters_are_escaped(call_table):
    text = render_mermaid(call_table)
    label = timer_label(call_table.states["Calling"].timers[0], call_table.parameters)
    assert f"    Calling : {mermaid_text(label)}" in text.split("\n")


def test_reserved_characters_become_entity_codes():
    assert mermaid_text('a:b;c"d[e]f#g') == "a#58;b#59;c#34;d#91;e#93;f#35;g"
    assert mermaid_text("x|y <z> {w} %%") == "x#124;y #60;z#62; #123;w#125; #37;#37;"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_escapes_to_grammar_safe_text_and_decodes_back(rt, text):
    escaped = mermaid_text(text)
    assert re.fullmatch(TEXT, escaped)
    assert rt.decode_mermaid(escaped) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=8, unique=True))
def test_state_ids_are_unique_plain_and_never_keywords(rt, names):
    names = [n for n in names if n != ANY] or ["Idle"]
    table = rt.build_table("t", {n: rt.make_call_table().states["Idle"] for n in names}, [])
    ids = state_ids(table)
    assert len(set(ids.values())) == len(ids) == len(names) + 1
    for sid in ids.values():
        assert re.fullmatch(ID, sid) and sid.lower() not in MERMAID_KEYWORDS
