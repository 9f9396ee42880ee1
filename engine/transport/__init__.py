"""Drivers of the sans-I/O SIP core: asyncio UDP/TCP transports and the loopback network.

- ``listen``: ``ListenSpec`` (``udp:127.0.0.1:5060``, ``tcp:[::1]:0``).
"""

from sipflow.transport.listen import ListenSpec, ListenSpecError, parse_listen

__all__ = ["ListenSpec", "ListenSpecError", "parse_listen"]
