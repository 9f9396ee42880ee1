"""``sipflow schema [-o DIR]``: write the JSON Schemas generated from the registry.

Rules:

* Writes every schema of ``SCHEMAS`` (``state-table.schema.json`` and
  ``scenario.schema.json``; a new schema is one more entry) into DIR, by default the
  package's ``schemas/`` folder (the repository's ``schemas/`` in a development
  install). Output is stable: 2-space JSON, keys in generation order, final newline,
  so the committed file only changes when the vocabulary does.
* Prints one line per file written; exit 0, or 2 with one line on stderr when DIR
  cannot be written.

Theory of operation: each entry maps a file name to a function of the registry that
returns the schema as a dict; :func:`render_schema` turns one into text, and a test
compares the committed file with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from sipflow.runtime.builtins import default_registry
from sipflow.runtime.registry import Registry
from sipflow.scenario.schema import build_scenario_schema
from sipflow.tables.schema import build_schema

SCHEMAS: dict[str, Callable[[Registry], dict[str, Any]]] = {
    "state-table.schema.json": build_schema,
    "scenario.schema.json": build_scenario_schema,
}
"""File name → generator. Add new schemas here."""


def render_schema(schema: dict[str, Any]) -> str:
    """The committed text form of a schema."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def default_dir() -> Path:
    """The package's ``schemas/`` folder."""
    return Path(str(resources.files("sipflow.schemas")))


def write_schemas(directory: Path, registry: Registry | None = None) -> list[Path]:
    """Write every schema into ``directory`` (created if missing); return the paths."""
    registry = registry or default_registry()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in SCHEMAS.items():
        path = directory / name
        path.write_text(render_schema(build(registry)), encoding="utf-8")
        written.append(path)
    return written


def register(app: typer.Typer) -> None:
    """Add the ``schema`` verb to the ``sipflow`` program."""
    app.command("schema")(schema_command)


def schema_command(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="DIR",
        help="Folder to write into (default: the package's schemas/ folder).")] = None,
) -> None:
    """Write the JSON Schema of state tables, generated from the event/action registry."""
    directory = output or default_dir()
    try:
        written = write_schemas(directory)
    except OSError as exc:
        typer.echo(f"sipflow schema: cannot write to {directory}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    for path in written:
        typer.echo(f"wrote {path}")
