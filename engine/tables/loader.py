"""Load state tables: YAML file (or shipped name) → validated ``Table`` model.

Rules:

* ``load_table("uac_call")`` loads the shipped table ``sipflow.state_tables/uac_call.yaml``;
  anything with a path separator or a ``.yaml``/``.yml`` suffix (or a ``Path``), and a bare
  word naming an existing file or directory, is a path.
* A table's ``include: [name]`` is looked up as ``fragments/name.yaml`` beside the
  table first, then among the shipped fragments. Included rows follow the table's
  own rows, in include order, and carry ``origin`` = the fragment's name.
* Reading is safe (``yamlio``: size cap, binary, alias bombs, duplicate keys) and the
  shape is checked against the structural JSON Schema (``validate``) before anything
  is built, so the walker below can trust types. Names are *not* checked here: lint
  does that, with rule ids and hints.
* Durations become float seconds (``duration.parse_duration``); ``{param: NAME}``
  becomes ``ParamRef``; every state, row, guard, action and timer gets its ``Source``;
  ``Table.version`` is a short hash of every source file's bytes.
* Failures: ``load_table`` raises ``TableLoadError`` (``file:line:col: message``) for the
  first problem; ``load_checked`` returns every load problem as diagnostics (lint uses it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sipflow.runtime.registry import Registry

from .diagnostics import Diagnostic, error
from .duration import parse_duration
from .model import ActionCall, GuardCall, ParamRef, Row, Source, StateDef, StateTimer, Table
from .validate import validate
from .yamlio import YamlDocument, YamlInputError, load_yaml, plain, where, where_key

SUFFIXES = (".yaml", ".yml")
SCENARIO_SUFFIX = ".scenario.yaml"


class TableLoadError(Exception):
    """A table could not be loaded; ``str()`` is ``file:line:col: message``."""

    def __init__(self, file: str, line: int, col: int, message: str, rule: str = "E-INPUT",
                 hint: str = "", diagnostics: list[Diagnostic] | None = None) -> None:
        self.file = file
        self.line = line
        self.col = col
        self.message = message
        self.rule = rule
        self.hint = hint
        self.diagnostics = diagnostics or []
        super().__init__(f"{file}:{line}:{col}: {message}")

    @classmethod
    def from_diagnostics(cls, diagnostics: list[Diagnostic]) -> TableLoadError:
        first = diagnostics[0]
        message = f"{first.message} ({first.hint})" if first.hint else first.message
        return cls(first.file, first.line, first.col, message, first.rule, first.hint, diagnostics)


@dataclass
class LoadResult:
    """What ``load_checked`` found: the table (None when it could not be built) and problems."""

    file: str
    table: Table | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    is_fragment: bool = False


# -- finding files ---------------------------------------------------------------------
def _shipped_dir() -> Path:
    return Path(str(resources.files("sipflow.state_tables")))


def _display(path: Path) -> str:
    """A path as shown in messages: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def shipped_table_names() -> list[str]:
    """Names of the tables shipped in ``sipflow.state_tables`` (sorted)."""
    return sorted(p.name[: -len(".yaml")] for p in _shipped_dir().glob("*.yaml")
                  if not p.name.endswith(SCENARIO_SUFFIX))


def is_name(path_or_name: str | Path) -> bool:
    """True when ``path_or_name`` means a shipped table rather than a file or directory.

    A ``Path``, anything with a path separator or a ``.yaml``/``.yml`` suffix, and a bare
    word that exists in the working directory (``sipflow lint tables``) are paths.
    """
    if isinstance(path_or_name, Path):
        return False
    text = str(path_or_name)
    if "/" in text or os.sep in text or text.endswith(SUFFIXES):
        return False
    return not os.path.exists(text)


def resolve(path_or_name: str | Path) -> tuple[Path, str]:
    """The file behind a shipped name or a path, and how messages show it."""
    if is_name(path_or_name):
        name = str(path_or_name)
        path = _shipped_dir() / f"{name}.yaml"
        if not path.is_file():
            shipped = ", ".join(shipped_table_names()) or "none"
            raise TableLoadError(name, 1, 1, f"no shipped table named {name!r} (shipped: {shipped})",
                                 hint="give a path to a .yaml file, or a shipped name")
        return path, _display(path)
    path = Path(path_or_name)
    return path, str(path_or_name)


def fragment_path(name: str, table_path: Path) -> Path | None:
    """``fragments/<name>.yaml`` beside the table, else the shipped fragment, else None."""
    for folder in (table_path.parent / "fragments", _shipped_dir() / "fragments"):
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return None


