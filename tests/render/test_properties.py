"""Properties over generated tables: whatever the names, Mermaid fits the grammar and
says what the table says, Graphviz accepts the dot text, Markdown keeps its columns;
and a page does not depend on the working directory."""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.tables.loader import load_table
from sipflow.tables.model import ANY, ActionCall, GuardCall, Row, Source, StateDef, Table
from sipflow.tables.render import render_dot, render_markdown, render_mermaid, state_ids

NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
VALUE = st.one_of(st.integers(-5, 700), NAME, st.lists(st.integers(100, 699), max_size=3))


@st.composite
def tables(draw) -> Table:
    names = draw(st.lists(NAME.filter(lambda n: n != ANY), min_size=1, max_size=6, unique=True))
    src = Source("/t/gen.yaml", 1)
    states = {n: StateDef(n, Source("/t/gen.yaml", i + 2), final=draw(st.booleans()))
              for i, n in enumerate(names)}
    rows = []
    for i in range(draw(st.integers(0, 10))):
        sources = tuple(draw(st.lists(st.sampled_from([*names, ANY]), min_size=1, max_size=3, unique=True)))
        if ANY in sources:
            sources = (ANY,)
        guards = tuple(GuardCall(draw(NAME), draw(st.dictionaries(NAME, VALUE, max_size=2)),
                                 draw(st.booleans()), src) for _ in range(draw(st.integers(0, 2))))
        actions = tuple(ActionCall(draw(NAME), draw(st.dictionaries(NAME, VALUE, max_size=2)), src)
                        for _ in range(draw(st.integers(0, 2))))
        target = draw(st.one_of(st.none(), st.sampled_from(names)))
        rows.append(Row(sources, draw(NAME), guards, actions, target,
                        tuple(draw(st.lists(NAME, max_size=2))), Source("/t/gen.yaml", 20 + i)))
    return Table(name=draw(NAME), role=draw(NAME), initial=draw(st.sampled_from(names)),
                 states=states, rows=rows, source=src, description=draw(st.text(max_size=30)))


def drawn(table: Table) -> list[tuple[str, str, str]]:
    ids = state_ids(table)
    return [(ids[s], ids[r.target] if r.target else ids[s], r.label())
            for r in table.rows for s in ([ANY] if r.is_any else r.sources)]


@settings(max_examples=60, deadline=None)
@given(tables())
def test_mermaid_of_any_table_fits_the_grammar_and_round_trips(rt, table):
    states, _, transitions = rt.parse_mermaid(render_mermaid(table))
    ids = state_ids(table)
    assert {ids[n]: n for n in table.states}.items() <= states.items()
    got = [(a, b, line) for a, b, lines in transitions for line in lines]
    assert sorted(got) == sorted(drawn(table))
    assert ("[*]", ids[table.initial], ()) in transitions
    assert sorted(a for a, b, _ in transitions if b == "[*]") == sorted(ids[f] for f in table.final_states)


@settings(max_examples=20, deadline=None)
@given(tables())
def test_graphviz_accepts_the_dot_of_any_table(rt, dot_exe, table):
    svg = rt.dot_to_svg(dot_exe, render_dot(table))
    edges = rt.svg_groups(svg, "edge")
    lines = [line for title, g in edges.items() if not title.startswith("__start__")
             for line in rt.svg_text(g)]
    # SVG text keeps words, not runs of blanks: compare with whitespace normalised.
    assert sorted(" ".join(x.split()) for x in lines) == sorted(" ".join(lab.split())
                                                                for _, _, lab in drawn(table))


@settings(max_examples=40, deadline=None)
@given(tables())
def test_markdown_of_any_table_keeps_seven_columns_per_row(table):
    page = render_markdown(table)
    section = page.split("\n## Transitions\n")[1].split("\n## States\n")[0]
    body = [ln for ln in section.split("\n") if ln.startswith("|")][2:]
    assert len(body) == len(table.rows)
    for line in body:
        assert len(re.split(r"(?<!\\)\|", line)) == 9, line


def test_page_is_the_same_from_any_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    table = load_table("uac_call")
    shipped_dir = os.path.dirname(table.source.file)
    assert os.path.isabs(shipped_dir)  # outside the working directory: an absolute path
    elsewhere = render_markdown(table)
    monkeypatch.chdir(os.path.dirname(shipped_dir))  # the loader may now give relative paths
    assert render_markdown(load_table("uac_call")) == elsewhere
    assert "| `Any` | `DialogBYE` |" in elsewhere and "`fragments/in_dialog.yaml:" in elsewhere
    assert shipped_dir not in elsewhere
