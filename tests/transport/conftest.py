"""Shared fixtures of the transport tests: a fake sans-I/O endpoint and a loop runner.

``run`` runs a coroutine on a fresh loop, once with the standard asyncio loop
and once with uvloop (parametrized), bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sipflow.sip.types import Address, Transmit
from sipflow.transport.loop import run as run_on_loop
from sipflow.transport.loop import uvloop_available


class EchoEndpoint:
    """A fake SIP core: records what it receives and answers ``b"echo:" + data`` to the source.

    ``deadlines`` are times at which ``handle_timers`` is wanted; each firing
    records ``now`` and, when ``tick_to`` is set, sends ``b"tick"`` there.
    Data starting with ``b"quiet"`` is recorded but not answered.
    """

    def __init__(self, local: list[Address] | None = None) -> None:
        self.local = local or []
        self.received: list[tuple[bytes, Address, float]] = []
        self.fired: list[float] = []
        self.deadlines: list[float] = []
        self.outbox: list[Transmit] = []
        self.tick_to: Address | None = None
        self.on_receive: Callable[[bytes, Address], None] | None = None

    def receive(self, data: bytes, source: Address, now: float) -> None:
        self.received.append((data, source, now))
        if self.on_receive is not None:
            self.on_receive(data, source)
        if not data.startswith(b"quiet") and not data.startswith(b"echo:"):
            self.outbox.append(Transmit(b"echo:" + data, source))

    def handle_timers(self, now: float) -> None:
        due = [d for d in self.deadlines if d <= now]
        if due:
            self.fired.append(now)
            self.deadlines = [d for d in self.deadlines if d > now]
            if self.tick_to is not None:
                self.outbox.append(Transmit(b"tick", self.tick_to))

    def next_deadline(self) -> float | None:
        return min(self.deadlines) if self.deadlines else None

    def take_transmits(self) -> list[Transmit]:
        out, self.outbox = self.outbox, []
        return out


@pytest.fixture
def echo() -> type[EchoEndpoint]:
    """The ``EchoEndpoint`` class."""
    return EchoEndpoint


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[..., object]:
    """``run(coro, timeout=2.0)``: run on a fresh loop of the parametrized kind."""
    kind = request.param
    if kind == "uvloop" and not uvloop_available():
        pytest.skip("uvloop is not installed")

    def runner(coro, timeout: float = 2.0):
        async def bounded():
            return await asyncio.wait_for(coro, timeout)

        return run_on_loop(bounded(), prefer_uvloop=(kind == "uvloop"))

    runner.kind = kind  # type: ignore[attr-defined]
    return runner


async def wait_until(predicate: Callable[[], bool], timeout: float = 1.0) -> None:
    """Poll ``predicate`` every millisecond until it holds (fails the test after ``timeout``)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


@pytest.fixture
def until() -> Callable[..., object]:
    """The ``wait_until`` coroutine function."""
    return wait_until
