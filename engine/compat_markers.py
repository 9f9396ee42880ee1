"""Read the ``@pytest.mark.interop(method=..., role=...)`` markers of the interop tests.

Rules:

* The test files are read, never imported or run: ``ast`` parses each
  ``tests/interop/*.py`` and the markers are taken from the syntax tree, so a
  test that would skip (no ``sipp``) still counts as written, and reading the
  markers costs no test set-up.
* A marker counts when it is ``<anything>.mark.interop(method="M", role="R")``
  (``pytest.mark.interop`` or ``mark.interop``) with string literals, found in
  a test function's decorators (also inside ``pytest.param(..., marks=...)``
  of a ``parametrize`` decorator), in a test class's decorators or its
  ``pytestmark``, or in the module's ``pytestmark``. A marker whose ``method``
  or ``role`` is not a string literal cannot be read without running code: it
  is reported as a problem, naming ``file:line``.
* ``role="harness"`` marks a test of the test tooling itself (sipp against
  sipp): it proves nothing about sipflow, so ``counts`` is False for it and
  ``sipflow compat`` does not list it as an interop test of the method.
* The tests folder is found relative to the package's source tree: in a
  checkout, the folder ``engine/`` (the package ``sipflow``) sits beside
  ``pyproject.toml`` and ``tests/``. In an installed wheel there is no such
  folder and :func:`find_interop_dir` returns None ("tests not available").

Theory of operation: :func:`read_markers` walks one module's top-level
functions and classes, carrying the ``pytestmark`` markers of the module and
class down to each ``test*`` function; :func:`collect_markers` does that for
every file of a folder, in file-name order.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

HARNESS_ROLE = "harness"
"""The role of tests that check the test tooling, not sipflow."""


@dataclass(frozen=True, slots=True)
class InteropMarker:
    """One ``interop`` marker on one test: ``file`` is shown as given, ``line`` is the test's."""

    method: str
    role: str
    test: str
    file: str
    line: int

    @property
    def counts(self) -> bool:
        """Whether this is an interop test of sipflow (every role but ``harness``)."""
        return self.role != HARNESS_ROLE

    @property
    def where(self) -> str:
        """``file::test``, as pytest names it."""
        return f"{self.file}::{self.test}"


@dataclass
class MarkerScan:
    """Every marker found, and every problem (``file:line: message``)."""

    markers: list[InteropMarker] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def find_interop_dir(package_dir: Path | None = None) -> Path | None:
    """``tests/interop`` of the checkout the package runs from, or None (installed wheel).

    ``package_dir`` is the folder of the ``sipflow`` package (default: this
    module's folder); it must be named ``engine`` and sit beside ``pyproject.toml``.
    """
    here = (package_dir or Path(__file__).parent).resolve()
    root = here.parent
    if here.name != "engine" or not (root / "pyproject.toml").is_file():
        return None
    interop = root / "tests" / "interop"
    return interop if interop.is_dir() else None


def collect_markers(folder: Path, display_root: Path | None = None) -> MarkerScan:
    """The markers of every ``*.py`` file in ``folder`` (not its sub-folders).

    File names are shown relative to ``display_root`` (default: the folder's
    grandparent, so a checkout shows ``tests/interop/test_x.py``).
    """
    root = display_root if display_root is not None else folder.parent.parent
    scan = MarkerScan()
    for path in sorted(folder.glob("*.py")):
        try:
            shown = str(path.relative_to(root))
        except ValueError:
            shown = str(path)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            scan.problems.append(f"{shown}: cannot read: {exc}")
            continue
        found = read_markers(source, shown)
        scan.markers += found.markers
        scan.problems += found.problems
    return scan


def read_markers(source: str, file: str) -> MarkerScan:
    """The interop markers of one test module's source text; ``file`` is used in names."""
    scan = MarkerScan()
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        scan.problems.append(f"{file}:{exc.lineno or 1}: not valid Python: {exc.msg}")
        return scan
    module_marks = _pytestmark(tree.body)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _add_test(scan, file, node.name, node, module_marks)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_marks = module_marks + _pytestmark(node.body) + _calls_in(node.decorator_list)
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    _add_test(scan, file, f"{node.name}::{item.name}", item, class_marks)
    return scan


def _add_test(scan: MarkerScan, file: str, name: str,
              node: ast.FunctionDef | ast.AsyncFunctionDef, inherited: list[ast.Call]) -> None:
    if not node.name.startswith("test"):
        return
    for call in inherited + _calls_in(node.decorator_list):
        method = _keyword(call, "method", 0)
        role = _keyword(call, "role", 1)
        if method is None or role is None:
            scan.problems.append(f"{file}:{call.lineno}: interop marker of {name} needs "
                                 "method=\"...\" and role=\"...\" as string literals")
            continue
        scan.markers.append(InteropMarker(method.upper(), role.lower(), name, file, node.lineno))


def _pytestmark(body: list[ast.stmt]) -> list[ast.Call]:
    """Interop markers assigned to ``pytestmark`` in a module or class body."""
    calls: list[ast.Call] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            calls += _calls_in([stmt.value])
        elif (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
              and stmt.target.id == "pytestmark" and stmt.value is not None):
            calls += _calls_in([stmt.value])
    return calls


def _calls_in(nodes: list[ast.expr]) -> list[ast.Call]:
    """Every ``….mark.interop(...)`` call anywhere inside ``nodes``."""
    found = []
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Call) and _is_interop(node.func):
                found.append(node)
    return found


def _is_interop(func: ast.expr) -> bool:
    if not (isinstance(func, ast.Attribute) and func.attr == "interop"):
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
        isinstance(owner, ast.Name) and owner.id == "mark")


def _keyword(call: ast.Call, name: str, position: int) -> str | None:
    """A string-literal argument given by keyword or position, else None."""
    for kw in call.keywords:
        if kw.arg == name:
            return _literal(kw.value)
    if position < len(call.args):
        return _literal(call.args[position])
    return None


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return node.value.strip()
    return None
