"""Open real listeners from ``ListenSpec``s and start an endpoint on them.

Rules:

- ``open_transport(spec)`` binds one UDP or TCP listener; ``open_transports``
  binds several and, if one fails, closes those already open and raises
  ``BindError`` naming the spec and the system's reason (for example
  ``cannot listen on udp:127.0.0.1:5060: address already in use``).
- ``start_endpoint(specs, make_endpoint)`` binds first, so port 0 becomes a
  real port, then calls ``make_endpoint(bound_addresses)`` to build the SIP
  endpoint (its Via sent-by and Contact need the real ports), then returns an
  ``EndpointDriver`` on an ``AsyncioClock`` (or the clock given).
- Must be called from a running event loop (uvloop or the standard one).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

from sipflow.clock import AsyncioClock, Clock
from sipflow.sip.types import Address
from sipflow.transport.base import ErrorCallback, SansIOEndpoint, Transport, TransportError
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.listen import ListenSpec, parse_listen
from sipflow.transport.options import TransportOptions
from sipflow.transport.tcp import TcpTransport
from sipflow.transport.udp import UdpTransport


class BindError(TransportError):
    """A listener could not be opened; the message names the spec and the reason."""


async def open_transport(spec: ListenSpec | str,
                         options: TransportOptions | None = None) -> UdpTransport | TcpTransport:
    """Bind one listener; raises ``BindError`` (or ``ListenSpecError`` for bad text)."""
    if isinstance(spec, str):
        spec = parse_listen(spec)
    opts = options or TransportOptions()
    try:
        if spec.transport == "udp":
            return await UdpTransport.open(spec.host, spec.port, max_datagram=opts.max_datagram)
        return await TcpTransport.open(spec.host, spec.port, opts)
    except OSError as exc:
        raise BindError(f"cannot listen on {spec}: {_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    """The system's reason, looking through uvloop's wrapper (its cause holds the errno)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    if cause.errno == errno.EADDRINUSE:
        return "address already in use"
    if cause.errno == errno.EADDRNOTAVAIL:
        return "no such local address"
    if cause.errno == errno.EACCES:
        return "permission denied"
    return cause.strerror or str(cause)


async def open_transports(specs: Sequence[ListenSpec | str],
                          options: TransportOptions | None = None) -> list[Transport]:
    """Bind every spec, or none: on a failure the ones already bound are closed."""
    opened: list[Transport] = []
    try:
        for spec in specs:
            opened.append(await open_transport(spec, options))
    except BaseException:
        for transport in opened:
            transport.close()
        raise
    return opened


async def start_endpoint(
    specs: Sequence[ListenSpec | str],
    make_endpoint: Callable[[list[Address]], SansIOEndpoint],
    *,
    clock: Clock | None = None,
    on_step: Callable[[EndpointDriver], None] | None = None,
    on_error: ErrorCallback | None = None,
    options: TransportOptions | None = None,
) -> EndpointDriver:
    """Bind ``specs``, build the endpoint on the bound addresses, and drive it."""
    transports = await open_transports(specs, options)
    try:
        endpoint = make_endpoint([t.local for t in transports])
    except BaseException:
        for transport in transports:
            transport.close()
        raise
    return EndpointDriver(endpoint, clock or AsyncioClock(), transports,
                          on_step=on_step, on_error=on_error)
