"""``sipflow simulate [SCENARIO...] [--ladder text|mermaid|html] [--coverage] [--format json]``.

Rules:

* SCENARIO is a shipped scenario name (``uas_ringing``), a ``*.scenario.yaml``
  file or a directory (its ``*.scenario.yaml`` files, sorted). No SCENARIO runs
  every shipped scenario.
* Every scenario is loaded before any runs: an unusable file (not YAML, an
  unknown participant, table, step or state, a bad matcher) prints one line
  ``file:line:col: message`` on stderr per file and exits 2, never a traceback.
* Each runs on the loopback backend with its own ``VirtualClock``. Text output:
  ``PASS name`` or ``FAIL name: file:line: expected …, got …`` followed by the
  details and the ladder so far; the last line is ``N passed, M failed``.
* ``--ladder FORMAT`` prints each scenario's ladder (``-o DIR`` writes
  ``DIR/<name>.txt|.mmd|.html`` instead). ``--coverage`` reports per table
  which rows (``file:line``) fired and which never did; with no SCENARIO it
  covers every shipped table.
* ``--format json``: one JSON document on stdout: ``{"passed", "failed",
  "results": [...], "coverage"?}``; ladders are included in each result
  when ``--ladder`` is given.
* Exit: 0 every scenario passed, 1 one failed, 2 unusable input or usage.

Theory of operation: ``sipflow.scenario`` does the work (imported when the verb
runs, so other verbs do not pay for it); this module expands the arguments,
formats, and picks the exit code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sipflow.scenario.model import Scenario
    from sipflow.scenario.runner import ScenarioResult

FORMATS = ("text", "json")
LADDERS = ("text", "mermaid", "html")
EXTENSIONS = {"text": "txt", "mermaid": "mmd", "html": "html"}


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` verb to the ``sipflow`` program."""
    app.command("simulate")(simulate_command)


def expand(items: list[str]) -> list[str]:
    """Directories become their ``*.scenario.yaml`` files; no item: the shipped scenarios."""
    from sipflow.scenario.loader import SUFFIX, shipped_scenario_names

    if not items:
        return shipped_scenario_names()
    out: list[str] = []
    for item in items:
        if os.path.isdir(item):
            out.extend(str(Path(item) / name) for name in sorted(os.listdir(item))
                       if name.endswith(SUFFIX))
        else:
            out.append(item)
    return out


def _usage(message: str) -> typer.Exit:
    typer.echo(f"sipflow simulate: {message}", err=True)
    return typer.Exit(2)


def simulate_command(
    scenarios: Annotated[list[str] | None, typer.Argument(
        metavar="SCENARIO", show_default=False,
        help="Shipped scenario names, .scenario.yaml files or directories "
             "(default: every shipped scenario).")] = None,
    ladder: Annotated[str | None, typer.Option(
        "--ladder", metavar="FORMAT", help="Show each ladder: text, mermaid or html.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="DIR", help="Write ladders into DIR instead of stdout.")] = None,
    coverage: Annotated[bool, typer.Option(
        "--coverage", help="Report which table rows fired and which never did.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                     help="text or json.")] = "text",
) -> None:
    """Run scenarios in virtual time on the loopback backend; exit 1 if one fails."""
    from sipflow.scenario.coverage import Coverage
    from sipflow.scenario.loader import ScenarioError, load_scenario
    from sipflow.scenario.runner import run_scenario

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise _usage(f"unknown format {fmt!r}: choose text or json")
    if ladder is not None and ladder.lower() not in LADDERS:
        raise _usage(f"unknown ladder format {ladder!r}: choose text, mermaid or html")
    ladder = ladder.lower() if ladder else None
    if output is not None and ladder is None:
        raise _usage("--output DIR writes ladders: give --ladder FORMAT too")

    loaded: list[Scenario] = []
    unusable = False
    for item in expand(list(scenarios or [])):
        try:
            loaded.append(load_scenario(item))
        except ScenarioError as exc:
            typer.echo(str(exc), err=True)
            unusable = True
    if unusable:
        raise typer.Exit(2)
    if not loaded:
        raise _usage("no scenario to run")

    results: list[ScenarioResult] = []
    for scenario in loaded:
        try:
            results.append(run_scenario(scenario))
        except ScenarioError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None

    report = Coverage() if coverage else None
    if report is not None:
        if not scenarios:
            from sipflow.tables.loader import shipped_table_names

            report.expect_tables(shipped_table_names())
        for result in results:
            report.add(result)

    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed
    ladders = _ladders(results, ladder, output)
    if fmt == "json":
        document: dict[str, Any] = {"passed": passed, "failed": failed, "results": []}
        for result in results:
            item = result.as_dict()
            if ladder is not None and output is None:
                item["ladder"] = ladders[result.scenario.name]
            document["results"].append(item)
        if report is not None:
            document["coverage"] = report.as_dict()
        typer.echo(json.dumps(document, indent=2))
    else:
        for result in results:
            typer.echo(result.report())
            if ladder is not None:
                shown = ladders[result.scenario.name]
                typer.echo(shown if output is None else f"wrote {shown}")
        if report is not None:
            typer.echo(report.render_text())
        typer.echo(f"{passed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


def _ladders(results: list[ScenarioResult], fmt: str | None, output: Path | None) -> dict[str, str]:
    """Each scenario's rendered ladder; with ``output``, written to files (paths returned)."""
    if fmt is None:
        return {}
    out: dict[str, str] = {}
    if output is not None:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _usage(f"cannot create {output}: {exc.strerror or exc}") from None
    for result in results:
        text = result.render_ladder(fmt)
        if output is None:
            out[result.scenario.name] = text
            continue
        path = output / f"{result.scenario.name}.{EXTENSIONS[fmt]}"
        try:
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise _usage(f"cannot write {path}: {exc.strerror or exc}") from None
        out[result.scenario.name] = str(path)
    return out
