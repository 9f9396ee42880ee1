"""Tables built directly from the model, so render is tested without the YAML loader.

Helpers reach the tests through the ``rt`` fixture (import mode is importlib, so
test files cannot import this module by name).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from sipflow.tables.model import (
    ActionCall,
    GuardCall,
    ParamRef,
    Row,
    Source,
    StateDef,
    StateTimer,
    Table,
)
from sipflow.tables.render import MERMAID_KEYWORDS

SVG_NS = "{http://www.w3.org/2000/svg}"
TABLE_FILE = "/srv/tables/uac_call.yaml"
FRAGMENT_FILE = "/srv/tables/fragments/in_dialog.yaml"


def src(line: int, file: str = TABLE_FILE) -> Source:
    return Source(file, line, 3)


def row(sources: tuple[str, ...] | str, event: str, *, guards: tuple[GuardCall, ...] = (),
        actions: tuple[ActionCall, ...] = (), to: str | None = None,
        publish: tuple[str, ...] = (), line: int = 1, file: str = TABLE_FILE) -> Row:
    if isinstance(sources, str):
        sources = (sources,)
    return Row(sources, event, guards, actions, to, publish, src(line, file),
               origin="in_dialog" if file == FRAGMENT_FILE else "")


def act(name: str, line: int, **params: object) -> ActionCall:
    return ActionCall(name, dict(params), src(line))


def guard(guard_name: str, line: int, negate: bool = False, **params: object) -> GuardCall:
    return GuardCall(guard_name, dict(params), negate, src(line))


def build_table(name: str, states: dict[str, StateDef], rows: list[Row], **extra: object) -> Table:
    fields: dict[str, object] = {"role": "UAC", "initial": next(iter(states)),
                                 "source": src(1)}
    fields.update(extra)
    return Table(name=name, states=states, rows=rows, **fields)  # type: ignore[arg-type]


def make_call_table() -> Table:
    """A small UAC call: a timer, guards, a stay row, a fragment row from ``Any``."""
    states = {
        "Idle": StateDef("Idle", src(8)),
        "Calling": StateDef("Calling", src(9), timers=(
            StateTimer("NoAnswer", ParamRef("no_answer"), src(9)),)),
        "Ringing": StateDef("Ringing", src(10), timers=(StateTimer("Guard", 0.5, src(10)),)),
        "Active": StateDef("Active", src(11), description="talking <both ways>\n| media flows"),
        "Terminated": StateDef("Terminated", src(12), final=True),
    }
    rows = [
        row("Idle", "MakeCall", actions=(act("SendINVITE", 15),), to="Calling", line=15),
        row(("Calling", "Ringing"), "Dialog180Ringing", to="Ringing", publish=("Ringing",), line=16),
        row(("Calling", "Ringing"), "Dialog200OK", actions=(act("SendACK", 17),), to="Active",
            publish=("CallEstablished",), line=17),
        row(("Calling", "Ringing"), "Dialog4xxFailure", guards=(guard("code", 18, value=[486, 600]),),
            to="Terminated", publish=("CallFailed",), line=18),
        row("Calling", "TimerNoAnswer", actions=(act("SendCANCEL", 19),), to="Terminated", line=19),
        row("Active", "DialogUPDATE", guards=(guard("has_sdp", 20, negate=True),),
            actions=(act("SendSIPResponse", 20, code=200),), line=20),
        row("Active", "HangUp", actions=(act("SendBYE", 21),), to="Terminated",
            publish=("CallEnded",), line=21),
        row("Any", "DialogBYE", actions=(act("SendSIPResponse", 3, code=200),), to="Terminated",
            publish=("CallEnded",), line=3, file=FRAGMENT_FILE),
    ]
    return build_table("uac_call", states, rows, starts_on=("MakeCall",),
                       parameters={"no_answer": "180s"},
                       parameter_sources={"no_answer": src(5)}, includes=("in_dialog",),
                       description="Places a call | and ends it <politely>.", version="abc123")


TRICKY_NAMES = ['Say "hi"', "a:b", "x[1]", "end", "state", "na\\me", "semi;colon", "pct%%", "Ünïcode",
                "a-b", "s_a_b", "AnyState", "__any__", "{curly}", "#35;", "multi\nline", "<b>tag</b>"]


def make_tricky_table() -> Table:
    """States and labels full of characters that dot and Mermaid reserve."""
    names = ["Start", *TRICKY_NAMES, "Done"]
    states = {n: StateDef(n, src(5 + i)) for i, n in enumerate(names)}
    states["Done"].final = True
    states["end"].final = True
    rows = []
    for i, (a, b) in enumerate(zip(names, names[1:], strict=False)):
        rows.append(row(a, "DialogINFO", guards=(guard("param_is", 40 + i, name="mode", value='a"b:c;d'),),
                        actions=(act("SendSIPResponse", 40 + i, code=200, reason="OK: [fine] | {yes} #1"),),
                        to=b, line=40 + i))
    rows.append(row("a:b", "DialogUPDATE", line=90))
    rows.append(row("Any", "DialogBYE", to="Done", line=91))
    return build_table('weird "table": v1', states, rows, description="pipes | and <html> & more")


@pytest.fixture
def call_table() -> Table:
    return make_call_table()


@pytest.fixture
def tricky_table() -> Table:
    return make_tricky_table()


@pytest.fixture(scope="session")
def dot_exe() -> str:
    exe = shutil.which("dot")
    if exe is None:
        pytest.skip("Graphviz dot is not installed")
    return exe


def dot_to_svg(dot_exe: str, dot_text: str) -> ET.Element:
    """Run Graphviz on ``dot_text`` (it must accept it) and parse the SVG it writes."""
    done = subprocess.run([dot_exe, "-Tsvg"], input=dot_text.encode(), capture_output=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr.strip(), done.stderr.decode()
    return ET.fromstring(done.stdout)


def svg_groups(svg: ET.Element, cls: str) -> dict[str, ET.Element]:
    """``class="node"`` or ``class="edge"`` groups of a Graphviz SVG, keyed by their title."""
    found = {}
    for g in svg.iter(f"{SVG_NS}g"):
        if g.get("class") == cls:
            title = g.find(f"{SVG_NS}title")
            assert title is not None
            key = title.text or ""
            n = 2
            while key in found:
                key = f"{title.text}#{n}"
                n += 1
            found[key] = g
    return found


def svg_text(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG_NS}text")]


ID = r"[A-Za-z_][A-Za-z0-9_]*"
TEXT = r"(?:[A-Za-z0-9 _.,=()$/+\-'!?@*]|#[0-9]+;)*"
END = r"(?:\[\*\]|" + ID + r")"
LINE_RULES = [
    ("comment", re.compile(r"^    %% [^\n]*$")),
    ("declare", re.compile(rf'^    state "({TEXT})" as ({ID})$')),
    ("describe", re.compile(rf"^    ({ID}) : ({TEXT})$")),
    ("transition", re.compile(rf"^    ({END}) --> ({END})(?: : ({TEXT}(?:<br>{TEXT})*))?$")),
    ("bare", re.compile(rf"^    ({ID})$")),
]


def decode_mermaid(text: str) -> str:
    return re.sub(r"#([0-9]+);", lambda m: chr(int(m.group(1))), text)


def parse_mermaid(diagram: str) -> tuple[dict[str, str], dict[str, list[str]],
                                         list[tuple[str, str, tuple[str, ...]]]]:
    """Check ``diagram`` line by line against a conservative subset of stateDiagram-v2.

    Returns the states (id → decoded label), their descriptions and the transitions
    (source id, target id, decoded label lines — one per row, split at ``<br>``) in
    order; each edge appears once. Fails on anything outside the subset.
    """
    lines = diagram.split("\n")
    assert lines[0] == "stateDiagram-v2"
    assert lines[-1] == "", "the diagram ends with a newline"
    states: dict[str, str] = {}
    descriptions: dict[str, list[str]] = {}
    transitions: list[tuple[str, str, tuple[str, ...]]] = []
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
            states[m.group(2)] = decode_mermaid(m.group(1))
        elif kind == "describe":
            assert m.group(1) in states, f"line {number}: describes undeclared {m.group(1)}"
            descriptions.setdefault(m.group(1), []).append(decode_mermaid(m.group(2)))
        elif kind == "transition":
            src, dst, label = m.group(1), m.group(2), m.group(3)
            for end in (src, dst):
                assert end == "[*]" or end in states, f"line {number}: undeclared state {end}"
            assert not (src == "[*]" and dst == "[*]"), f"line {number}: [*] --> [*]"
            assert all((src, dst) != (a, b) for a, b, _ in transitions), f"line {number}: repeated edge"
            lines = () if label is None else tuple(decode_mermaid(part) for part in label.split("<br>"))
            transitions.append((src, dst, lines))
    return states, descriptions, transitions



@pytest.fixture(scope="session")
def rt() -> SimpleNamespace:
    """The helpers of this file, for the tests."""
    return SimpleNamespace(
        src=src, row=row, act=act, guard=guard, build_table=build_table,
        make_call_table=make_call_table, make_tricky_table=make_tricky_table,
        TRICKY_NAMES=TRICKY_NAMES, dot_to_svg=dot_to_svg, svg_groups=svg_groups, svg_text=svg_text,
        TABLE_FILE=TABLE_FILE, FRAGMENT_FILE=FRAGMENT_FILE,
        parse_mermaid=parse_mermaid, decode_mermaid=decode_mermaid,
    )
