"""Listen specifications: ``udp:127.0.0.1:5060``, ``tcp:[::1]:0``, ``udp:[::1]:5062``.

Rules:

- The form is ``TRANSPORT:HOST:PORT``. ``TRANSPORT`` is ``udp`` or ``tcp``
  (case-insensitive, kept lower case). ``HOST`` is an IPv4 literal, an IPv6
  literal in brackets, or a host name. ``PORT`` is 0–65535; 0 asks the system
  for a free port (the transport reports the port it bound). When ``:PORT`` is
  left out the SIP default 5060 is used.
- An IPv6 literal must be in brackets (``udp:[::1]:5060``): without them the
  port cannot be told from the address, and the error says so.
- Bad input raises ``ListenSpecError`` (a ``ValueError``) with one sentence that
  quotes the text and says what is wrong; it never raises anything else.

Theory of operation: ``ListenSpec.parse`` splits off the transport at the first
colon, then reads a bracketed or plain host and an optional port. The result is
an immutable ``ListenSpec`` whose ``address`` is the ``sipflow.sip.types.Address``
the SIP core uses for Via sent-by and Contact (with the real port once bound).
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from sipflow.sip.types import Address

TRANSPORTS = ("udp", "tcp")
"""Transports a listener may use."""

DEFAULT_PORT = 5060

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_EXAMPLE = "expected TRANSPORT:HOST:PORT such as udp:127.0.0.1:5060 or tcp:[::1]:0"


class ListenSpecError(ValueError):
    """A listen specification that cannot be used; the message names the text and the fault."""


class ListenSpec(NamedTuple):
    """Where to listen: ``transport`` (``udp``/``tcp``), ``host`` (no brackets), ``port`` (0: any)."""

    transport: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ListenSpec:
        """Parse ``udp:127.0.0.1:5060``-style text; raises ``ListenSpecError``."""
        return parse_listen(text)

    @property
    def family(self) -> int:
        """6 for an IPv6 literal host, 4 otherwise."""
        return 6 if ":" in self.host else 4

    @property
    def address(self) -> Address:
        """The same place as a core ``Address``."""
        return Address(self.transport, self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


def parse_listen(text: str) -> ListenSpec:
    """Parse one listen specification (see the module rules); raises ``ListenSpecError``."""
    if not isinstance(text, str):
        raise ListenSpecError(f"invalid listen address {text!r}: {_EXAMPLE}")
    raw = text.strip()
    transport, sep, rest = raw.partition(":")
    if not sep or not rest:
        raise ListenSpecError(f"invalid listen address {text!r}: {_EXAMPLE}")
    transport = transport.lower()
    if transport == "tls":
        raise ListenSpecError(f"invalid listen address {text!r}: tls is not supported yet "
                              f"(use udp or tcp)")
    if transport not in TRANSPORTS:
        raise ListenSpecError(f"invalid listen address {text!r}: unknown transport "
                              f"{transport!r} (use udp or tcp)")
    host, port_text = _split_host_port(text, rest)
    port = _parse_port(text, port_text)
    return ListenSpec(transport, host, port)


def _split_host_port(text: str, rest: str) -> tuple[str, str | None]:
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ListenSpecError(f"invalid listen address {text!r}: missing ']' after the "
                                  f"IPv6 address")
        host, tail = rest[1:end], rest[end + 1:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ListenSpecError(f"invalid listen address {text!r}: {host!r} is not an IPv6 "
                                  f"address") from None
        if not tail:
            return host, None
        if not tail.startswith(":"):
            raise ListenSpecError(f"invalid listen address {text!r}: expected ':PORT' after "
                                  f"']', found {tail!r}")
        return host, tail[1:]
    if rest.count(":") > 1:
        raise ListenSpecError(f"invalid listen address {text!r}: put an IPv6 address in "
                              f"brackets, e.g. udp:[::1]:5060")
    host, sep, port_text = rest.partition(":")
    if not host:
        raise ListenSpecError(f"invalid listen address {text!r}: the host is empty")
    if _looks_like_ipv4(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ListenSpecError(f"invalid listen address {text!r}: {host!r} is not an IPv4 "
                                  f"address") from None
    elif not _HOSTNAME.match(host):
        raise ListenSpecError(f"invalid listen address {text!r}: {host!r} is not a valid "
                              f"host name or address")
    return host, (port_text if sep else None)


def _looks_like_ipv4(host: str) -> bool:
    return all(part.isdigit() for part in host.split("."))


def _parse_port(text: str, port_text: str | None) -> int:
    if port_text is None:
        return DEFAULT_PORT
    if not port_text.isascii() or not port_text.isdigit():
        raise ListenSpecError(f"invalid listen address {text!r}: port {port_text!r} is not a "
                              f"number")
    port = int(port_text)
    if port > 65535:
        raise ListenSpecError(f"invalid listen address {text!r}: port {port} is out of range "
                              f"(0-65535)")
    return port
