"""Exceptions of the SIP core.

Rules:

- ``RemoteProtocolError`` is the peer's mistake. It carries the response code a
  user agent should answer with (``status``: 400 by default; 416, 420, 505,
  513 ...) or ``0`` when no answer can be built (no usable Via, Call-ID ...),
  in which case the message is dropped with a log line. ``reason`` is one
  human sentence naming what and where.
- ``LocalProtocolError`` is our own misuse of the API: a bug, never the peer's.
- Both derive from ``SipError`` so a driver can catch everything from the core
  in one place, but they must never be confused: the first becomes a SIP
  answer, the second a bug report.
"""

from __future__ import annotations

from typing import Any

MAX_REASON = 300
"""Longest ``reason`` kept (longer ones are cut, marked with an ellipsis)."""


def show(text: object, limit: int = 60) -> str:
    """``repr(text)`` cut to about ``limit`` characters, for error reasons that
    quote the peer's bytes (which may be kilobytes long)."""
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


class SipError(Exception):
    """Base class of every error raised by the SIP core."""


class RemoteProtocolError(SipError):
    """The peer sent something we cannot accept.

    ``status`` is the response code to answer with (``0``: drop silently),
    ``reason`` one sentence naming what and where, ``raw`` (optional) the bytes
    that caused it, so a stream driver can still try to answer before closing.
    ``message`` is set by ``parse_message`` when ``status`` is not 0: the
    leniently parsed request, enough for ``make_response(message, status)``.
    """

    def __init__(
        self, reason: str, status: int = 400, raw: bytes = b"", message: Any = None
    ) -> None:
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 3] + "..."
        super().__init__(reason)
        self.reason: str = reason
        self.status: int = status
        self.raw: bytes = raw
        self.message: Any = message

    def __repr__(self) -> str:
        return f"RemoteProtocolError({self.reason!r}, status={self.status})"


class LocalProtocolError(SipError):
    """We misused the API (a bug in sipflow or in the caller), e.g. an invalid
    status code passed to ``make_response``."""
