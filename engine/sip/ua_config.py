"""Configuration of a SIP user agent (``SipEndpoint``, the UA core).

Rules: plain frozen data, validated on construction with one clear
``ValueError`` naming the field; no I/O. The backend (issue 12) builds
``allow`` from its tables and capabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipflow.sip.session_timer import SessionTimerPolicy
from sipflow.sip.timers import TimerConfig

__all__ = ["EndpointConfig", "KNOWN_METHODS", "DEFAULT_ALLOW", "DEFAULT_SUPPORTED"]

KNOWN_METHODS: frozenset[str] = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE",
        "INFO", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH",
    }
)
"""The 14 SIP methods: a method outside this set gets 501, a known method
outside ``EndpointConfig.allow`` gets 405 (both with ``Allow``)."""

DEFAULT_ALLOW: tuple[str, ...] = (
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK", "UPDATE", "INFO", "MESSAGE",
)
DEFAULT_SUPPORTED: tuple[str, ...] = ("100rel", "timer")


@dataclass(frozen=True)
class EndpointConfig:
    """What a ``SipEndpoint`` needs besides its addresses.

    - ``timers``: RFC 3261 T1/T2/T4 (transactions, 2xx and 100rel retransmission).
    - ``allow``: methods we accept (``Allow`` header; others get 405/501).
    - ``supported``: option tags we understand (``Supported``; a ``Require``
      naming anything else gets 420 with ``Unsupported``). ``100rel`` enables
      RFC 3262, ``timer`` RFC 4028.
    - ``session_timer``: the interval we ask for and the smallest we accept.
    - ``user``: the user part of our Contact and default From URI.
    - ``user_agent``: the ``User-Agent``/``Server`` value (None: none sent).
    - ``trying_delay``: seconds before the core sends 100 Trying for an INVITE
      the application has not answered (RFC 3261 §17.2.1: 200 ms; 0: at once).
    - ``retry_after``: seconds in ``Retry-After`` of a 500 for overlapping
      re-INVITEs / offers (RFC 3261 §14.2 asks for 0-10).
    - ``auto_ack``: the core ACKs the 2xx to a re-INVITE we send on a call we
      received; False leaves that ACK to ``ack()`` (the tables' ``SendACK``).
      On a call we placed, ``invite(auto_ack=...)`` decides, for the initial
      INVITE and every re-INVITE alike.
    """

    timers: TimerConfig = field(default_factory=TimerConfig)
    allow: tuple[str, ...] = DEFAULT_ALLOW
    supported: tuple[str, ...] = DEFAULT_SUPPORTED
    session_timer: SessionTimerPolicy = field(
        default_factory=lambda: SessionTimerPolicy(session_expires=None)
    )
    user: str = "sipflow"
    user_agent: str | None = "sipflow"
    max_forwards: int = 70
    retry_after: int = 5
    trying_delay: float = 0.2
    auto_ack: bool = True

    def __post_init__(self) -> None:
        allow = tuple(m.upper() for m in self.allow)
        for method in allow:
            if not method.isalpha():
                raise ValueError(f"EndpointConfig.allow: {method!r} is not a SIP method")
        object.__setattr__(self, "allow", allow)
        object.__setattr__(self, "supported", tuple(t.lower() for t in self.supported))
        if not 0 <= self.retry_after <= 10:
            raise ValueError("EndpointConfig.retry_after must be 0-10 seconds (RFC 3261 §14.2)")
        if not 0 <= self.trying_delay <= 0.2:
            raise ValueError("EndpointConfig.trying_delay must be 0-0.2 s (RFC 3261 §17.2.1)")
        if not 1 <= self.max_forwards <= 255:
            raise ValueError("EndpointConfig.max_forwards must be 1-255")
        if not self.user or any(c in self.user for c in " <>@;:\r\n"):
            raise ValueError(f"EndpointConfig.user: {self.user!r} is not a valid user part")
