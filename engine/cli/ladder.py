"""``sipflow ladder FILE.pcap [--format text|mermaid|html|json] [-o FILE]``: draw a capture's SIP ladder.

Rules:

* FILE is a classic pcap: a ``sipflow serve --trace`` file or a capture such
  as ``tcpdump -i lo -w FILE port 5060`` (Ethernet, Linux cooked v1/v2, raw
  IP and BSD loopback link types; UDP and TCP over IPv4/IPv6), or ``-`` for
  standard input (``tcpdump -w - … | sipflow ladder -``). The SIP messages
  are found by ``sipflow.trace.capture.read_capture``.
* ``text`` (the default) on a terminal is coloured and as wide as the
  terminal; otherwise plain, ``--width`` columns (default 100). ``mermaid``
  is a ``sequenceDiagram``; ``html`` a self-contained page; ``json`` the
  participants and entries as data (``sipflow.ladder.data``). Without
  ``--format`` the suffix of ``-o FILE`` decides (``.html``/``.htm``,
  ``.mmd``/``.mermaid``, ``.json``, else text).
* ``--name 127.0.0.1:5060=alice`` (repeatable; ``[::1]:5060=bob``, and a
  ``udp:``/``tcp:`` prefix is allowed) names a participant.
* Frames that cannot be decoded and messages that do not parse do not stop
  the ladder: the messages are drawn as malformed; other problems are
  listed on stderr, one line each (at most ``MAX_PROBLEMS``).
* Exit codes: 0 drawn (also when the capture holds no SIP message, which is
  said on stderr); 2 unusable input: a missing, truncated or corrupt file
  (one line naming the file and the byte offset), an unsupported link type,
  an unknown format, a bad ``--name``, an unwritable output.

Theory of operation: read the capture, build a ``Ladder`` with
``sipflow.ladder.model.from_capture``, hand it to a renderer, write it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sipflow.cli.output import fail, write_result
from sipflow.ladder import FORMATS, render
from sipflow.ladder.model import from_capture
from sipflow.trace.capture import read_capture
from sipflow.trace.pcap import PcapError

MAX_PROBLEMS = 20
"""Problem lines printed on stderr before the rest are only counted."""

SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".mmd": "mermaid", ".mermaid": "mermaid",
                  ".txt": "text", ".json": "json"}
"""The format ``-o FILE`` implies when ``--format`` is not given."""


def register(app: typer.Typer) -> None:
    """Add the ``ladder`` verb to the ``sipflow`` program."""
    app.command("ladder")(ladder_command)


def ladder_command(
    capture_file: Annotated[Path, typer.Argument(
        metavar="FILE.pcap",
        help="A classic pcap capture (sipflow serve --trace, tcpdump -w); - reads stdin.")],
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="text, mermaid, html or json. Default: from the -o suffix, else text.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")] = None,
    names: Annotated[list[str] | None, typer.Option(
        "--name", metavar="HOST:PORT=NAME",
        help="Name a participant (repeatable), e.g. 127.0.0.1:5060=alice.")] = None,
    width: Annotated[int | None, typer.Option(
        "--width", min=40, max=1000, help="Text width in columns (default: the terminal's, "
                                          "or 100).")] = None,
) -> None:
    """Draw the SIP messages of a pcap capture as a ladder diagram."""
    if fmt is None:
        fmt = SUFFIX_FORMATS.get(output.suffix.lower(), "text") if output else "text"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        fail(f"sipflow ladder: unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    named = _names(names or [])
    try:
        if str(capture_file) == "-":  # tcpdump -w - | sipflow ladder -
            capture = read_capture("<stdin>", sys.stdin.buffer.read())
        else:
            capture = read_capture(capture_file)
    except PcapError as exc:
        fail(f"sipflow ladder: {exc}")
    for problem in capture.problems[:MAX_PROBLEMS]:
        typer.echo(f"sipflow ladder: {capture.path}: {problem}", err=True)
    if len(capture.problems) > MAX_PROBLEMS:
        typer.echo(f"sipflow ladder: {capture.path}: {len(capture.problems) - MAX_PROBLEMS} "
                   f"more problems not shown", err=True)
    if not capture.messages:
        typer.echo(f"sipflow ladder: {capture.path}: no SIP messages in {capture.frames} frames",
                   err=True)
    ladder = from_capture(capture, title=Path(capture.path).name, names=named)
    if fmt == "text" and output is None and sys.stdout.isatty():
        from rich.console import Console

        from sipflow.ladder.text import print_ladder

        print_ladder(ladder, Console(), width)
        return
    write_result(render(ladder, fmt, width or 100), output, "ladder")


def _names(items: list[str]) -> dict[str, str]:
    named: dict[str, str] = {}
    for item in items:
        key, eq, name = item.partition("=")
        key = key.strip()
        for prefix in ("udp:", "tcp:"):  # a listen spec names the same agent
            key = key.removeprefix(prefix)
        host, colon, port = key.rpartition(":")
        if not eq or not name.strip() or not colon or not host or not port.isdigit():
            fail(f"sipflow ladder: --name {item!r}: expected HOST:PORT=NAME "
                  f"(e.g. 127.0.0.1:5060=alice or [::1]:5060=bob)")
        named[key] = name.strip()
    return named