# -- building the model ------------------------------------------------------------------
def _value(value: Any) -> Any:
    """A plain value, with ``{param: NAME}`` turned into ``ParamRef``."""
    value = plain(value)
    if isinstance(value, dict) and set(value) == {"param"} and isinstance(value["param"], str):
        return ParamRef(value["param"])
    return value


def _src(file: str, pos: tuple[int, int]) -> Source:
    return Source(file, pos[0], pos[1])


class _Builder:
    """Turns validated round-trip data into model records (one instance per load)."""

    def __init__(self, registry: Registry | None) -> None:
        self.registry = registry

    def guard(self, item: Any, source: Source, negate: bool = False) -> GuardCall:
        if isinstance(item, str):
            return GuardCall(str(item), {}, negate, source)
        (name, arg), = item.items()
        name = str(name)
        if name == "not":
            return self.guard(arg, source, not negate)
        if arg is None:
            params: dict[str, Any] = {}
        elif isinstance(arg, dict) and not isinstance(_value(arg), ParamRef):
            params = {str(k): _value(v) for k, v in arg.items()}
        else:
            spec = self.registry.guards.get(name) if self.registry else None
            params = {(spec.scalar if spec and spec.scalar else "value"): _value(arg)}
        return GuardCall(name, params, negate, source)

    @staticmethod
    def action(item: Any, source: Source) -> ActionCall:
        if isinstance(item, str):
            return ActionCall(str(item), {}, source)
        (name, arg), = item.items()
        params = {str(k): _value(v) for k, v in (arg or {}).items()}
        return ActionCall(str(name), params, source)

    def row(self, rows: Any, index: int, file: str, origin: str) -> Row:
        item = rows[index]
        source = _src(file, where(rows, index))
        loc = {key: _src(file, where(item, key)) for key in item}
        sources = item["from"]
        if isinstance(sources, list):
            for n in range(len(sources)):
                loc[f"from.{n}"] = _src(file, where(sources, n))
            sources = tuple(str(s) for s in sources)
        else:
            sources = (str(sources),)
        guards_raw = item.get("if") or []
        actions_raw = item.get("do") or []
        publish = item.get("publish") or []
        for n in range(len(publish)):
            loc[f"publish.{n}"] = _src(file, where(publish, n))
        return Row(
            sources=sources,
            event=str(item["on"]),
            guards=tuple(self.guard(g, _src(file, where(guards_raw, n))) for n, g in enumerate(guards_raw)),
            actions=tuple(self.action(a, _src(file, where(actions_raw, n)))
                          for n, a in enumerate(actions_raw)),
            target=str(item["to"]) if "to" in item else None,
            publish=tuple(str(p) for p in publish),
            source=source,
            origin=origin,
            locations=loc,
        )

    @staticmethod
    def state(states: Any, name: str, file: str) -> StateDef:
        body = states[name] or {}
        timers = body.get("timers") or {}
        built = []
        for timer, value in timers.items():
            value = _value(value)
            duration = value if isinstance(value, ParamRef) else parse_duration(value)
            built.append(StateTimer(str(timer), duration, _src(file, where_key(timers, timer))))
        return StateDef(
            name=str(name),
            source=_src(file, where_key(states, name)),
            final=bool(body.get("final", False)),
            timers=tuple(built),
            description=str(body.get("description", "")),
        )

    def table(self, doc: YamlDocument, fragments: list[tuple[str, YamlDocument]]) -> Table:
        data, file = doc.data, doc.file
        states = data["states"]
        rows = [self.row(data["transitions"], i, file, "") for i in range(len(data["transitions"]))]
        for name, frag in fragments:
            frows = frag.data["transitions"]
            rows.extend(self.row(frows, i, frag.file, name) for i in range(len(frows)))
        parameters = data.get("parameters") or {}
        locations = {"table": _src(file, where(data, "table")),
                     "initial": _src(file, where(data, "initial"))}
        for key in ("starts_on", "include"):
            for n in range(len(data.get(key) or [])):
                locations[f"{key}.{n}"] = _src(file, where(data[key], n))
        digest = hashlib.sha256()
        for part in [doc, *(f for _, f in fragments)]:
            digest.update(len(part.raw).to_bytes(8, "big") + part.raw)
        return Table(
            name=str(data["table"]),
            role=str(data["role"]),
            initial=str(data["initial"]),
            states={str(n): self.state(states, n, file) for n in states},
            rows=rows,
            source=_src(file, where_key(data, "table")),
            starts_on=tuple(str(e) for e in data.get("starts_on") or ()),
            parameters={str(k): _value(v) for k, v in parameters.items()},
            parameter_sources={str(k): _src(file, where_key(parameters, k)) for k in parameters},
            includes=tuple(str(i) for i in data.get("include") or ()),
            description=str(data.get("description", "")),
            files=(file, *(f.file for _, f in fragments)),
            version=digest.hexdigest()[:12],
            locations=locations,
        )


