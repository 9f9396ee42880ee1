"""Draw a state table: Graphviz dot, Mermaid, a Markdown page, SVG and PNG.

Rules:

* Diagrams are generated from the loaded ``Table`` (``sipflow.tables.model``),
  never written by hand, so they cannot drift from the table that runs.
* Every row is labelled ``event [guards] / actions`` (``Row.label()``). The
  rows between the same two states share one edge with one label line per
  row, in file order (call tables have many failure rows into the same state,
  and parallel arrows are unreadable; Mermaid lines are joined by ``<br>``). A
  row without ``to`` stays in its state and is drawn as a self-loop. The
  initial state is entered from a start dot (dot) or ``[*]`` (Mermaid); final
  states are double circles (dot) or lead to ``[*]`` (Mermaid). State timers
  are written inside their state.
* ``from: Any`` rows start at one dashed pseudo-node, "Any non-final state",
  instead of being copied onto every non-final state. A call table has a
  handful of such rows (BYE, timeouts, transport errors) and half a dozen
  states; copying them multiplies edges by the number of states and buries the
  call flow under identical arrows, while one pseudo-node reads exactly like
  the table: "from any state, on DialogBYE, go to Terminated".
* ``dot`` and ``mermaid`` are pure text generation; every name and label is
  escaped for its target (dot quoted strings; Mermaid ids limited to
  ``[A-Za-z0-9_]`` with the real name as a quoted label, and entity codes
  such as ``#58;`` for characters the Mermaid grammar reserves).
* ``svg`` and ``png`` run Graphviz ``dot`` (found with ``shutil.which``) with a
  timeout. Without it, ``render_image`` raises ``GraphvizMissing`` with one
  sentence saying what to install; the text formats never need it.

Theory of operation: ``render_dot`` and ``render_mermaid`` walk the states in
table order, then the rows in file order; ``render_markdown`` wraps the
Mermaid text in a page with the table's header and a row-by-row transition
table whose ``source`` column is ``file:line`` (relative to the table's own
folder, so pages are the same on every machine). ``render`` dispatches on a
format name, which is what the CLI calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from .model import ANY, ParamRef, Source, StateDef, StateTimer, Table

TEXT_FORMATS = ("dot", "mermaid", "md")
"""Formats produced as text, without any external program."""

IMAGE_FORMATS = ("svg", "png")
"""Formats produced by Graphviz ``dot``."""

FORMATS = ("dot", "svg", "png", "mermaid", "md")
"""Every format ``render`` accepts, in the order the CLI lists them."""

ANY_LABEL = "Any non-final state"
"""The label of the pseudo-node that ``from: Any`` rows start from."""

MERMAID_KEYWORDS = frozenset({
    "state", "note", "end", "direction", "class", "classdef", "style", "as", "click",
    "left", "right", "of", "hide", "default", "accdescr", "acctitle", "statediagram",
    "statediagram-v2",
})
"""Words Mermaid's state-diagram grammar may read as keywords; never used as ids."""

DOT_TIMEOUT = 30.0
"""Seconds Graphviz may take before ``render_image`` gives up."""


