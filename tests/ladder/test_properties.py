"""Properties over random ladders: every renderer copes with any text, the HTML always
parses, Mermaid keeps one statement per entry, text arrows point the right way."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.ladder.html import render_html
from sipflow.ladder.mermaid import render_mermaid
from sipflow.ladder.model import Ladder
from sipflow.ladder.text import render_text

KEYS = ["10.0.0.1:5060", "10.0.0.2:5060", "[fd00::3]:5062", "alice-host:1"]
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


def request(method: str) -> bytes:
    return (f"{method} sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            f"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 {method}\r\n"
            f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


entries = st.lists(st.one_of(
    st.tuples(st.just("message"), st.sampled_from(KEYS), st.sampled_from(KEYS),
              st.sampled_from(["INVITE", "BYE", "OPTIONS"]), st.sampled_from([None, "dropped"])),
    st.tuples(st.just("raw"), st.sampled_from(KEYS), st.sampled_from(KEYS), st.binary(max_size=60),
              st.none()),
    st.tuples(st.just("state"), st.sampled_from(KEYS), TEXT, TEXT, st.none()),
    st.tuples(st.just("timer"), st.sampled_from(KEYS), TEXT, st.none(), st.none()),
    st.tuples(st.just("note"), st.sampled_from([*KEYS, None]), TEXT, st.none(), st.none()),
), max_size=25)


def build(items, names) -> Ladder:
    ladder = Ladder("random <&> \"ladder\"")
    for key, name in zip(KEYS, names, strict=False):
        if name:
            ladder.participant(key, name)
    for i, (kind, a, b, c, d) in enumerate(items):
        t = i * 0.25
        if kind == "message":
            ladder.message(t, a, b, request(c), lost=d)
        elif kind == "raw":
            ladder.message(t, a, b, c)
        elif kind == "state":
            ladder.state(t, a, b, c)
        elif kind == "timer":
            ladder.timer(t, a, b)
        else:
            ladder.note(t, b, a)
    return ladder


@settings(max_examples=60, deadline=None)
@given(items=entries, names=st.lists(st.one_of(st.none(), TEXT), max_size=4),
       width=st.integers(40, 200))
def test_every_renderer_copes(items, names, width):
    ladder = build(items, names)
    page = render_html(ladder)
    root = ET.fromstring(page.split("\n", 1)[1])
    assert len(root.findall("body/details")) == len(ladder.messages)
    assert set(re.findall(r"https?://[^\s\"'<>]*", page)) <= {"http://www.w3.org/2000/svg"}
    source = render_mermaid(ladder)
    lines = source.splitlines()
    assert lines[0] == "sequenceDiagram" and lines[1].startswith("    title ")
    body = lines[2 + len(ladder.participants):]
    placed = [e for e in ladder.entries if ladder.participants or getattr(e, "who", 1)]
    assert len(body) == len(placed)  # one statement each: nothing escaped its line
    assert all(re.match(r"    (P\d+(->>|--x)P\d+|Note over P\d+(,P\d+)?): ", line) for line in body)
    text = render_text(ladder, width)
    for message in ladder.messages:
        if message.src == message.dst:
            continue
        keys = list(ladder.participants)
        rightwards = keys.index(message.dst) > keys.index(message.src)
        head = "x" if message.lost else (">" if rightwards else "<")
        rows = [row for row in text.splitlines() if head + "│" in row or "│" + head in row]
        assert rows  # an arrow head of the right kind exists for each message
