"""Event loop selection: uvloop when importable, the standard loop on request."""

from __future__ import annotations

import asyncio

import pytest

from sipflow.transport import loop as loops


async def which() -> str:
    return loops.loop_name(asyncio.get_running_loop())


@pytest.mark.skipif(not loops.uvloop_available(), reason="uvloop is not installed")
def test_uvloop_is_chosen_when_available():
    assert loops.run(which()) == "uvloop"
    new = loops.new_event_loop()
    try:
        assert loops.loop_name(new) == "uvloop"
    finally:
        new.close()


def test_standard_loop_on_request():
    assert loops.run(which(), prefer_uvloop=False) == "asyncio"
    new = loops.new_event_loop(prefer_uvloop=False)
    try:
        assert isinstance(new, asyncio.BaseEventLoop) and loops.loop_name(new) == "asyncio"
    finally:
        new.close()


def test_install_sets_the_policy_and_says_which():
    before = asyncio.get_event_loop_policy()
    try:
        assert loops.install(prefer_uvloop=False) == "asyncio"
        assert asyncio.run(which()) == "asyncio"
        expected = "uvloop" if loops.uvloop_available() else "asyncio"
        assert loops.install() == expected
        assert asyncio.run(which()) == expected
    finally:
        asyncio.set_event_loop_policy(before)
