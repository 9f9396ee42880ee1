"""Draw a ladder as text: one column per participant, one arrow per message.

Rules:

- ``render_lines(ladder, width)`` gives ``rich.text.Text`` lines (colours:
  requests cyan, 1xx yellow, 2xx green, other responses red, lost messages
  red with an ``x`` head, malformed magenta, state changes blue, timers
  magenta); ``render_text(ladder, width)`` the same as plain text;
  ``print_ladder(ladder, console)`` prints to a rich console, which drops the
  colours when it is not a terminal.
- The time column shows seconds since the first entry. Lifelines are spread
  over ``width`` (default: the console's); each is at least ``MIN_GAP``
  columns from the next, so many participants make lines wider than
  ``width`` rather than unreadable. The first and last lifelines keep room
  (up to ``MAX_MARGIN`` columns) for the state changes, timers and notes
  centred on them.
- A label that fits between the two lifelines is written on the arrow;
  otherwise it goes on its own line just above it. Labels never wrap.
- State changes are ``[Idle → Ringing]`` and timers ``⏱ TimerNoAnswer``,
  centred on the participant's lifeline; a note for everyone spans the page.

Theory of operation: each row is a list of characters with a list of style
spans; lifelines are drawn first and arrows and labels over them.
"""

from __future__ import annotations

import time as _time

from rich.console import Console
from rich.text import Text

from sipflow.ladder.model import Ladder, Message, Note, StateChange, TimerFired

__all__ = ["render_lines", "render_text", "print_ladder", "MIN_GAP"]

MIN_GAP = 18
"""Fewest columns between two lifelines."""
MAX_MARGIN = 24
"""Most columns kept free beside the first and last lifeline for the labels on them."""
_TIME_WIDTH = 10
_LIFELINE = "│"


def _message_style(entry: Message) -> str:
    if entry.lost:
        return "red"
    if entry.malformed:
        return "magenta"
    code = entry.label[:3]
    if not code.isdigit():
        return "cyan"
    return {"1": "yellow", "2": "green"}.get(code[0], "red")


class _Row:
    def __init__(self, size: int, columns: list[int]) -> None:
        self.chars = [" "] * size
        self.spans: list[tuple[int, int, str]] = []
        for column in columns:
            self.chars[column] = _LIFELINE
        self.spans.extend((c, c + 1, "dim") for c in columns)

    def put(self, at: int, text: str, style: str = "") -> None:
        at = max(at, 0)
        need = at + len(text)
        if need > len(self.chars):
            self.chars.extend(" " * (need - len(self.chars)))
        self.chars[at:need] = list(text)
        if style:
            self.spans.append((at, need, style))

    def text(self) -> Text:
        line = Text("".join(self.chars).rstrip())
        for start, end, style in self.spans:
            line.stylize(style, start, min(end, len(line)))
        return line


def _box_label(entry: StateChange | TimerFired | Note) -> str:
    if isinstance(entry, StateChange):
        return f"[{entry.label}]"
    if isinstance(entry, TimerFired):
        return f"⏱ {entry.label}"
    return f"« {entry.text} »"


def _half(ladder: Ladder, key: str) -> int:
    """Room wanted on each side of the lifeline ``key`` by the labels centred on it."""
    widths = [len(ladder.participants[key].label)]
    widths += [len(_box_label(e)) for e in ladder.entries
               if not isinstance(e, Message) and getattr(e, "who", None) == key]
    return min(max(MIN_GAP // 2, max(widths) // 2 + 1), MAX_MARGIN)


def _columns(ladder: Ladder, width: int) -> list[int]:
    keys = list(ladder.participants)
    if not keys:
        return []
    first = _TIME_WIDTH + _half(ladder, keys[0])
    if len(keys) == 1:
        return [first]
    room = width - first - _half(ladder, keys[-1]) - 1
    gap = max(MIN_GAP, room // (len(keys) - 1))
    return [first + i * gap for i in range(len(keys))]


def _clip(text: str, room: int) -> str:
    if room <= 0:
        return ""
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def render_lines(ladder: Ladder, width: int = 100) -> list[Text]:
    """The ladder as rich ``Text`` lines, ``width`` columns wide (see the module rules)."""
    keys = list(ladder.participants)
    columns = _columns(ladder, width)
    where = dict(zip(keys, columns, strict=True))
    size = (columns[-1] + MIN_GAP // 2 + 1) if columns else _TIME_WIDTH
    gap = columns[1] - columns[0] if len(columns) > 1 else MIN_GAP
    lines: list[Text] = []
    if ladder.title:
        lines.append(Text(ladder.title, style="bold"))
    start = ladder.start
    if start > 1e9:  # Unix time: say when t=0 was
        stamp = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(start))
        lines.append(Text(f"t=0 is {stamp}.{int(start % 1 * 1e6):06d} UTC", style="dim"))
    header = _Row(size, [])
    for key, column in where.items():
        label = _clip(ladder.participants[key].label, gap - 2)
        header.put(column - len(label) // 2, label, "bold")
    lines.append(header.text())
    lines.append(_Row(size, columns).text())
    for entry in ladder.entries:
        stamp = f"{entry.time - start:9.3f} "
        if isinstance(entry, Message):
            lines.extend(_message_rows(entry, where, size, columns, stamp))
            continue
        row = _Row(size, columns)
        row.put(0, stamp, "dim")
        if isinstance(entry, StateChange | TimerFired):
            is_state = isinstance(entry, StateChange)
            label = _clip(_box_label(entry), max(gap * 2 - 2, 8))
            centre = where[entry.who]
            row.put(max(centre - len(label) // 2, _TIME_WIDTH), label,
                    "bold blue" if is_state else "magenta")
        elif isinstance(entry, Note):
            if entry.who is None:
                text = f"── {entry.text} ──"
                row.put(max((size - len(text)) // 2, _TIME_WIDTH), text, "italic")
            else:
                text = _clip(_box_label(entry), max(gap * 2 - 2, 8))
                row.put(max(where[entry.who] - len(text) // 2, _TIME_WIDTH), text, "italic")
        lines.append(row.text())
    return lines


def _message_rows(entry: Message, where: dict[str, int], size: int, columns: list[int],
                  stamp: str) -> list[Text]:
    style = _message_style(entry)
    label = entry.text
    a, b = where[entry.src], where[entry.dst]
    row = _Row(size, columns)
    row.put(0, stamp, "dim")
    if a == b:  # to itself
        row.put(a + 1, f"─┐ {label}", style)
        return [row.text()]
    left, right = min(a, b), max(a, b)
    length = right - left - 1
    shaft = ("─ " * length)[:length] if entry.lost else "─" * length
    if b > a:
        arrow = shaft[:-1] + ("x" if entry.lost else ">")
    else:
        arrow = ("x" if entry.lost else "<") + shaft[1:]
    row.put(left + 1, arrow, style)
    text = f" {label} "
    if len(text) <= length - 4:
        row.put(left + 1 + (length - len(text)) // 2, text, style)
        return [row.text()]
    above = _Row(size, columns)
    above.put(left + 2, label, style)
    return [above.text(), row.text()]


def render_text(ladder: Ladder, width: int = 100) -> str:
    """The ladder as plain text (no colours), one line per row, ending in a newline."""
    return "".join(line.plain + "\n" for line in render_lines(ladder, width))


def print_ladder(ladder: Ladder, console: Console | None = None, width: int | None = None) -> None:
    """Print the ladder on ``console`` (default: stdout), as wide as the console."""
    console = console or Console()
    for line in render_lines(ladder, width or console.width):
        console.print(line, no_wrap=True, crop=False, soft_wrap=True)
