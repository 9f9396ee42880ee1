"""The ``loopback`` backend: sipflow's SIP core over an in-memory network in virtual time.

Rules:

* Everything ``sip`` does, byte for byte (the same parser, transactions,
  dialogs and timers), but the wire is a ``LoopbackNetwork`` and time is the
  network's ``VirtualClock``: a 180 s no-answer timer takes microseconds, and
  a run is reproducible from the network's seed and the backend's ``rng``.
* Several backends (a caller and a callee, each with its own ``Runtime``)
  share one network and one clock; ``start`` binds listen specs such as
  ``udp:10.0.0.1:5060`` (port 0: a free port from 40000 up).
* ``stop(drain)`` refuses new INVITEs, sends ``Shutdown`` to every session,
  runs the shared clock for at most ``drain`` virtual seconds until nothing
  is left, then detaches.

Usage::

    clock = VirtualClock(); net = LoopbackNetwork(clock)
    callee = LoopbackBackend(clock, network=net)
    uas = Runtime(["uas_call"], None, clock, callee)
    callee.open(["udp:10.0.0.2:5060"], uas.deliver)
    caller = LoopbackBackend(clock, network=net)
    uac = Runtime(["uac_call"], None, clock, caller)
    caller.open(["udp:10.0.0.1:5060"], uac.deliver)
    uac.dispatch(uac.start_session("uac_call", {"target": "sip:bob@10.0.0.2:5060"}), "MakeCall")
    clock.run_until_idle()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from sipflow.clock import VirtualClock
from sipflow.transport.loopback import LoopbackNetwork

from .base import BackendEvent
from .endpoint_backend import EndpointBackend


class LoopbackBackend(EndpointBackend):
    """``EndpointBackend`` on a ``LoopbackNetwork`` (default: a new one on ``clock``)."""

    name: ClassVar[str] = "loopback"

    def __init__(self, clock: VirtualClock, *, network: LoopbackNetwork | None = None,
                 **options: Any) -> None:
        super().__init__(clock, **options)
        self.network = network if network is not None else LoopbackNetwork(clock)
        if self.network.clock is not clock:
            raise ValueError("the loopback network runs on another clock than the backend")

    def open(self, listen: Sequence[Any], deliver: Callable[[BackendEvent], Any]) -> None:
        """``start`` without awaiting (virtual time needs no event loop)."""
        self._bind(deliver)
        self.driver = self.network.start_endpoint(list(listen) or ["udp:127.0.0.1:0"],
                                                  self.make_endpoint, on_step=self.on_step)

    async def start(self, listen: list[Any], deliver: Callable[[BackendEvent], Any]) -> None:
        """Bind ``listen`` on the loopback network and start delivering events."""
        self.open(listen, deliver)

    def shutdown(self, drain: float) -> None:
        """``stop`` without awaiting."""
        if self.driver is None:
            return
        self.begin_shutdown()
        clock: VirtualClock = self.clock  # type: ignore[assignment]
        end = clock.now() + drain
        while not self.idle():
            deadline = clock.next_deadline()
            if deadline is None or deadline > end:
                break
            clock.advance(deadline - clock.now())
        self.driver.flush()  # what the last step queued still goes out
        self.driver.close()
        self.driver = None

    async def stop(self, drain: float) -> None:
        """Drain for at most ``drain`` virtual seconds, then detach from the network."""
        self.shutdown(drain)
