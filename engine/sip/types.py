"""Small value types shared by the sans-I/O SIP core and its drivers."""

from __future__ import annotations

from typing import NamedTuple


class Address(NamedTuple):
    """A transport address: ``transport`` is ``"udp"`` or ``"tcp"`` (lower case);
    ``host`` is an IPv4 or IPv6 literal without brackets, or a host name."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


class Transmit(NamedTuple):
    """Bytes the core wants sent to ``dest``; the driver sends them as they are."""

    data: bytes
    dest: Address
