"""What every verb shares for output: write a result to stdout or ``-o FILE``, fail with one line.

Rules: a result goes to stdout as bytes (text is UTF-8) or to ``-o FILE``; a
reader that leaves early (``| head``) is not an error; an unwritable file and
any other unusable input is one line on stderr and exit 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2 (unusable input or usage)."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


def write_result(result: str | bytes, output: Path | None, verb: str) -> None:
    """Write ``result`` to ``output``, or to stdout when it is None."""
    data = result.encode("utf-8") if isinstance(result, str) else result
    if output is None:
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            # The reader left early (``| head``): not an error. Point stdout at
            # /dev/null so the interpreter's final flush does not complain.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"sipflow {verb}: cannot write {output}: {exc.strerror or exc}")