# -- public API ------------------------------------------------------------------------
def _read(path: Path, file: str, kind: str) -> tuple[YamlDocument | None, list[Diagnostic]]:
    try:
        doc = load_yaml(path, file)
    except YamlInputError as exc:
        return None, exc.diagnostics
    problems = validate(doc.data, file, kind)
    return (None if problems else doc), problems


def load_checked(path_or_name: str | Path, registry: Registry | None = None) -> LoadResult:
    """Load one table, returning every load problem instead of raising.

    Problems: ``E-INPUT`` (unusable file), ``E-YAML``, ``E-DUPLICATE-KEY``, ``E-SCHEMA`` and
    ``E-UNKNOWN-FRAGMENT``, for the table file and its fragments. ``table`` is None when any
    was found. A fragment file given directly is validated as a fragment (``is_fragment``).
    """
    try:
        path, file = resolve(path_or_name)
    except TableLoadError as exc:
        return LoadResult(exc.file, None, [error(exc.file, 1, 1, "E-INPUT", exc.message, exc.hint,
                                                 unusable=True)])
    try:
        doc = load_yaml(path, file)
    except YamlInputError as exc:
        return LoadResult(file, None, exc.diagnostics)
    if isinstance(doc.data, dict) and "fragment" in doc.data:
        return LoadResult(file, None, validate(doc.data, file, "fragment"), is_fragment=True)
    problems = validate(doc.data, file, "table")
    if problems:
        return LoadResult(file, None, problems)
    fragments: list[tuple[str, YamlDocument]] = []
    for n, name in enumerate(doc.data.get("include") or []):
        fpath = fragment_path(str(name), path)
        if fpath is None:
            line, col = where(doc.data["include"], n)
            problems.append(error(file, line, col, "E-UNKNOWN-FRAGMENT", f"no fragment named {name!r}",
                                  f"create fragments/{name}.yaml beside the table, or use a shipped fragment"))
            continue
        fdoc, fproblems = _read(fpath, _display(fpath), "fragment")
        problems.extend(fproblems)
        if fdoc is not None:
            fragments.append((str(name), fdoc))
    if problems:
        return LoadResult(file, None, problems)
    try:
        return LoadResult(file, _Builder(registry).table(doc, fragments))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # the schema should prevent this
        return LoadResult(file, None, [error(file, 1, 1, "E-SCHEMA", f"cannot build the table: {exc}",
                                             "please report this: the schema accepted the file")])


def load_table(path_or_name: str | Path, registry: Registry | None = None) -> Table:
    """Load a table by shipped name or path; raise ``TableLoadError`` on the first problem.

    ``registry`` (default: the built-in one) tells which parameter a scalar guard argument
    fills (``{code: 486}`` → ``code(value=486)``). Names are not checked: run lint for that.
    """
    if registry is None:
        from sipflow.runtime.builtins import default_registry

        registry = default_registry()
    result = load_checked(path_or_name, registry)
    if result.table is None:
        if not result.diagnostics:
            raise TableLoadError(result.file, 1, 1, "is a fragment, not a table",
                                 rule="E-INPUT", hint="load a table that includes it")
        raise TableLoadError.from_diagnostics(result.diagnostics)
    return result.table


def expand_paths(paths: Iterable[str | Path]) -> list[str | Path]:
    """Directories become their ``*.yaml`` tables (not fragments, not scenarios), sorted.

    Raises ``TableLoadError`` for a directory that cannot be listed.
    """
    out: list[str | Path] = []
    for item in paths:
        if not is_name(item) and Path(item).is_dir():
            folder = Path(item)
            try:
                names = sorted(entry.name for entry in os.scandir(folder))
            except OSError as exc:
                raise TableLoadError(str(item), 1, 1, f"cannot list directory: {exc.strerror or exc}",
                                     hint="check its permissions") from None
            out.extend(folder / n for n in names
                       if n.endswith(".yaml") and not n.endswith(SCENARIO_SUFFIX) and (folder / n).is_file())
        else:
            out.append(item)
    return out


def load_tables(paths: Iterable[str | Path], registry: Registry | None = None) -> list[Table]:
    """Load every table named by ``paths`` (names, files or directories), in order."""
    return [load_table(p, registry) for p in expand_paths(paths)]
