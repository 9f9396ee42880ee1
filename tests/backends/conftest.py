"""Fixtures of the backend tests (the harness is in ``harness.py``)."""

from __future__ import annotations

import pytest

from .harness import Pair


@pytest.fixture
def pair() -> Pair:
    return Pair()
