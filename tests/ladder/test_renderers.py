"""Text, Mermaid and HTML renderings of a real loopback call and of tricky labels."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from sipflow.ladder import FORMATS, render
from sipflow.ladder.html import render_html
from sipflow.ladder.mermaid import escape, render_mermaid
from sipflow.ladder.model import Ladder, from_loopback
from sipflow.ladder.text import MIN_GAP, print_ladder, render_lines, render_text

CALL = ["INVITE", "180", "200", "ACK", "BYE", "200"]
"""The call without 100 Trying, which the core may or may not send when answering at once."""


def call_ladder(call, **net_args) -> Ladder:
    net_args.setdefault("delay", 0.01)
    result = call(**net_args)
    ladder = from_loopback(result.trace, "call", names={"10.0.0.1:5060": "alice"})
    ladder.state(0.0, result.a, "Idle", "Calling")
    ladder.timer(0.0, result.b, "TimerAnswer")
    ladder.note(0.0, "call starts")
    return ladder


def arrow_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(r"[─ ]{3}[>x]│|│[<x][─ ]{3}", line)]


# ------------------------------------------------------------------ text


def test_text_has_the_call_in_order_with_directions(call):
    ladder = call_ladder(call)
    text = render_text(ladder, 100)
    rows = arrow_rows(text)
    firsts = [re.search(r"(INVITE|ACK|BYE|\d{3})", row[row.index("│"):]).group(1)
              for row in rows]
    firsts = [name for name in firsts if name != "100"]
    assert firsts == CALL
    for row, name in zip(rows, firsts, strict=True):
        to_right = ">" in row
        assert to_right == (not name.isdigit()), row  # requests go right, responses left
    assert "alice (10.0.0.1:5060)" in text.splitlines()[1]
    assert "[Idle → Calling]" in text and "⏱ TimerAnswer" in text and "── call starts ──" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_text_marks_lost_messages(call):
    text = render_text(call_ladder(call, loss=0.35, delay=0.02, seed=3), 100)
    lost = [line for line in text.splitlines() if "[dropped]" in line]
    assert lost and all("x│" in line or "│x" in line for line in lost)


def test_text_is_width_aware_and_moves_long_labels_above():
    ladder = Ladder()
    a, b, c = ("10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3")
    ladder.message(0.0, a, c, b"OPTIONS sip:" + b"x" * 60 + b"@h SIP/2.0\r\nVia: SIP/2.0/UDP h;"
                   b"branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: 1\r\n"
                   b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    ladder.participant(b)
    narrow, wide = render_text(ladder, 60), render_text(ladder, 160)
    label = "OPTIONS sip:" + "x" * 60 + "@h"
    assert label in narrow and label in wide
    narrow_lines = narrow.splitlines()
    above = next(i for i, line in enumerate(narrow_lines) if label in line)
    assert ">│" in narrow_lines[above + 1]  # the arrow is on the next line
    def gap(text: str) -> int:
        header = text.splitlines()[0]
        return header.index("10.0.0.3:3") - header.index("10.0.0.1:1")

    assert gap(narrow) == MIN_GAP and gap(wide) > 60  # lifelines spread over the width
    many = Ladder()
    for i in range(10):
        many.participant(f"10.0.0.{i}:5060")
    lifelines = render_text(many, 80).splitlines()[1]
    positions = [m.start() for m in re.finditer("│", lifelines)]
    assert len(positions) == 10 and min(b - a for a, b in zip(positions, positions[1:],
                                                                strict=False)) >= MIN_GAP


def test_message_to_itself_and_empty_ladder():
    ladder = Ladder()
    ladder.message(0.0, "h:1", "h:1", b"junk")
    assert "─┐ malformed:" in render_text(ladder)
    assert render_text(Ladder()) .strip() == ""


def test_rich_output_has_colours_on_a_terminal_only(call):
    ladder = call_ladder(call)
    lines = render_lines(ladder, 100)
    styles = {str(span.style) for line in lines for span in line.spans}
    assert {"cyan", "green", "yellow", "bold blue", "magenta"} <= styles
    term_out, plain_out = io.StringIO(), io.StringIO()
    print_ladder(ladder, Console(file=term_out, force_terminal=True, width=100,
                                 color_system="standard"))
    assert "\x1b[36m" in term_out.getvalue()  # cyan requests
    print_ladder(ladder, Console(file=plain_out, width=100))  # a file: not a terminal
    assert "\x1b[" not in plain_out.getvalue()
    assert plain_out.getvalue() == render_text(ladder, 100)


# --------------------------------------------------------------- mermaid


def test_mermaid_sequence_diagram(call):
    source = render_mermaid(call_ladder(call))
    lines = source.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert "    participant P1 as alice (10.0.0.1#58;5060)" in lines
    arrows = [line for line in lines if re.match(r"    P\d(->>|--x)P\d: ", line)]
    assert [n for n in (re.search(r": (\S+)", a).group(1) for a in arrows) if n != "100"] == CALL
    assert arrows[0] == "    P1->>P2: INVITE sip:bob@10.0.0.2"
    assert "    Note over P1: Idle → Calling" in lines
    assert "    Note over P2: ⏱ TimerAnswer" in lines
    assert "    Note over P1,P2: call starts" in lines


def test_mermaid_escapes_what_could_break_a_statement():
    assert escape("a;b#c<d>\ne") == "a#59;b#35;c#lt;d#gt; e"
    assert escape("x:1", colon=True) == "x#58;1"
    ladder = Ladder("t")
    ladder.note(0.0, "evil;\nP1->>P2: injected", "h:1")
    source = render_mermaid(ladder, times=True)
    assert "\n    P1->>P2: injected" not in source
    assert source.count("\n") == 4  # header, title, participant, one note


def test_mermaid_lost_arrow(call):
    source = render_mermaid(call_ladder(call, loss=0.35, delay=0.02, seed=3))
    assert re.search(r"\n    P\d--xP\d: .*\[dropped\]\n", source)


# ------------------------------------------------------------------ html


def test_html_is_self_contained_well_formed_and_complete(call):
    ladder = call_ladder(call, loss=0.35, delay=0.02, seed=3)
    ladder.message(9.0, "10.0.0.1:5060", "10.0.0.2:5062", b"<script>alert(1)</script> & junk")
    page = render_html(ladder)
    urls = re.findall(r"https?://[^\s\"'<>)]*", page)
    assert set(urls) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(script|link|img|iframe)\b", page, re.I)
    assert not re.search(r"\b(src|href)\s*=\s*\"(?!#)", page)  # only in-page anchors
    assert not re.search(r"@import|url\((?!#)", page)
    root = ET.fromstring(page.split("\n", 1)[1])  # parses as XML after the doctype
    assert root.tag == "html"
    svg = root.find("body/{http://www.w3.org/2000/svg}svg")
    assert svg is not None
    texts = ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    labels = [t for t in texts if re.match(r"(INVITE|ACK|BYE|\d{3}) ", t)]
    assert any("[dropped]" in t for t in labels)
    assert "Idle → Calling" in texts and "⏱ TimerAnswer" in texts
    details = root.findall("body/details")
    assert len(details) == len(ladder.messages)
    assert details[-1].find("pre").text == "<script>alert(1)</script> & junk"
    lines = [line for line in svg.iter("{http://www.w3.org/2000/svg}line")
             if "life" not in (line.get("class") or "")]
    assert len(lines) == len(ladder.messages)  # one arrow line per message


def test_render_dispatch():
    ladder = Ladder()
    ladder.note(0.0, "n", "h:1")
    assert set(FORMATS) == {"text", "mermaid", "html", "json"}
    assert render(ladder, "mermaid").startswith("sequenceDiagram")
    assert render(ladder, "html").startswith("<!DOCTYPE html>")
    assert json.loads(render(ladder, "json"))["entries"][0]["text"] == "n"
    assert "« n »" in render(ladder, "text")
    with pytest.raises(ValueError, match="'png': choose one of text, mermaid, html, json"):
        render(ladder, "png")


def test_json_has_every_entry_with_its_fields(call):
    ladder = call_ladder(call, loss=0.35, delay=0.02, seed=3)
    data = json.loads(render(ladder, "json"))
    assert data["title"] == "call" and data["start"] == ladder.start
    assert data["participants"][0] == {"key": "10.0.0.1:5060", "name": "alice"}
    assert [e["kind"] for e in data["entries"]] == [
        {"Message": "message", "StateChange": "state", "TimerFired": "timer",
         "Note": "note"}[type(e).__name__] for e in ladder.entries]
    messages = [e for e in data["entries"] if e["kind"] == "message"]
    assert [m["label"] for m in messages] == [m.label for m in ladder.messages]
    assert {m["lost"] for m in messages} == {None, "dropped"}
    assert any(m["retransmission"] for m in messages)
    assert all(m["raw"].startswith(m["label"].split(" ")[0]) or m["raw"].startswith("SIP/2.0")
               for m in messages)
    state = next(e for e in data["entries"] if e["kind"] == "state")
    assert (state["who"], state["old"], state["new"]) == ("10.0.0.1:5060", "Idle", "Calling")


def test_ipv6_and_tcp_call(call):
    ladder = from_loopback(call(transport="tcp", family=6).trace)
    assert list(ladder.participants) == ["[fd00::1]:5060", "[fd00::2]:5062"]
    text = render_text(ladder)
    assert "INVITE sip:bob@[fd00::2]" in text
    assert all(m.transport == "tcp" for m in ladder.messages)
