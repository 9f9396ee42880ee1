"""Drivers of the sans-I/O SIP core: asyncio UDP/TCP transports and the loopback network.

- ``listen``: ``ListenSpec`` (``udp:127.0.0.1:5060``, ``tcp:[::1]:0``).
- ``base``: the ``SansIOEndpoint`` the drivers drive and the ``Transport`` protocol.
- ``driver``: ``EndpointDriver`` — one endpoint on one ``Clock`` and its transports.
- ``udp`` / ``tcp``: asyncio transports, limited by ``options.TransportOptions``;
  ``bind``: open them from specs,
  ``start_endpoint`` to bind and drive an endpoint in one call.
- ``loopback``: ``LoopbackNetwork``, the same drivers in virtual time.
- ``loop``: uvloop when available (``new_event_loop``, ``install``, ``run``).
"""

from sipflow.transport.base import SansIOEndpoint, Transport, TransportError
from sipflow.transport.bind import BindError, open_transport, open_transports, start_endpoint
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.listen import ListenSpec, ListenSpecError, parse_listen
from sipflow.transport.loopback import LoopbackNetwork, TraceRecord
from sipflow.transport.options import TransportOptions

__all__ = [
    "BindError",
    "EndpointDriver",
    "ListenSpec",
    "ListenSpecError",
    "LoopbackNetwork",
    "SansIOEndpoint",
    "TraceRecord",
    "Transport",
    "TransportError",
    "TransportOptions",
    "open_transport",
    "open_transports",
    "parse_listen",
    "start_endpoint",
]
