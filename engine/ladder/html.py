"""Draw a ladder as one self-contained HTML page with an inline SVG.

Rules:

- The page holds everything it shows: inline CSS, an inline SVG drawn here
  (participant boxes, lifelines, arrows with their labels, state changes as
  rounded boxes, timers, notes), then the list of messages with their full
  text in ``<details>`` blocks. The SVG carries its own ``<style>``, so
  ``render_svg`` alone is a usable SVG file. Nothing is fetched: no script, no font, no
  image, no stylesheet link. The only URL in the page is the SVG namespace.
- The page is well-formed XML as well as HTML (every element closed, every
  text and attribute escaped), so it can be checked with an XML parser.
- Colours follow the text renderer: requests blue, 1xx amber, 2xx green,
  other responses red, lost messages dashed red with a cross, malformed
  purple. Hovering an arrow shows the message's first lines; clicking it
  jumps to its full text.

Theory of operation: a fixed grid — one column per participant, one row
per entry — computed first, then written out as SVG elements; text widths
are estimated at ``CHAR_WIDTH`` pixels per character of the monospace font.
"""

from __future__ import annotations

from html import escape as _escape

from sipflow.ladder.model import Ladder, Message, Note, StateChange, TimerFired

__all__ = ["render_html", "render_svg", "CHAR_WIDTH"]

CHAR_WIDTH = 7.2
"""Estimated width (px) of one character of the 12 px monospace font."""
_TIME_W = 80
_MIN_GAP = 240
_ROW = 30
_TOP = 60
_BOX_H = 30

_COLOURS = {"req": "#1f5fbf", "r1xx": "#b7791f", "r2xx": "#2f855a", "rerr": "#c53030",
            "bad": "#805ad5", "lost": "#c53030"}
"""Arrow colour of each message kind (see ``_kind``)."""

_SVG_CSS = """
text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; fill: #222; }
.actor rect { fill: #eef3fb; stroke: #4a6fa5; }
.actor text { font-weight: bold; }
.life { stroke: #9aa7b8; stroke-dasharray: 4 3; }
.time { fill: #777; }
.msg line, .msg path { stroke-width: 1.6; fill: none; }
.lost line, .lost path { stroke-dasharray: 6 4; }
.state rect { fill: #e6fffa; stroke: #319795; } .state text { fill: #234e52; }
.timer rect { fill: #faf5ff; stroke: #805ad5; } .timer text { fill: #553c9a; }
.note rect { fill: #fffbea; stroke: #d69e2e; } .note text { fill: #744210; }
a:hover text { text-decoration: underline; }
""" + "".join(f".{kind} line, .{kind} path {{ stroke: {colour}; }} .{kind} text {{ fill: {colour}; }}\n"
              for kind, colour in _COLOURS.items())

_PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.2em; }
details { margin: 0.2em 0; } summary { cursor: pointer; font-family: ui-monospace, monospace; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
"""


def _x(text: object) -> str:
    """Escape for XML text and attributes."""
    return _escape(str(text), quote=True)


def _kind(entry: Message) -> str:
    if entry.lost:
        return "lost"
    if entry.malformed:
        return "bad"
    code = entry.label[:3]
    if not code.isdigit():
        return "req"
    return {"1": "r1xx", "2": "r2xx"}.get(code[0], "rerr")


def _box(cx: float, y: float, text: str, cls: str, height: int = 22) -> str:
    width = len(text) * CHAR_WIDTH + 14
    return (f'<g class="{cls}"><rect x="{cx - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{height}" rx="8"/><text x="{cx:.1f}" y="{y + height / 2 + 4:.1f}" '
            f'text-anchor="middle">{_x(text)}</text></g>')


def _markers() -> str:
    heads = "".join(
        f'<marker id="head-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}" stroke="none"/></marker>'
        for kind, colour in _COLOURS.items() if kind != "lost")
    cross = ('<marker id="cross" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="10" '
             'markerHeight="10" orient="auto"><path d="M1,1 L9,9 M9,1 L1,9" stroke="#c53030" '
             'stroke-width="2" stroke-dasharray="none"/></marker>')
    return f"<defs>{heads}{cross}</defs>"


def render_svg(ladder: Ladder) -> str:
    """The ladder as an ``<svg>`` element (see the module rules)."""
    keys = list(ladder.participants)
    longest = max((len(e.label) for e in ladder.entries), default=10)
    gap = max(_MIN_GAP, int(longest * CHAR_WIDTH) + 40)
    xs = {key: _TIME_W + gap / 2 + i * gap for i, key in enumerate(keys)}
    entries = ladder.entries
    width = int(_TIME_W + gap * max(len(keys), 1) + 20)
    height = _TOP + _BOX_H + 20 + _ROW * len(entries) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_x(ladder.title or "ladder")}">',
           f"<style>{_SVG_CSS}</style>", _markers()]
    bottom = height - 10
    for key, x in xs.items():
        label = ladder.participants[key].label
        out.append(f'<line class="life" x1="{x:.1f}" y1="{_TOP + _BOX_H}" x2="{x:.1f}" '
                   f'y2="{bottom}"/>')
        out.append(_box(x, _TOP, label, "actor", _BOX_H))
    start = ladder.start
    y = _TOP + _BOX_H + 30
    number = 0
    for entry in entries:
        out.append(f'<text class="time" x="6" y="{y + 4}">{entry.time - start:.3f}</text>')
        if isinstance(entry, Message):
            number += 1
            out.append(_arrow(entry, xs, y, number))
        elif isinstance(entry, StateChange):
            out.append(_box(xs[entry.who], y - 11, entry.label, "state"))
        elif isinstance(entry, TimerFired):
            out.append(_box(xs[entry.who], y - 11, f"⏱ {entry.label}", "timer"))
        elif isinstance(entry, Note):
            if entry.who is not None:
                out.append(_box(xs[entry.who], y - 11, entry.text, "note"))
            else:
                middle = (min(xs.values(), default=width / 2) + max(xs.values(),
                          default=width / 2)) / 2
                out.append(_box(middle, y - 11, entry.text, "note"))
        y += _ROW
    out.append("</svg>")
    return "\n".join(out)


def _arrow(entry: Message, xs: dict[str, float], y: int, number: int) -> str:
    kind = _kind(entry)
    label = entry.text
    head = "url(#cross)" if entry.lost else f"url(#head-{kind})"
    tip = "\n".join(entry.raw.splitlines()[:8])
    a, b = xs[entry.src], xs[entry.dst]
    parts = [f'<a href="#m{number}"><g class="msg {kind}"><title>{_x(tip)}</title>']
    if a == b:
        parts.append(f'<path d="M{a:.1f},{y - 8} h40 v14 h-40" marker-end="{head}"/>')
        parts.append(f'<text x="{a + 46:.1f}" y="{y + 2}">{_x(label)}</text>')
    else:
        end = b - 2 if b > a else b + 2
        parts.append(f'<line x1="{a:.1f}" y1="{y}" x2="{end:.1f}" y2="{y}" '
                     f'marker-end="{head}"/>')
        parts.append(f'<text x="{(a + b) / 2:.1f}" y="{y - 5}" '
                     f'text-anchor="middle">{_x(label)}</text>')
    parts.append("</g></a>")
    return "".join(parts)


def render_html(ladder: Ladder) -> str:
    """The ladder as a complete, self-contained HTML page (see the module rules)."""
    title = ladder.title or "SIP ladder"
    details = []
    number = 0
    start = ladder.start
    for entry in ladder.entries:
        if not isinstance(entry, Message):
            continue
        number += 1
        details.append(
            f'<details id="m{number}"><summary>{entry.time - start:.3f} '
            f'{_x(entry.src)} → {_x(entry.dst)} ({_x(entry.transport)}): '
            f'{_x(entry.text)}</summary><pre>{_x(entry.raw)}</pre></details>')
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"/>',
        f"<title>{_x(title)}</title>",
        f"<style>{_PAGE_CSS}</style></head>",
        "<body>",
        f"<h1>{_x(title)}</h1>",
        render_svg(ladder),
        f"<h2>Messages ({number})</h2>",
        *details,
        "</body>",
        "</html>",
    ]) + "\n"
