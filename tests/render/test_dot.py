"""render_dot: Graphviz accepts it, and the drawing shows what the table says."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.tables.model import ANY, StateDef
from sipflow.tables.render import ANY_LABEL, dot_lines, dot_quote, render_dot, state_ids

SVG = "{http://www.w3.org/2000/svg}"


def node_label(rt, node) -> str:
    return "\n".join(rt.svg_text(node))


def test_dot_parses_and_every_state_is_a_node(rt, dot_exe, call_table):
    svg = rt.dot_to_svg(dot_exe, render_dot(call_table))
    assert svg.tag == f"{SVG}svg"
    nodes = rt.svg_groups(svg, "node")
    for name in call_table.states:
        assert name in nodes, name
        assert node_label(rt, nodes[name]).split("\n")[0] == name


def test_final_state_is_a_double_circle_and_others_are_boxes(rt, dot_exe, call_table):
    nodes = rt.svg_groups(rt.dot_to_svg(dot_exe, render_dot(call_table)), "node")
    assert len(nodes["Terminated"].findall(f"{SVG}ellipse")) == 2
    for name in ("Idle", "Calling", "Active"):
        assert nodes[name].findall(f"{SVG}ellipse") == []
        assert nodes[name].findall(f"{SVG}path"), name  # rounded box


def test_initial_state_is_entered_from_a_start_point(rt, dot_exe, call_table):
    svg = rt.dot_to_svg(dot_exe, render_dot(call_table))
    edges = rt.svg_groups(svg, "edge")
    starts = [title for title in edges if title.endswith("->Idle") and title.startswith("__start__")]
    assert starts == ["__start__->Idle"]
    start_node = rt.svg_groups(svg, "node")["__start__"]
    assert len(start_node.findall(f"{SVG}ellipse")) == 1  # the point


def test_rows_between_two_states_share_one_edge_one_line_per_row(rt, dot_exe, call_table):
    edges = rt.svg_groups(rt.dot_to_svg(dot_exe, render_dot(call_table)), "edge")
    expected: dict[str, list[str]] = {"__start__->Idle": []}
    for r in call_table.rows:
        for s in (["AnyState"] if r.is_any else r.sources):
            expected.setdefault(f"{s}->{r.target or s}", []).append(r.label())
    assert {title: rt.svg_text(g) for title, g in edges.items()} == expected
    assert expected["Calling->Terminated"] == ["Dialog4xxFailure [code=486|600]",
                                               "TimerNoAnswer / SendCANCEL"]


def test_dot_lines_centres_one_line_and_left_justifies_several():
    assert dot_lines(["a"]) == '"a"'
    assert dot_lines(['a "x"', "b\\c"]) == '"a \\"x\\"\\lb\\\\c\\l"'


def test_stay_row_is_a_self_loop(rt, dot_exe, call_table):
    edges = rt.svg_groups(rt.dot_to_svg(dot_exe, render_dot(call_table)), "edge")
    assert "Active->Active" in edges
    assert rt.svg_text(edges["Active->Active"]) == ["DialogUPDATE [not has_sdp] / SendSIPResponse(code=200)"]


def test_any_rows_leave_one_pseudo_node_instead_of_every_state(rt, dot_exe, call_table):
    svg = rt.dot_to_svg(dot_exe, render_dot(call_table))
    nodes, edges = rt.svg_groups(svg, "node"), rt.svg_groups(svg, "edge")
    assert rt.svg_text(nodes["AnyState"]) == [ANY_LABEL]
    assert rt.svg_text(edges["AnyState->Terminated"]) == ["DialogBYE / SendSIPResponse(code=200)"]
    bye_edges = [t for t, g in edges.items() if " ".join(rt.svg_text(g)).startswith("DialogBYE")]
    assert bye_edges == ["AnyState->Terminated"]


def test_no_any_node_without_any_rows(rt, dot_exe, call_table):
    call_table.rows = [r for r in call_table.rows if not r.is_any]
    assert "AnyState" not in rt.svg_groups(rt.dot_to_svg(dot_exe, render_dot(call_table)), "node")


def test_timers_are_written_inside_their_state(rt, dot_exe, call_table):
    nodes = rt.svg_groups(rt.dot_to_svg(dot_exe, render_dot(call_table)), "node")
    assert rt.svg_text(nodes["Calling"]) == ["Calling", "timer NoAnswer $no_answer=180s"]
    assert rt.svg_text(nodes["Ringing"]) == ["Ringing", "timer Guard 500ms"]


def test_pseudo_node_ids_never_collide_with_states(rt, dot_exe, call_table):
    for i, name in enumerate(("__start__", "AnyState", "node", "graph")):
        call_table.states[name] = StateDef(name, rt.src(30 + i))
    ids = state_ids(call_table)
    svg = rt.dot_to_svg(dot_exe, render_dot(call_table))
    nodes = rt.svg_groups(svg, "node")
    assert len(nodes) == len(call_table.states) + 2  # plus the start point and Any
    for name in call_table.states:
        assert rt.svg_text(nodes[ids[name]])[0] == name
    assert rt.svg_text(nodes[ids[ANY]]) == [ANY_LABEL]
    assert ids[ANY] == "AnyState_2"
    assert "__start__" in nodes and rt.svg_text(nodes["__start__"]) == []


def test_tricky_names_and_labels_survive_graphviz(rt, dot_exe, tricky_table):
    svg = rt.dot_to_svg(dot_exe, render_dot(tricky_table))
    texts = [node_label(rt, g) for g in rt.svg_groups(svg, "node").values()]
    for name in tricky_table.states:
        assert name in texts, name
    edge_texts = [" ".join(rt.svg_text(g)) for g in rt.svg_groups(svg, "edge").values()]
    assert tricky_table.rows[0].label() in edge_texts
    graph_title = [t.text for t in svg.iter(f"{SVG}text")][0]
    assert graph_title == 'weird "table": v1 (UAC)'


def test_dot_quote_escapes_quotes_backslashes_and_newlines():
    assert dot_quote('a"b') == '"a\\"b"'
    assert dot_quote("a\\") == '"a\\\\"'
    assert dot_quote("a\r\nb") == '"a\\nb"'
    assert dot_quote("&amp;") == '"&amp;amp;"'


NAMES = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation, min_size=1,
                max_size=12)


@settings(max_examples=25, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique=True))
def test_any_printable_state_name_round_trips_through_graphviz(rt, dot_exe, names):
    states = {n: StateDef(n, rt.src(i + 2)) for i, n in enumerate(names)}
    rows = [rt.row(a, "DialogINFO", to=b, line=20 + i) for i, (a, b) in enumerate(zip(names, names[1:], strict=False))]
    table = rt.build_table(names[0], states, rows)
    svg = rt.dot_to_svg(dot_exe, render_dot(table))
    labels = sorted(node_label(rt, g) for t, g in rt.svg_groups(svg, "node").items()
                    if t != "__start__")
    assert labels == sorted(names)
    assert len(rt.svg_groups(svg, "edge")) == len(rows) + 1