class RenderError(Exception):
    """A table could not be rendered (unknown format, undeclared state, Graphviz failed
    or timed out). ``source`` is set when the problem has a place in the table; the
    message then starts with ``file:line:col:``."""

    def __init__(self, message: str, source: Source | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class GraphvizMissing(RenderError):
    """Graphviz ``dot`` is not installed, so SVG and PNG cannot be made."""


# -- shared helpers -----------------------------------------------------------
def format_duration(value: float | ParamRef, parameters: dict[str, Any] | None = None) -> str:
    """A timer duration as written by people: ``180s``, ``500ms``, ``$no_answer=180s``."""
    if isinstance(value, ParamRef):
        text = f"${value.name}"
        if parameters and value.name in parameters:
            text += f"={_plain(parameters[value.name])}"
        return text
    seconds = float(value)
    millis = round(seconds * 1000, 6)  # 0.3 s is 300 ms, not 300.00000000000006
    if 0 < seconds < 1 and millis.is_integer():
        return f"{int(millis)}ms"
    return f"{seconds:g}s"


def timer_label(timer: StateTimer, parameters: dict[str, Any] | None = None) -> str:
    """``timer NoAnswer 180s``: how a state timer is written inside its state."""
    return f"timer {timer.name} {format_duration(timer.duration, parameters)}"


def source_text(source: Source, table: Table) -> str:
    """``file:line`` with the file relative to the table's folder when it lies below it."""
    base = os.path.dirname(table.source.file)
    path = source.file
    if base and os.path.isabs(path) == os.path.isabs(base):
        try:
            if os.path.commonpath([base, path]) == base:
                path = os.path.relpath(path, base)
        except ValueError:
            pass
    return f"{path}:{source.line}"


def _plain(value: Any) -> str:
    if isinstance(value, ParamRef):
        return f"${value.name}"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _unique_id(wanted: str, taken: set[str]) -> str:
    candidate, n = wanted, 2
    while candidate in taken:
        candidate = f"{wanted}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _is_plain_id(name: str) -> bool:
    return (name.isascii() and name[:1].isalpha() and name.replace("_", "a").isalnum()
            and name.lower() not in MERMAID_KEYWORDS)


def state_ids(table: Table) -> dict[str, str]:
    """An id for every state, and for ``ANY`` (the pseudo-node), valid in dot and Mermaid.

    A name that is a plain identifier (ASCII letter, then letters, digits, ``_``) and
    no Mermaid keyword is its own id; any other becomes ``s_`` plus the name with
    every other character as ``_``. Ids are unique; the real names go in labels.
    """
    taken: set[str] = set()
    ids: dict[str, str] = {}
    for name in table.states:
        if _is_plain_id(name):
            wanted = name
        else:
            wanted = "s_" + "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in name)
        ids[name] = _unique_id(wanted, taken)
    ids[ANY] = _unique_id("AnyState", taken)
    return ids


def _unknown(state: str, where: Source) -> str:
    raise RenderError(f"undeclared state {state!r} (sipflow lint lists every problem)", where)


def _initial_id(table: Table, ids: dict[str, str]) -> str:
    if table.initial not in table.states:
        where = table.locations.get("initial", table.source)
        _unknown(table.initial, where)
    return ids[table.initial]


def _edges(table: Table, ids: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    """(source id, target id) → the labels of the rows drawn along that edge, in file order.

    A ``from: Any`` row is drawn once, from the ``ANY`` pseudo-node; a row without
    ``to`` is a self-loop; a row with several ``from`` states is drawn from each.
    """
    edges: dict[tuple[str, str], list[str]] = {}
    for row in table.rows:
        for src in [ANY] if row.is_any else row.sources:
            src_id = ids.get(src) or _unknown(src, row.locations.get("from", row.source))
            dst_id = (src_id if row.target is None
                      else ids.get(row.target) or _unknown(row.target, row.locations.get("to", row.source)))
            edges.setdefault((src_id, dst_id), []).append(row.label())
    return edges


# -- Graphviz dot -------------------------------------------------------------
def dot_quote(text: str) -> str:
    """A dot double-quoted label: backslashes, quotes and line breaks escaped, and ``&``
    written ``&amp;`` (Graphviz decodes ``&name;`` entities in labels and passes them
    into SVG unchecked)."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
               .replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n"))
    return f'"{escaped}"'


def dot_lines(lines: list[str]) -> str:
    """A dot label of several lines: one line is centred; more are left-justified (``\\l``)."""
    if len(lines) == 1:
        return dot_quote(lines[0])
    return '"' + "".join(dot_quote(line)[1:-1] + "\\l" for line in lines) + '"'


def render_dot(table: Table) -> str:
    """The table as a Graphviz ``digraph`` (text).

    Node ids are ``state_ids``, quoted (never raw names: Graphviz copies ids into
    SVG titles without escaping them); every node carries its real name as label.
    Rows between the same two states share one edge, one label line per row in
    file order, so a state with eight ways to fail has one arrow, not eight.
    """
    plain = state_ids(table)
    ids = {name: f'"{sid}"' for name, sid in plain.items()}
    start = '"{}"'.format(_unique_id("__start__", set(plain.values())))
    graph_id = table.name if _is_plain_id(table.name) else "state_table"
    q = dot_quote
    title = f"{table.name} ({table.role})" if table.role else table.name
    lines = [
        f'digraph "{graph_id}" {{',
        f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label={q(title)}];",
        "  node [shape=box, style=rounded, fontname=Helvetica];",
        "  edge [fontname=Helvetica, fontsize=10];",
        f'  {start} [shape=point, width=0.15, label=""];',
    ]
    for state in table.states.values():
        lines.append(f"  {ids[state.name]} [{_dot_state_attrs(state, table)}];")
    if any(row.is_any for row in table.rows):
        lines.append(f"  {ids[ANY]} [shape=note, style=dashed, label={q(ANY_LABEL)}];")
    lines.append(f"  {start} -> {_initial_id(table, ids)};")
    for (src_id, dst_id), labels in _edges(table, ids).items():
        lines.append(f"  {src_id} -> {dst_id} [label={dot_lines(labels)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_state_attrs(state: StateDef, table: Table) -> str:
    label = "\n".join([state.name] + [timer_label(t, table.parameters) for t in state.timers])
    attrs = [f"label={dot_quote(label)}"]
    if state.final:
        attrs.append("shape=doublecircle")
    if state.name == table.initial:
        attrs.append("penwidth=2")
    return ", ".join(attrs)


# -- Mermaid ------------------------------------------------------------------
MERMAID_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,=()$/+-'!?@*")
"""Characters written as they are in Mermaid labels; every other one becomes ``#<code>;``."""


MERMAID_BREAK = "<br>"
"""Separates the rows sharing one Mermaid transition; a literal ``<`` in a label is ``#60;``."""


def mermaid_text(text: str) -> str:
    """Escape a label for Mermaid: unsafe characters become entity codes (``:`` → ``#58;``)."""
    return "".join(ch if ch in MERMAID_SAFE else f"#{ord(ch)};" for ch in text)


def render_mermaid(table: Table) -> str:
    """The table as a Mermaid ``stateDiagram-v2`` (text, without a Markdown fence).

    Ids are ``state_ids``; a state whose id is not its name is declared with its
    name as a quoted label. Rows between the same two states share one transition.
    """
    ids = state_ids(table)
    lines = ["stateDiagram-v2"]
    lines.append(f"    %% {mermaid_text(table.name)}: generated by sipflow render")
    for state in table.states.values():
        sid = ids[state.name]
        if sid == state.name:
            lines.append(f"    {sid}")
        else:
            lines.append(f'    state "{mermaid_text(state.name)}" as {sid}')
        for timer in state.timers:
            lines.append(f"    {sid} : {mermaid_text(timer_label(timer, table.parameters))}")
    if any(row.is_any for row in table.rows):
        lines.append(f'    state "{mermaid_text(ANY_LABEL)}" as {ids[ANY]}')
    lines.append(f"    [*] --> {_initial_id(table, ids)}")
    for (src_id, dst_id), labels in _edges(table, ids).items():
        text = MERMAID_BREAK.join(mermaid_text(label) for label in labels)
        lines.append(f"    {src_id} --> {dst_id} : {text}")
    for name in table.final_states:
        lines.append(f"    {ids[name]} --> [*]")
    return "\n".join(lines) + "\n"


# -- Markdown -----------------------------------------------------------------
def md_code(text: str) -> str:
    """``text`` as a Markdown code span safe inside a table cell (``|`` escaped)."""
    if not text:
        return ""
    text = " ".join(text.split())
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def md_text(text: str) -> str:
    """Plain prose for a Markdown page: one line, HTML and table pipes neutralised."""
    text = " ".join(text.split())
    for ch, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "&#124;")):
        text = text.replace(ch, entity)
    return text


