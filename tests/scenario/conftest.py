"""Helpers for the scenario tests: write a scenario file into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

TABLES = Path(__file__).resolve().parent / "tables"
"""Small fixed tables (simple_uas, simple_uac), so these tests do not change with the shipped ones."""
UAS = str(TABLES / "simple_uas.yaml")
UAC = str(TABLES / "simple_uac.yaml")

BASIC = f"""\
scenario: basic
participants:
  caller: {{peer: true}}
  bob: {{table: {UAS}}}
steps:
  - send: {{from: caller, to: bob, method: INVITE, body: sdp}}
  - expect: {{from: bob, to: caller, status: 180}}
  - expect: {{from: bob, to: caller, status: 200, method: INVITE}}
  - send: {{from: caller, to: bob, method: ACK}}
  - send: {{from: caller, to: bob, method: BYE}}
  - expect: {{from: bob, to: caller, status: 200, method: BYE}}
"""
"""A passing call: INVITE answered at once by simple_uas, ACK, BYE from the caller."""


@pytest.fixture
def basic() -> str:
    """The text of a passing scenario (see ``BASIC``)."""
    return BASIC


@pytest.fixture
def uas() -> str:
    """The path of the simple_uas fixture table."""
    return UAS


@pytest.fixture
def uac() -> str:
    """The path of the simple_uac fixture table."""
    return UAC


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(text, name="t")`` → the path of ``tmp_path/<name>.scenario.yaml`` (dedented)."""

    def make(text: str, name: str = "t") -> Path:
        path = tmp_path / f"{name}.scenario.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return make
