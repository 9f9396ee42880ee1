"""Safe YAML reading: exact caps, positions, duplicate keys, YAML 1.2 scalars."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.tables.yamlio import (
    MAX_ALIASES,
    MAX_BYTES,
    YamlInputError,
    parse,
    plain,
    read_bytes,
    where,
    where_key,
)


def test_size_cap_is_exact(tmp_path: Path) -> None:
    at_cap = tmp_path / "at.yaml"
    at_cap.write_bytes(b"#" * MAX_BYTES)
    assert len(read_bytes(at_cap, "at.yaml")) == MAX_BYTES
    over = tmp_path / "over.yaml"
    over.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(YamlInputError) as info:
        read_bytes(over, "over.yaml")
    (diag,) = info.value.diagnostics
    assert (diag.rule, diag.line, diag.unusable) == ("E-INPUT", 1, True)


def _aliases(count: int) -> bytes:
    return ("a: &a 1\nb: [" + ", ".join(["*a"] * count) + "]\n").encode()


def test_alias_cap_is_exact() -> None:
    assert len(parse(_aliases(MAX_ALIASES), "f")["b"]) == MAX_ALIASES
    with pytest.raises(YamlInputError) as info:
        parse(_aliases(MAX_ALIASES + 1), "f")
    assert info.value.diagnostics[0].line == 2


def test_every_duplicate_key_reported_in_order() -> None:
    text = b"a: 1\nb:\n  x: 1\n  x: 2\na: 3\n"
    with pytest.raises(YamlInputError) as info:
        parse(text, "f")
    found = [(d.rule, d.line, d.col) for d in info.value.diagnostics]
    assert found == [("E-DUPLICATE-KEY", 4, 3), ("E-DUPLICATE-KEY", 5, 1)]


def test_yaml_1_2_scalars_and_plain_types() -> None:
    data = plain(parse(b"on: yes\nno: off\nn: 0x1F\nf: 1.5\nq: '3'\n", "f"))
    assert data == {"on": "yes", "no": "off", "n": 31, "f": 1.5, "q": "3"}
    assert [type(v) for v in data.values()] == [str, str, int, float, str]


def test_positions_are_one_based() -> None:
    data = parse(b"top:\n  - {k: v}\n  - key: value\n", "f")
    assert where(data, "top") == (2, 3)
    assert where(data["top"], 1) == (3, 5)
    assert where_key(data["top"][1], "key") == (3, 5)
    assert where(data["top"][1], "key") == (3, 10)


def test_bom_is_accepted_and_nul_is_binary() -> None:
    assert parse("\ufeffa: 1\n".encode(), "f") == {"a": 1}
    with pytest.raises(YamlInputError, match="binary"):
        parse(b"a: 1\n\x00", "f")


def test_depth_caps_are_exact() -> None:
    from sipflow.tables.yamlio import MAX_DEPTH, MAX_FLOW_DEPTH

    assert parse(b"[" * MAX_FLOW_DEPTH + b"]" * MAX_FLOW_DEPTH, "f") is not None
    with pytest.raises(YamlInputError, match="unclosed"):
        parse(b"x: 1\ny: " + b"[" * (MAX_FLOW_DEPTH + 1) + b"]" * (MAX_FLOW_DEPTH + 1), "f")
    # MAX_DEPTH - 2 nested keys, then a mapping: its scalars sit at depth MAX_DEPTH
    block = "".join(f"{' ' * n}k{n}:\n" for n in range(MAX_DEPTH - 2)) + " " * (MAX_DEPTH - 2) + "v: 1\n"
    assert parse(block.encode(), "f") is not None
    deeper = "".join(f"{' ' * n}k{n}:\n" for n in range(MAX_DEPTH)) + " " * MAX_DEPTH + "v: 1\n"
    with pytest.raises(YamlInputError, match="nested deeper"):
        parse(deeper.encode(), "f")


def test_deep_nesting_is_one_clean_error() -> None:
    with pytest.raises(YamlInputError) as info:
        parse(b"[" * 5000 + b"]" * 5000, "f")
    assert info.value.diagnostics[0].rule in ("E-INPUT", "E-YAML")


def test_empty_document_is_none() -> None:
    assert parse(b"# only a comment\n", "f") is None
