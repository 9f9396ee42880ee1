"""``sipflow compat [--format md|json] [--check]``: the method matrix, proven from the code.

Rules:

* Default: the Markdown table of ``sipflow.compat.to_markdown`` (one row per
  SIP method, then the gaps and notes), exit 0 whatever the gaps.
* ``--format json``: a JSON list of row objects (``sipflow.compat.row_json``:
  the columns plus ``gaps``), nothing else on stdout; notes (unreadable
  backends or markers) go to stderr, one line each.
* ``--check``: exit 1 when any method has a gap, 0 otherwise. With ``md`` it
  prints only the gaps, one ``METHOD: gap`` line each, and a summary line (CI
  logs stay short); with ``json`` it prints the same JSON as without it.
* Exit 2, with one line on stderr, for an unknown format or shipped tables
  that do not load (``sipflow lint`` says more). Never a traceback.

Theory of operation: ``sipflow.compat.build_matrix`` does the work with its
live defaults; this module formats it and picks the exit code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sipflow.tables.loader import TableLoadError

if TYPE_CHECKING:
    from sipflow.compat import Matrix

FORMATS = ("md", "json")


def build_matrix() -> Matrix:
    """The live matrix (``sipflow.compat`` and the SIP core load only when the verb runs)."""
    from sipflow.compat import build_matrix as build

    return build()


def register(app: typer.Typer) -> None:
    """Add the ``compat`` verb to the ``sipflow`` program."""
    app.command("compat")(compat_command)


def check_report(matrix: Matrix) -> str:
    """The gaps, one ``METHOD: gap`` line each, then a one-line summary."""
    lines = [f"{method}: {gap}" for method, gap in matrix.gaps]
    methods = len(matrix.rows)
    short = sorted({method for method, _ in matrix.gaps}, key=[r.method for r in matrix.rows].index)
    if short:
        lines.append(f"compat: {len(matrix.gaps)} gaps in {len(short)} of {methods} methods "
                     f"({', '.join(short)})")
    else:
        lines.append(f"compat: no gap in {methods} methods")
    lines += [f"note: {note}" for note in matrix.notes]
    return "\n".join(lines) + "\n"


def compat_command(
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                     help="md (a Markdown table) or json.")] = "md",
    check: Annotated[bool, typer.Option(
        "--check", help="Exit 1 when any method has a gap (and print the gaps).")] = False,
) -> None:
    """One row per SIP method: parsed, transaction handling, events, actions, tables, interop tests."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        typer.echo(f"sipflow compat: unknown format {fmt!r}: choose md or json", err=True)
        raise typer.Exit(2)
    try:
        matrix = build_matrix()
    except TableLoadError as exc:
        typer.echo(f"sipflow compat: a shipped table does not load: {exc}", err=True)
        raise typer.Exit(2) from None
    from sipflow.compat import to_json, to_markdown

    if fmt == "json":
        typer.echo(to_json(matrix), nl=False)
        for note in matrix.notes:
            typer.echo(f"sipflow compat: note: {note}", err=True)
    elif check:
        typer.echo(check_report(matrix), nl=False)
    else:
        typer.echo(to_markdown(matrix), nl=False)
    if check and matrix.gaps:
        raise typer.Exit(1)
