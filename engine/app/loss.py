"""Test-only packet loss on the sending side (``--test-loss PERCENT``, hidden option).

Rules:

* ``drop_outgoing(backend, fraction)`` makes the backend's UDP transports
  silently drop that fraction of the datagrams they send (0 < fraction ≤ 1).
  TCP is never touched: a stream does not lose messages.
* It is for interop tests (loss *towards* the peer, with sipp's ``-lost``
  giving loss the other way); it never runs unless the hidden option asks.
* Reproducible: ``seed`` fixes the random sequence.

Theory of operation: each UDP transport in the backend's driver is replaced
by a thin proxy whose ``send`` drops at random and otherwise forwards; every
other attribute is the real transport's.
"""

from __future__ import annotations

import random
from typing import Any

from sipflow.sip.types import Address


class LossyTransport:
    """A transport proxy that drops a fraction of what it sends."""

    def __init__(self, inner: Any, fraction: float, rng: random.Random) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "fraction", fraction)
        object.__setattr__(self, "rng", rng)
        object.__setattr__(self, "dropped", 0)

    def send(self, data: bytes, dest: Address) -> None:
        if self.rng.random() < self.fraction:
            object.__setattr__(self, "dropped", self.dropped + 1)
            return
        self._inner.send(data, dest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def drop_outgoing(backend: Any, fraction: float, seed: int | None = None) -> list[LossyTransport]:
    """Wrap the UDP transports of ``backend.driver``; returns the proxies."""
    if not 0 < fraction <= 1:
        raise ValueError(f"loss fraction {fraction!r}: must be in (0, 1]")
    driver = getattr(backend, "driver", None)
    if driver is None:
        return []
    rng = random.Random(seed)
    proxies = []
    for i, transport in enumerate(driver.transports):
        if transport.local.transport == "udp":
            proxy = LossyTransport(transport, fraction, rng)
            driver.transports[i] = proxy
            proxies.append(proxy)
    return proxies
