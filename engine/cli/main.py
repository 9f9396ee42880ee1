"""The ``sipflow`` command: one program, one verb per job (CONTRACTS §6).

Each verb lives in its own module under ``sipflow.cli`` and is added here.
Exit codes: 0 success, 1 a check or call failed, 2 unusable input or usage.
The console script is ``run()``: an unexpected error becomes one line on
stderr (exit 1) unless ``--debug`` was given, which keeps the traceback.
"""

from __future__ import annotations

import sys

import typer

from sipflow import __version__

app = typer.Typer(
    name="sipflow",
    help="A SIP user agent and session engine whose call flows are YAML state tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sipflow {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of unexpected errors."),
) -> None:
    """sipflow: SIP call flows as YAML state tables."""
    global DEBUG
    DEBUG = debug


DEBUG = False
"""True when ``sipflow --debug`` was given: unexpected errors keep their traceback."""


def run() -> None:
    """The console script: ``app()`` with unexpected errors reduced to one line (exit 1)."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last line of defence of the command line
        if DEBUG:
            raise
        print(f"sipflow: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)


# Each verb module defines ``register(app)``; add one line here per verb.
VERB_MODULES: list[str] = ["render", "lint", "schema", "compat", "ladder", "serve", "call", "simulate"]


def _register_verbs() -> None:
    import importlib

    for module in VERB_MODULES:
        importlib.import_module(f"sipflow.cli.{module}").register(app)


_register_verbs()


if __name__ == "__main__":
    run()