def _md_list(items: Any) -> str:
    return ", ".join(md_code(_plain(item)) for item in items)


def render_markdown(table: Table) -> str:
    """A Markdown page: header, description, a Mermaid diagram, the transition and state tables."""
    out = [f"# State table {md_code(table.name)}", ""]
    if table.description:
        out += [md_text(table.description), ""]
    params = ", ".join(f"{md_code(k)} = {md_code(_plain(v))}" for k, v in table.parameters.items())
    out += [
        "| | |",
        "|---|---|",
        f"| role | {md_code(table.role)} |",
        f"| starts on | {_md_list(table.starts_on) or 'nothing (started by another table)'} |",
        f"| initial state | {md_code(table.initial)} |",
        f"| final states | {_md_list(table.final_states)} |",
        f"| parameters | {params or 'none'} |",
        f"| includes | {_md_list(table.includes) or 'none'} |",
        f"| source | {md_code(source_text(table.source, table))} |",
    ]
    if table.version:
        out.append(f"| version | {md_code(table.version)} |")
    out += ["", "## Diagram", "", "```mermaid", render_mermaid(table).rstrip("\n"), "```", ""]
    out += ["## Transitions", "",
            "In each state its own rows are tried first, in this order, then the `Any` rows "
            "(never in final states); the first row whose guards all hold fires. "
            "A row without `to` stays in its state.", "",
            "| from | event | guards | actions | to | publish | source |",
            "|---|---|---|---|---|---|---|"]
    for row in table.rows:
        cells = [
            _md_list(row.sources),
            md_code(row.event),
            _md_list(g.label() for g in row.guards),
            _md_list(a.label() for a in row.actions),
            md_code(row.target) if row.target else "(stays)",
            _md_list(row.publish),
            md_code(source_text(row.source, table)),
        ]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## States", "", "| state | kind | timers | description | source |",
            "|---|---|---|---|---|"]
    for state in table.states.values():
        kind = ", ".join(k for k, on in (("initial", state.name == table.initial),
                                          ("final", state.final)) if on)
        timers = _md_list(timer_label(t, table.parameters) for t in state.timers)
        out.append(f"| {md_code(state.name)} | {kind} | {timers} | {md_text(state.description)} | "
                   f"{md_code(source_text(state.source, table))} |")
    return "\n".join(out) + "\n"


