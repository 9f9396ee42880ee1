"""Ladder diagrams: who sent what to whom, state changes and timers, in time order.

- ``sipflow.ladder.model``: ``Ladder`` (participants and entries) and the
  builders ``from_capture`` (a pcap read by ``sipflow.trace.capture``) and
  ``from_loopback`` (a ``LoopbackNetwork.trace``).
- Renderers: ``sipflow.ladder.text`` (rich, terminal), ``sipflow.ladder.mermaid``
  (``sequenceDiagram``) and ``sipflow.ladder.html`` (a self-contained page
  with an inline SVG); ``sipflow.ladder.data`` gives the same as JSON for
  machines. ``render(ladder, fmt)`` picks one by name.
"""

from __future__ import annotations

from sipflow.ladder.model import Ladder, from_capture, from_loopback

__all__ = ["FORMATS", "Ladder", "from_capture", "from_loopback", "render"]

FORMATS = ("text", "mermaid", "html", "json")
"""The names ``render`` accepts."""


def render(ladder: Ladder, fmt: str, width: int = 100) -> str:
    """The ladder as ``text`` (plain, ``width`` columns), ``mermaid``, ``html`` or ``json``."""
    if fmt == "text":
        from sipflow.ladder.text import render_text

        return render_text(ladder, width)
    if fmt == "mermaid":
        from sipflow.ladder.mermaid import render_mermaid

        return render_mermaid(ladder)
    if fmt == "html":
        from sipflow.ladder.html import render_html

        return render_html(ladder)
    if fmt == "json":
        from sipflow.ladder.data import render_json

        return render_json(ladder)
    raise ValueError(f"unknown ladder format {fmt!r}: choose one of {', '.join(FORMATS)}")
