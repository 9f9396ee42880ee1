"""render_markdown: a page with the table's header, its Mermaid diagram and one
transition-table line per row, each with its ``file:line``."""

from __future__ import annotations

import re

from sipflow.tables.render import md_code, render_markdown, render_mermaid, source_text


def cells(line: str) -> list[str]:
    """The cells of a Markdown table line, splitting on unescaped pipes only."""
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def section(page: str, title: str) -> list[str]:
    lines = page.split("\n")
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def table_lines(lines: list[str]) -> list[list[str]]:
    rows = [cells(ln) for ln in lines if ln.startswith("|")]
    assert all(set(c) <= set("-") for c in rows[1]), "second line is the header rule"
    return [rows[0], *rows[2:]]


def unquote(cell: str) -> str:
    m = re.fullmatch(r"(`+) ?(.*?) ?\1", cell)
    assert m, cell
    return m.group(2).replace("\\|", "|")


def test_page_opens_with_title_description_and_header(call_table):
    page = render_markdown(call_table)
    lines = page.split("\n")
    assert lines[0] == "# State table `uac_call`"
    assert lines[2] == "Places a call &#124; and ends it &lt;politely&gt;."
    header = {c[0]: c[1] for c in (cells(ln) for ln in lines[4:16] if ln.startswith("| ") and "---" not in ln)}
    assert header["role"] == "`UAC`"
    assert header["starts on"] == "`MakeCall`"
    assert header["initial state"] == "`Idle`"
    assert header["final states"] == "`Terminated`"
    assert header["parameters"] == "`no_answer` = `180s`"
    assert header["includes"] == "`in_dialog`"
    assert header["source"] == "`uac_call.yaml:1`"
    assert header["version"] == "`abc123`"


def test_page_embeds_the_mermaid_diagram(call_table):
    page = render_markdown(call_table)
    block = re.search(r"```mermaid\n(.*?)```\n", page, re.S)
    assert block is not None
    assert block.group(1) == render_mermaid(call_table)


def test_one_transition_line_per_row_with_file_and_line(call_table):
    rows = table_lines(section(render_markdown(call_table), "Transitions"))
    assert rows[0] == ["from", "event", "guards", "actions", "to", "publish", "source"]
    body = rows[1:]
    assert len(body) == len(call_table.rows)
    for line, row in zip(body, call_table.rows, strict=True):
        assert len(line) == 7, line
        frm, event, guards, actions, to, publish, source = line
        assert [unquote(c) for c in frm.split(", ")] == list(row.sources)
        assert unquote(event) == row.event
        assert (unquote(guards) if guards else "") == ", ".join(g.label() for g in row.guards)
        assert (unquote(actions) if actions else "") == ", ".join(a.label() for a in row.actions)
        assert to == (f"`{row.target}`" if row.target else "(stays)")
        assert (unquote(publish) if publish else "") == ", ".join(row.publish)
        assert unquote(source) == source_text(row.source, call_table)
    assert unquote(body[0][6]) == "uac_call.yaml:15"
    assert unquote(body[-1][6]) == "fragments/in_dialog.yaml:3"
    assert body[3][2] == "`code=486\\|600`"


def test_multi_source_rows_list_every_state(call_table):
    body = table_lines(section(render_markdown(call_table), "Transitions"))[1:]
    assert body[1][0] == "`Calling`, `Ringing`"
    assert body[-1][0] == "`Any`"


def test_state_table_lists_kinds_timers_and_sources(call_table):
    rows = table_lines(section(render_markdown(call_table), "States"))
    assert rows[0] == ["state", "kind", "timers", "description", "source"]
    by_name = {unquote(r[0]): r[1:] for r in rows[1:]}
    assert list(by_name) == list(call_table.states)
    assert by_name["Idle"][0] == "initial"
    assert by_name["Terminated"][0] == "final"
    assert by_name["Calling"][1] == "`timer NoAnswer $no_answer=180s`"
    assert by_name["Ringing"] == ["", "`timer Guard 500ms`", "", "`uac_call.yaml:10`"]
    assert by_name["Active"][2] == "talking &lt;both ways&gt; &#124; media flows"


def test_tricky_values_never_break_the_tables(tricky_table):
    page = render_markdown(tricky_table)
    body = table_lines(section(page, "Transitions"))[1:]
    assert len(body) == len(tricky_table.rows)
    assert all(len(line) == 7 for line in body)
    assert unquote(body[0][3]) == "SendSIPResponse(code=200,reason=OK: [fine] | {yes} #1)"
    names = [unquote(r[0]) for r in table_lines(section(page, "States"))[1:]]
    assert names == [" ".join(n.split()) for n in tricky_table.states]
    assert "<b>" not in page.replace("```mermaid", "").split("## Diagram")[0]


def test_code_spans_survive_backticks_and_pipes():
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("") == ""


def test_sources_outside_the_table_folder_keep_their_path(rt, call_table):
    call_table.rows[0].source = rt.src(7, "/elsewhere/shared.yaml")
    body = table_lines(section(render_markdown(call_table), "Transitions"))[1:]
    assert unquote(body[0][6]) == "/elsewhere/shared.yaml:7"
