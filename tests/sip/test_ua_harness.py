"""A tiny in-memory network for UA-core tests: endpoints hand their transmits
to each other; virtual time steps to the next deadline. Optional per-message
``drop`` filter (loss) and ``tee`` (extra copies, e.g. a forking proxy).

The other UA-core test files import it (``sys.path`` holds this folder); the
tests at the bottom check the harness itself."""

from __future__ import annotations

import random
from collections.abc import Callable

from sipflow.sip import events as ev
from sipflow.sip.endpoint import EndpointConfig, SipEndpoint
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address, Transmit

A = Address("udp", "127.0.0.1", 5061)
B = Address("udp", "127.0.0.1", 5062)
C = Address("udp", "127.0.0.1", 5063)


def uri(addr: Address, user: str = "u") -> str:
    params = "" if addr.transport == "udp" else f";transport={addr.transport}"
    return f"sip:{user}@{addr.host}:{addr.port}{params}"


class Net:
    """Endpoints by address; ``run()`` delivers until quiet."""

    def __init__(self, *addrs: Address, config: EndpointConfig | None = None, seed: int = 1):
        self.now = 0.0
        self.eps: dict[Address, SipEndpoint] = {}
        self.events: dict[Address, list[ev.UAEvent]] = {}
        self.wire: list[tuple[float, Address, Address, bytes]] = []
        self.drop: Callable[[Address, Address, bytes], bool] | None = None
        self.tee: Callable[[Address, Address, bytes], list[Address]] | None = None
        rng = random.Random(seed)
        for addr in addrs:
            self.add(addr, config, random.Random(rng.getrandbits(32)))

    def add(self, addr: Address, config=None, rng=None) -> SipEndpoint:
        ep = SipEndpoint(addr, config, rng or random.Random(len(self.eps)))
        self.eps[addr] = ep
        self.events[addr] = []
        return ep

    def __getitem__(self, addr: Address) -> SipEndpoint:
        return self.eps[addr]

    def _collect(self) -> None:
        for addr, ep in self.eps.items():
            self.events[addr].extend(ep.take_events())

    def flush(self) -> bool:
        """Deliver everything queued; True if anything moved."""
        moved = False
        while True:
            batch: list[tuple[Address, Transmit]] = []
            for addr, ep in self.eps.items():
                batch.extend((addr, t) for t in ep.take_transmits())
            self._collect()
            if not batch:
                return moved
            moved = True
            for src, t in batch:
                self.wire.append((self.now, src, t.dest, t.data))
                if self.drop is not None and self.drop(src, t.dest, t.data):
                    continue
                targets = [t.dest]
                if self.tee is not None:
                    targets += self.tee(src, t.dest, t.data)
                for dest in targets:
                    dst = self.eps.get(dest)
                    if dst is not None:
                        dst.receive(t.data, src, self.now)
            self._collect()

    def step(self) -> bool:
        """Advance to the next deadline and fire it; False when idle."""
        self.flush()
        deadlines = [d for d in (ep.next_deadline() for ep in self.eps.values()) if d is not None]
        if not deadlines:
            return False
        self.now = max(self.now, min(deadlines))
        for ep in self.eps.values():
            ep.handle_timers(self.now)
        self.flush()
        return True

    def run_for(self, seconds: float) -> None:
        """Run timers until ``now + seconds`` (or idle)."""
        end = self.now + seconds
        self.flush()
        while True:
            deadlines = [d for d in (ep.next_deadline() for ep in self.eps.values()) if d is not None]
            if not deadlines or min(deadlines) > end:
                self.now = end
                return
            self.step()

    def run_idle(self, limit: float = 3600.0) -> None:
        end = self.now + limit
        while self.step():
            assert self.now <= end, "network never became idle"

    def take(self, addr: Address, kind: type | None = None) -> list[ev.UAEvent]:
        self.flush()
        out = self.events[addr]
        self.events[addr] = []
        if kind is not None:
            out = [e for e in out if isinstance(e, kind)]
        return out

    def methods_on_wire(self, src: Address | None = None) -> list[str]:
        out = []
        for _, s, _d, data in self.wire:
            if src is not None and s != src:
                continue
            msg = parse_message(data)
            out.append(getattr(msg, "method", None) or f"{msg.status}")
        return out


def one(events: list, kind: type):
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, f"expected one {kind.__name__}, got {events!r}"
    return found[0]


def requests(events: list, method: str) -> list[ev.RequestReceived]:
    return [e for e in events if isinstance(e, ev.RequestReceived) and e.method == method]


def responses(events: list, code: int | None = None) -> list[ev.ResponseReceived]:
    return [
        e for e in events
        if isinstance(e, ev.ResponseReceived) and (code is None or e.code == code)
    ]


# -- tests of the harness itself ---------------------------------------------------


def test_harness_delivers_and_steps_virtual_time():
    net = Net(A)
    net[A].request(None, "OPTIONS", uri=uri(B), now=0.0)  # nobody at B
    net.flush()
    assert net.methods_on_wire(A) == ["OPTIONS"]
    net.run_idle()
    assert net.now == 32.0  # Timer F = 64*T1 in virtual time
    assert [type(e).__name__ for e in net.take(A)] == ["Timeout", "HandleReleased"]
