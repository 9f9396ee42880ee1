"""A ladder as plain data (``to_dict``) and as JSON (``render_json``), for machines.

Rules:

- ``{"title", "start", "participants": [{"key", "name"}], "entries": [...]}``;
  each entry has ``kind`` (``message``, ``state``, ``timer``, ``note``),
  ``time`` (seconds, as recorded) and ``offset`` (seconds since ``start``).
- A message adds ``src``, ``dst`` (participant keys), ``label``,
  ``transport``, ``lost`` (null, ``dropped`` or ``unreachable``),
  ``malformed``, ``retransmission``, ``arrived`` and ``raw`` (the message
  text); a state change ``who``, ``old``, ``new``; a timer ``who``, ``name``;
  a note ``who`` (null: everyone) and ``text``.
- Entries are in ladder order (by time, then insertion).

Theory of operation: a dict per entry, then ``json.dumps`` with indent.
"""

from __future__ import annotations

import json
from typing import Any

from sipflow.ladder.model import Ladder, Message, Note, StateChange, TimerFired

__all__ = ["to_dict", "render_json"]


def _entry(entry: Message | StateChange | TimerFired | Note, start: float) -> dict[str, Any]:
    base: dict[str, Any] = {"time": entry.time, "offset": round(entry.time - start, 6)}
    if isinstance(entry, Message):
        return {"kind": "message", **base, "src": entry.src, "dst": entry.dst,
                "label": entry.label, "transport": entry.transport, "lost": entry.lost,
                "malformed": entry.malformed, "retransmission": entry.retransmission,
                "arrived": entry.arrived, "raw": entry.raw}
    if isinstance(entry, StateChange):
        return {"kind": "state", **base, "who": entry.who, "old": entry.old, "new": entry.new}
    if isinstance(entry, TimerFired):
        return {"kind": "timer", **base, "who": entry.who, "name": entry.name}
    return {"kind": "note", **base, "who": entry.who, "text": entry.text}


def to_dict(ladder: Ladder) -> dict[str, Any]:
    """The ladder as JSON-ready data (see the module rules)."""
    start = ladder.start
    return {
        "title": ladder.title,
        "start": start,
        "participants": [{"key": p.key, "name": p.name} for p in ladder.participants.values()],
        "entries": [_entry(entry, start) for entry in ladder.entries],
    }


def render_json(ladder: Ladder) -> str:
    """The ladder as a JSON document, ending in a newline."""
    return json.dumps(to_dict(ladder), indent=2, ensure_ascii=False) + "\n"
