"""``sipflow.app.loss``: the test-only ``--test-loss`` drops a share of UDP sends, never TCP."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sipflow.app.loss import LossyTransport, drop_outgoing
from sipflow.sip.types import Address


class Recorder:
    def __init__(self, transport: str) -> None:
        self.local = Address(transport, "127.0.0.1", 5060)
        self.sent: list[bytes] = []
        self.on_receive = None
        self.closed = False

    def send(self, data: bytes, dest: Address) -> None:
        self.sent.append(data)

    def close(self) -> None:
        self.closed = True


def test_udp_sends_are_dropped_at_the_rate_tcp_never() -> None:
    udp, tcp = Recorder("udp"), Recorder("tcp")
    backend = SimpleNamespace(driver=SimpleNamespace(transports=[udp, tcp]))
    proxies = drop_outgoing(backend, 0.05, seed=7)
    assert len(proxies) == 1 and isinstance(backend.driver.transports[0], LossyTransport)
    assert backend.driver.transports[1] is tcp
    dest = Address("udp", "127.0.0.1", 5070)
    for i in range(4000):
        backend.driver.transports[0].send(b"%d" % i, dest)
        backend.driver.transports[1].send(b"%d" % i, dest)
    assert len(tcp.sent) == 4000
    dropped = 4000 - len(udp.sent)
    assert proxies[0].dropped == dropped
    assert 120 <= dropped <= 280  # 5 % of 4000 = 200, well inside chance


def test_the_proxy_is_the_transport_otherwise() -> None:
    udp = Recorder("udp")
    proxy = LossyTransport(udp, 1.0, __import__("random").Random(1))
    assert proxy.local is udp.local
    proxy.on_receive = print
    assert udp.on_receive is print
    proxy.close()
    assert udp.closed
    proxy.send(b"x", udp.local)
    assert udp.sent == [] and proxy.dropped == 1


def test_bad_fraction() -> None:
    with pytest.raises(ValueError):
        drop_outgoing(SimpleNamespace(driver=None), 0)
    assert drop_outgoing(SimpleNamespace(driver=None), 0.5) == []
