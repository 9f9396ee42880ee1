"""Read one YAML file safely, keeping the line and column of every node.

Rules, applied in this order, each failure one diagnostic naming file and line:

1. the path must be a readable file of at most ``MAX_BYTES`` (checked with
   ``stat`` before reading, and again while reading: at most ``MAX_BYTES + 1`` bytes
   are ever read);
2. the bytes must be UTF-8 text without NUL bytes (a NUL means a binary file), with at
   most ``MAX_FLOW_DEPTH`` unclosed ``[``/``{`` (the YAML scanner's cost per token grows
   with flow depth);
3. the text must be YAML (ruamel.yaml round-trip, YAML 1.2: ``on``/``yes`` are strings);
4. before anything walks the tree: at most ``MAX_ALIASES`` aliases, at most
   ``MAX_NODES`` nodes once aliases are expanded (alias bombs), no recursive alias,
   at most ``MAX_DEPTH`` levels of nesting (so no later recursion can overflow);
5. no mapping may repeat a key (every duplicate is reported, not just the first).

Rules 1, 2 and 4 make the input *unusable* (rule ``E-INPUT``, ``sipflow lint`` exits
2); rule 3 is ``E-YAML`` and rule 5 ``E-DUPLICATE-KEY``, ordinary errors in a table.

Theory of operation: the text is *composed* into a node graph first (aliases are
shared nodes there, so composing a bomb is cheap), the graph is measured and
checked iteratively, and only then constructed into ``CommentedMap`` /
``CommentedSeq`` values whose ``.lc`` records 0-based positions; :func:`where`
turns those into 1-based ``(line, col)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic, error

MAX_BYTES = 256 * 1024
"""Largest table file accepted: 256 KiB (a shipped table is about 5 KiB; ruamel.yaml's
round-trip parser is pure Python, about 4 s for a file of this size)."""
MAX_ALIASES = 64
"""Most aliases (``*name``) a file may use."""
MAX_NODES = 100_000
"""Most nodes a file may hold once every alias is expanded."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences (a table needs about 8)."""

MAX_FLOW_DEPTH = 20
"""Most unclosed ``[``/``{`` at any point (a table needs about 5)."""

_BRACKETS = re.compile(rb"[\[\]{}]")


class YamlInputError(Exception):
    """The file could not be turned into YAML data; ``diagnostics`` says why and where."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(str(diagnostics[0]))
        self.diagnostics = diagnostics


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed file: its display name, raw bytes (for version hashes) and data."""

    file: str
    raw: bytes
    data: Any


def _unusable(file: str, line: int, message: str, hint: str = "") -> YamlInputError:
    return YamlInputError([error(file, line, 1, "E-INPUT", message, hint, unusable=True)])


