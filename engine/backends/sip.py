"""The ``sip`` backend: sipflow's SIP core over real UDP and TCP sockets (asyncio).

Rules:

* ``start(listen, deliver)`` binds every listen spec (``udp:127.0.0.1:5060``,
  ``tcp:[::1]:0`` …; port 0 picks a free port) through
  ``sipflow.transport.start_endpoint`` on the backend's ``AsyncioClock``,
  and from then on delivers table events. Must run inside an event loop.
* ``stop(drain)`` is a clean shutdown: new INVITEs get 503, every session
  gets the ``Shutdown`` command (its table decides: 480 while ringing, BYE
  when confirmed), then it waits up to ``drain`` seconds for sessions,
  dialogs and handles to end, and closes the sockets. What was still open
  is left in ``left_open`` (endpoint counts plus ``sessions``).
* ``start`` also pins glibc's mmap threshold (``sipflow.backends.malloc``),
  so a serving process's RSS stays flat at a steady call rate.
* Everything else (event mapping, safe defaults, ``--auth``) is
  ``EndpointBackend``'s.

Usage::

    clock = AsyncioClock()
    backend = SipBackend(clock)
    runtime = Runtime(["uac_call", "uas_call"], None, clock, backend)
    await backend.start(["udp:127.0.0.1:0"], runtime.deliver)
    session = runtime.start_session("uac_call", {"target": "sip:bob@127.0.0.1:5062"})
    runtime.subscribe(lambda s, name, data: print(name))   # CallEstablished, CallFailed, CallEnded …
    runtime.dispatch(session, "MakeCall")
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from sipflow.clock import AsyncioClock, Clock
from sipflow.transport.bind import start_endpoint

from .base import BackendEvent
from .endpoint_backend import EndpointBackend
from .malloc import pin_mmap_threshold

DRAIN_POLL = 0.05
"""Seconds between checks while draining."""


class SipBackend(EndpointBackend):
    """``EndpointBackend`` on real sockets (``clock``: default a new ``AsyncioClock``)."""

    name: ClassVar[str] = "sip"

    def __init__(self, clock: Clock | None = None, **options: Any) -> None:
        super().__init__(clock if clock is not None else AsyncioClock(), **options)
        self.left_open: dict[str, int] = {}

    async def start(self, listen: list[Any], deliver: Callable[[BackendEvent], Any]) -> None:
        """Bind ``listen`` (raises ``BindError`` naming the spec) and start delivering events."""
        self._bind(deliver)
        pin_mmap_threshold()
        self.driver = await start_endpoint(list(listen) or ["udp:127.0.0.1:0"],
                                           self.make_endpoint, clock=self.clock,
                                           on_step=self.on_step)

    async def stop(self, drain: float) -> None:
        """Shut down cleanly within ``drain`` seconds (see the module rules)."""
        driver = self.driver
        if driver is None:
            return
        self.begin_shutdown()
        loop = asyncio.get_running_loop()
        end = loop.time() + max(drain, 0.0)
        while not self.idle() and loop.time() < end:
            await asyncio.sleep(DRAIN_POLL)
        self.left_open = {k: v for k, v in self.counts().items() if v}
        if self.runtime is not None and self.runtime.sessions:
            self.left_open["sessions"] = len(self.runtime.sessions)
        driver.flush()  # what the last step queued still goes out
        self.driver = None
        await driver.aclose()
