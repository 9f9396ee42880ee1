"""``sipflow render TABLE --format dot|svg|png|mermaid|md [-o FILE]``: draw a state table.

Rules:

* TABLE is a shipped table name (``uac_call``) or a path to a table file; it is
  loaded with ``sipflow.tables.loader.load_table``, so a broken table gets the
  loader's one line, ``file:line:col: message``, and exit 2.
* Without ``--format`` the suffix of ``-o FILE`` decides (``.svg``, ``.png``,
  ``.md``, ``.mmd``, ``.dot``/``.gv``); otherwise the format is dot.
* Text formats (dot, mermaid, md, svg) go to stdout, or to ``-o FILE``. A
  reader that closes the pipe early (``| head``) is not an error.
* PNG is binary: it goes to ``-o FILE``, or to stdout when stdout is not a
  terminal (``sipflow render uac_call --format png > uac_call.png``); on a
  terminal it is refused with exit 2 rather than filling the screen with bytes.
* SVG and PNG need Graphviz ``dot``; without it: one line on stderr, exit 2.
  dot, mermaid and md never need it.
* Exit codes: 0 written, 2 unusable input (bad table, unknown format, no
  Graphviz, unwritable output). Errors are one line on stderr, no traceback.

Theory of operation: parse the options, load the table, hand it to
``sipflow.tables.render.render`` and write what comes back; every expected
failure is turned into one line by ``_fail``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sipflow.cli.output import fail, write_result
from sipflow.tables.model import Table
from sipflow.tables.render import FORMATS, RenderError, render


def register(app: typer.Typer) -> None:
    """Add the ``render`` verb to the ``sipflow`` program."""
    app.command("render")(render_command)


def render_command(
    table: Annotated[str, typer.Argument(
        metavar="TABLE", help="A shipped table name (uac_call) or the path of a table file.")],
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="dot, svg, png, mermaid or md (svg and png need Graphviz). "
             "Default: from the -o suffix, else dot.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")] = None,
) -> None:
    """Draw a state table as Graphviz dot, SVG, PNG, Mermaid or a Markdown page."""
    fmt = (fmt or format_for(output)).lower()
    if fmt not in FORMATS:
        fail(f"sipflow render: unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "png" and output is None and sys.stdout.isatty():
        fail("sipflow render: png is binary: write it with -o FILE or redirect stdout to a file")
    loaded = _load(table)
    try:
        result = render(loaded, fmt)
    except RenderError as exc:
        fail(str(exc) if exc.source else f"sipflow render: {exc}")
    write_result(result, output, "render")


SUFFIX_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png",
                  ".mmd": "mermaid", ".mermaid": "mermaid", ".md": "md", ".markdown": "md"}
"""The format ``-o FILE`` implies when ``--format`` is not given."""


def format_for(output: Path | None) -> str:
    """The format implied by an output file's suffix (``uac_call.svg`` → svg); dot otherwise."""
    if output is None:
        return "dot"
    return SUFFIX_FORMATS.get(output.suffix.lower(), "dot")


def _load(name_or_path: str) -> Table:
    from sipflow.tables.loader import TableLoadError, load_table

    try:
        return load_table(name_or_path)
    except TableLoadError as exc:
        fail(str(exc))