# -- images and dispatch --------------------------------------------------------
def render_image(table: Table, fmt: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """The table drawn by Graphviz ``dot`` as ``svg`` or ``png`` bytes.

    Raises ``GraphvizMissing`` when ``dot`` is not on the PATH and ``RenderError``
    when it fails or takes longer than ``timeout`` seconds.
    """
    if fmt not in IMAGE_FORMATS:
        raise RenderError(f"cannot draw {fmt!r} with Graphviz: choose one of {', '.join(IMAGE_FORMATS)}")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"Graphviz 'dot' is not installed, so --format {fmt} is unavailable: install graphviz "
            "(Debian: apt-get install graphviz) or use --format dot, mermaid or md")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=render_dot(table).encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"Graphviz 'dot' took longer than {timeout:g}s drawing table "
                          f"{table.name!r}") from exc
    except OSError as exc:
        raise RenderError(f"cannot run Graphviz {exe!r}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = detail[0] if detail else f"exit status {done.returncode}"
        raise RenderError(f"Graphviz 'dot' failed drawing table {table.name!r}: {reason}")
    return done.stdout


def render(table: Table, fmt: str) -> str | bytes:
    """Render ``table`` in ``fmt`` (one of ``FORMATS``): text for dot/mermaid/md and
    svg (decoded UTF-8), bytes for png."""
    if fmt == "dot":
        return render_dot(table)
    if fmt == "mermaid":
        return render_mermaid(table)
    if fmt == "md":
        return render_markdown(table)
    if fmt == "svg":
        return render_image(table, "svg").decode("utf-8")
    if fmt == "png":
        return render_image(table, "png")
    raise RenderError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