def read_bytes(path: Path, file: str) -> bytes:
    """The file's bytes, after the size and type checks of rule 1."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _unusable(file, 1, "no such file", "check the path") from None
    except OSError as exc:
        raise _unusable(file, 1, f"cannot read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise _unusable(file, 1, "is a directory, not a table file",
                        "pass the directory itself to lint, or a .yaml file")
    if info.st_size > MAX_BYTES:
        raise _unusable(file, 1, f"file is {info.st_size} bytes; the limit is {MAX_BYTES}",
                        "a state table is a few KiB; is this the right file?")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _unusable(file, 1, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise _unusable(file, 1, f"file is larger than the limit of {MAX_BYTES} bytes",
                        "a state table is a few KiB; is this the right file?")
    return raw


def decode(raw: bytes, file: str) -> str:
    """The text of ``raw`` (rule 2): UTF-8, optional BOM, no NUL byte."""
    nul = raw.find(b"\0")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise _unusable(file, line, "binary file (NUL byte)", "a state table is UTF-8 YAML text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _unusable(file, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                        "save the file as UTF-8") from None


def check_flow_depth(raw: bytes, file: str) -> None:
    """Refuse more than ``MAX_FLOW_DEPTH`` unclosed ``[``/``{`` before the YAML scanner sees them.

    The scanner's cost grows with flow nesting for every token, so ``[[[[...`` is quadratic;
    this linear count over every bracket byte (quoted or not, so it can only over-count)
    bounds it.
    """
    depth = 0
    for match in _BRACKETS.finditer(raw):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                line = raw.count(b"\n", 0, match.start()) + 1
                raise _unusable(file, line, f"more than {MAX_FLOW_DEPTH} unclosed [ or {{ (nested too deeply)",
                                "a state table is a few levels deep")
        elif depth:
            depth -= 1


def _mark_position(exc: MarkedYAMLError) -> tuple[int, int]:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def _yaml_message(exc: YAMLError) -> str:
    if isinstance(exc, MarkedYAMLError):
        parts = [p for p in (exc.context, exc.problem) if p]
        return "invalid YAML: " + "; ".join(str(p).strip() for p in parts)
    return f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def _check_graph(root: Node, file: str) -> list[Diagnostic]:
    """Rules 4 and 5 on the composed graph, iteratively (no recursion on user input)."""
    aliases = 0
    seen: set[int] = set()
    stack: list[tuple[Node, Node | None, int]] = [(root, None, 1)]
    duplicates: list[Diagnostic] = []
    while stack:
        node, parent, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _unusable(file, node.start_mark.line + 1, f"YAML nested deeper than {MAX_DEPTH} levels",
                            "a state table is a few levels deep")
        if id(node) in seen:
            aliases += 1
            if aliases > MAX_ALIASES:
                # an alias shares the anchored node (and its position): report the place using it
                line = (parent or node).start_mark.line + 1
                anchor = node.start_mark.line + 1
                raise _unusable(file, line, f"more than {MAX_ALIASES} YAML aliases (this one refers "
                                f"to the anchor at line {anchor})",
                                "write the values out; tables do not need aliases")
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            keys: dict[Any, Node] = {}
            for key, _value in node.value:
                if isinstance(key, ScalarNode):
                    if key.value in keys:
                        first = keys[key.value].start_mark.line + 1
                        duplicates.append(error(
                            file, key.start_mark.line + 1, key.start_mark.column + 1,
                            "E-DUPLICATE-KEY", f"duplicate key {key.value!r} (first at line {first})",
                            "remove or rename one of them; YAML keeps only one"))
                    else:
                        keys[key.value] = key
            for key, value in reversed(node.value):  # visited in file order
                stack.append((value, node, depth + 1))
                stack.append((key, node, depth + 1))
        elif isinstance(node, SequenceNode):
            stack.extend((item, node, depth + 1) for item in reversed(node.value))
    _check_expansion(root, file, aliases)
    return sorted(duplicates, key=lambda d: (d.line, d.col))


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: Node, file: str, aliases: int) -> None:
    """Size of the tree with every alias expanded (iterative post-order, memoised)."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            visiting.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_NODES:
                what = "aliases expand to" if aliases else "the file holds"
                raise _unusable(file, node.start_mark.line + 1,
                                f"{what} more than {MAX_NODES} YAML nodes"
                                + (" (alias bomb?)" if aliases else ""),
                                "a state table has a few hundred nodes")
            size[key] = total
            continue
        if key in size:
            continue
        if key in visiting:
            raise _unusable(file, node.start_mark.line + 1, "recursive YAML alias",
                            "a node may not contain an alias to itself")
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def parse(raw: bytes, file: str) -> Any:
    """Rules 2 to 5 on ``raw``: the constructed round-trip data (None for an empty file)."""
    text = decode(raw, file)
    check_flow_depth(raw, file)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        line, col = _mark_position(exc)
        raise YamlInputError([error(file, line, col, "E-YAML", _yaml_message(exc),
                                    "fix the YAML syntax: indentation, quotes, colons")]) from None
    except YAMLError as exc:
        raise YamlInputError([error(file, 1, 1, "E-YAML", _yaml_message(exc),
                                    "fix the YAML syntax")]) from None
    except RecursionError:
        raise _unusable(file, 1, "YAML nested too deeply", "a state table is a few levels deep") from None
    if node is None:
        return None
    duplicates = _check_graph(node, file)
    if duplicates:
        raise YamlInputError(duplicates)
    try:
        return yaml.constructor.construct_document(node)
    except MarkedYAMLError as exc:
        line, col = _mark_position(exc)
        raise YamlInputError([error(file, line, col, "E-YAML", _yaml_message(exc),
                                    "fix the YAML value")]) from None
    except (YAMLError, ValueError, TypeError) as exc:
        line = node.start_mark.line + 1
        raise YamlInputError([error(file, line, 1, "E-YAML", f"invalid YAML: {exc}",
                                    "fix the YAML value")]) from None
    except RecursionError:
        raise _unusable(file, 1, "YAML nested too deeply", "a state table is a few levels deep") from None


def load_yaml(path: Path, file: str) -> YamlDocument:
    """Read and parse ``path`` (shown as ``file`` in messages); raise :class:`YamlInputError`."""
    raw = read_bytes(path, file)
    return YamlDocument(file, raw, parse(raw, file))


def where(container: Any, key: Any, default: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """1-based ``(line, col)`` of ``container[key]``'s value in the source, or ``default``."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return default
    try:
        if isinstance(key, int) and isinstance(container, list):
            line, col = lc.item(key)
        else:
            line, col = lc.value(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return default
    return line + 1, col + 1


def where_key(container: Any, key: Any, default: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """1-based ``(line, col)`` of the key ``key`` of a mapping, or ``default``."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return default
    try:
        line, col = lc.key(key)
    except (KeyError, TypeError, AttributeError):
        return default
    return line + 1, col + 1


def where_node(value: Any, default: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """1-based ``(line, col)`` where a mapping or sequence itself starts, or ``default``."""
    lc = getattr(value, "lc", None)
    if lc is None or lc.line is None:
        return default
    return lc.line + 1, lc.col + 1


def plain(value: Any) -> Any:
    """``value`` with round-trip types turned into plain dict, list, str, int, float, bool."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)


def position_of(data: Any, path: list[Any]) -> tuple[int, int]:
    """(line, col) of the node at ``path`` (keys and indexes) in a loaded tree.

    Where the path leads past what exists (a missing key), the deepest
    container reached is named instead.
    """
    container, node = None, data
    for part in path:
        container = node
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if container is None:
        return where_node(data)
    return where(container, path[-1], where_node(container))
