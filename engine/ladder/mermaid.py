"""Draw a ladder as a Mermaid ``sequenceDiagram``.

Rules:

- Participants get safe ids ``P1``, ``P2`` … and their label as alias
  (``participant P1 as alice (10.0.0.1:5060)``), in ladder order.
- Messages are solid arrows ``P1->>P2: INVITE sip:bob@10.0.0.2``; a lost one
  is a cross-ended dashed arrow ``P1--xP2: … [dropped]``; a message to itself
  is an arrow to itself. State changes and timers are notes over their
  participant (``Idle → Ringing``, ``⏱ TimerNoAnswer``); a note for everyone
  spans the first to the last participant.
- Labels are escaped with Mermaid's entity codes (``#59;`` for ``;``,
  ``#35;`` for ``#``, ``#lt;``/``#gt;`` for angle brackets; ``:`` in
  aliases), and line breaks become spaces, so no label can end a statement
  or start a new one. When ``times`` is true, each label is prefixed with
  the seconds since the first entry.

Theory of operation: one line per participant and per entry, nothing else.
"""

from __future__ import annotations

from sipflow.ladder.model import Ladder, Message, Note, StateChange, TimerFired

__all__ = ["render_mermaid", "escape"]

_ESCAPES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "\r": " ", "\n": " ",
            "%": "#37;", "{": "#123;", "}": "#125;"}


def escape(text: str, *, colon: bool = False) -> str:
    """``text`` made safe for a Mermaid label (``colon``: escape ``:`` too, for aliases)."""
    out = "".join(_ESCAPES.get(ch, ch) for ch in text)
    return out.replace(":", "#58;") if colon else out


def render_mermaid(ladder: Ladder, *, times: bool = False) -> str:
    """The ladder as Mermaid ``sequenceDiagram`` source, ending in a newline."""
    ids = {key: f"P{i}" for i, key in enumerate(ladder.participants, start=1)}
    lines = ["sequenceDiagram"]
    if ladder.title:
        lines.append(f"    title {escape(ladder.title, colon=True)}")
    for key, pid in ids.items():
        lines.append(f"    participant {pid} as {escape(ladder.participants[key].label, colon=True)}")
    start = ladder.start
    for entry in ladder.entries:
        prefix = f"{entry.time - start:.3f} " if times else ""
        if isinstance(entry, Message):
            label = entry.text
            arrow = "--x" if entry.lost else "->>"
            lines.append(f"    {ids[entry.src]}{arrow}{ids[entry.dst]}: "
                         f"{escape(prefix + label)}")
        elif isinstance(entry, StateChange):
            lines.append(f"    Note over {ids[entry.who]}: {escape(prefix + entry.label)}")
        elif isinstance(entry, TimerFired):
            lines.append(f"    Note over {ids[entry.who]}: {escape(prefix + '⏱ ' + entry.label)}")
        elif isinstance(entry, Note):
            if entry.who is not None:
                where = ids[entry.who]
            elif len(ids) > 1:
                where = f"{next(iter(ids.values()))},{list(ids.values())[-1]}"
            elif ids:
                where = next(iter(ids.values()))
            else:
                continue
            lines.append(f"    Note over {where}: {escape(prefix + entry.text)}")
    return "\n".join(lines) + "\n"
