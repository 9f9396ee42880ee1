"""Every shipped table renders in every text format, and each output is well formed."""

from __future__ import annotations

import pytest

from sipflow.tables.loader import load_table, shipped_table_names
from sipflow.tables.render import render_dot, render_markdown, render_mermaid, state_ids

NAMES = shipped_table_names()


def test_the_default_call_tables_are_shipped():
    assert {"uac_call", "uas_call"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_dot_is_accepted_by_graphviz(rt, dot_exe, name):
    table = load_table(name)
    svg = rt.dot_to_svg(dot_exe, render_dot(table))
    nodes = rt.svg_groups(svg, "node")
    ids = state_ids(table)
    for state in table.states.values():
        assert rt.svg_text(nodes[ids[state.name]])[0] == state.name
    lines = [line for g in rt.svg_groups(svg, "edge").values() for line in rt.svg_text(g)]
    expected = [label for r in table.rows
                for label in [r.label()] * (1 if r.is_any else len(r.sources))]
    assert sorted(lines) == sorted(expected)


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_fits_the_grammar_with_one_label_line_per_row(rt, name):
    table = load_table(name)
    states, _, transitions = rt.parse_mermaid(render_mermaid(table))
    assert len(states) == len(table.states) + any(r.is_any for r in table.rows)
    lines = [line for t in transitions for line in t[2]]
    assert len(lines) == sum(1 if r.is_any else len(r.sources) for r in table.rows)
    assert sorted(lines) == sorted(label for r in table.rows
                                   for label in [r.label()] * (1 if r.is_any else len(r.sources)))
    assert transitions[0] == ("[*]", state_ids(table)[table.initial], ())


@pytest.mark.parametrize("name", NAMES)
def test_markdown_has_one_line_per_row_with_file_and_line(name):
    table = load_table(name)
    page = render_markdown(table)
    assert page.startswith(f"# State table `{table.name}`\n")
    assert "```mermaid\n" + render_mermaid(table) + "```\n" in page
    transitions = page.split("## Transitions")[1].split("## States")[0]
    body = [ln for ln in transitions.splitlines() if ln.startswith("| `")]
    assert len(body) == len(table.rows)
    for line, row in zip(body, table.rows, strict=True):
        assert line.endswith(f":{row.source.line}` |"), line
        assert f"`{row.event}`" in line
