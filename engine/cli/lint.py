"""``sipflow lint [PATH...] [--format text|json] [--strict]``: check state tables.

Rules:

* PATH is a shipped table name, a table file or a directory (its ``*.yaml``
  tables); no PATH lints the shipped tables.
* Every problem is reported at once. Text: one line each on stdout,
  ``file:line:col: RULE-ID severity: message (hint)``, then a one-line summary on
  stderr when it is a terminal (so piped output is exactly one line per problem). JSON: a list of ``{file, line, col, rule, severity, message, hint}`` on
  stdout, nothing else.
* Exit: 0 clean (warnings allowed unless ``--strict``), 1 errors (or warnings with
  ``--strict``), 2 unusable input (missing, unreadable, too large, binary, alias bomb).
  Never a traceback for bad input.

Theory of operation: ``sipflow.tables.lint.lint_paths`` does the work and returns a
``LintReport``; this module only formats it and picks the exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from sipflow.tables.lint import LintReport, lint_paths

FORMATS = ("text", "json")


def register(app: typer.Typer) -> None:
    """Add the ``lint`` verb to the ``sipflow`` program."""
    app.command("lint")(lint_command)


def summary(report: LintReport) -> str:
    """``2 errors, 1 warning in 3 tables`` (or ``ok: 2 tables``)."""
    tables = f"{len(report.tables)} table{'s' if len(report.tables) != 1 else ''}"
    if not report.diagnostics:
        return f"ok: {tables}, no problems"
    errors, warnings = len(report.errors), len(report.warnings)
    return (f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
            f" ({tables} checked)")


def lint_command(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH", help="Shipped table names, table files or directories (default: the "
                                  "shipped tables).", show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                     help="text (one line per problem) or json.")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
) -> None:
    """Check state tables; report every problem with file:line:col, a rule id and a hint."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        typer.echo(f"sipflow lint: unknown format {fmt!r}: choose text or json", err=True)
        raise typer.Exit(2)
    report = lint_paths(paths or [])
    if fmt == "json":
        typer.echo(json.dumps([d.as_dict() for d in report.diagnostics], indent=2))
    else:
        for diag in report.diagnostics:
            typer.echo(str(diag))
        if sys.stderr.isatty():
            typer.echo(summary(report), err=True)
    raise typer.Exit(report.exit_code(strict))
