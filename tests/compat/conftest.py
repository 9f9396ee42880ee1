"""Inputs for building compat matrices without the live backends or interop tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.backends.base import Capabilities
from sipflow.compat import BackendInfo
from sipflow.compat_markers import InteropMarker, MarkerScan
from sipflow.runtime.builtins import default_registry
from sipflow.tables.loader import load_tables

PUBLISHER = """\
table: publisher
role: UAC
starts_on: [Publish]
initial: Idle
states:
  Idle: {}
  Waiting: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: Publish, do: [SendPUBLISH], to: Waiting}
  - {from: Waiting, on: DialogPUBLISH, do: [{SendSIPResponse: {code: 200}}], to: Done}
"""
"""A table that sends PUBLISH (line 10) and receives it (line 11)."""


def backend(name: str, events: set[str], actions: set[str]) -> BackendInfo:
    return BackendInfo(name, Capabilities(frozenset(events), frozenset(actions)))


def marker(method: str, role: str = "uas", test: str = "test_x") -> InteropMarker:
    return InteropMarker(method, role, test, "tests/interop/test_x.py", 3)


@pytest.fixture
def publisher_table(tmp_path: Path):
    path = tmp_path / "publisher.yaml"
    path.write_text(PUBLISHER, encoding="utf-8")
    return load_tables([path], default_registry())


@pytest.fixture
def complete_publish(publisher_table):
    """Every input PUBLISH needs for a row without gaps."""
    return {
        "methods": ["PUBLISH"],
        "tables": publisher_table,
        "backends": [backend("fake", {"DialogPUBLISH"}, {"SendPUBLISH"})],
        "markers": MarkerScan([marker("PUBLISH")]),
    }
