"""Events the UA core reports to its application (``SipEndpoint.take_events``).

Rules:

- Every event names the ``handle`` it belongs to: a small opaque string
  (``"c1"``, ``"c2"`` …) that the core gives each call leg or stand-alone
  request, and that the application (issue 12's backend) maps to a session.
- An event carries what a state table needs (CONTRACTS §1) and the message
  behind it (read-only by convention) — never a transaction or a dialog object.
- Requests the application must answer carry a ``request_id``; pass it to
  ``SipEndpoint.respond``. Requests the core already answered (ACK, CANCEL)
  carry ``request_id=None``.
- 100 Trying never becomes an event; retransmissions never become events.

Mapping to table events (CONTRACTS §1), for the backend: ``RequestReceived``
→ ``Dialog<METHOD>`` (``DialogReINVITE`` for an INVITE with ``in_dialog``);
``ResponseReceived`` → ``Dialog180Ringing`` … by ``code``; ``Timeout`` →
``DialogTimeout``; ``TransportError`` → ``DialogTransportError``; the others
→ ``Dialog<ClassName>`` when a table wants them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "UAEvent",
    "RequestReceived",
    "ResponseReceived",
    "Timeout",
    "TransportError",
    "DialogEstablished",
    "DialogTerminated",
    "AckTimeout",
    "PrackTimeout",
    "SessionRefreshDue",
    "SessionExpired",
    "HandleReleased",
    "table_event",
]


@dataclass(frozen=True, slots=True)
class UAEvent:
    """Base class: every event belongs to one handle."""

    handle: str


@dataclass(frozen=True, slots=True)
class RequestReceived(UAEvent):
    """A new request for us (never a retransmission).

    ``in_dialog`` is True when it matched an existing dialog (an INVITE with
    ``in_dialog`` is a re-INVITE). ``request_id`` is what ``respond`` takes; it
    is None for ACK and CANCEL (the core answered CANCEL with 200 itself; answer
    the INVITE, e.g. 487, with ``SipEndpoint.pending_invite(handle)``).
    """

    request_id: str | None
    method: str
    in_dialog: bool
    message: Any


@dataclass(frozen=True, slots=True)
class ResponseReceived(UAEvent):
    """A response to a request this handle sent (not 100, not retransmissions).

    ``reliable`` is True for a reliable provisional (RFC 3262; PRACK it with
    ``request(handle, "PRACK")``); ``dialog`` is the remote tag of the early
    or confirmed dialog the response belongs to (forking), or None.
    """

    code: int
    reason: str
    method: str
    reliable: bool
    dialog: str | None
    message: Any


@dataclass(frozen=True, slots=True)
class Timeout(UAEvent):
    """A client transaction timed out (``timer`` "B" for INVITE, "F" otherwise)."""

    timer: str
    method: str


@dataclass(frozen=True, slots=True)
class TransportError(UAEvent):
    """A request of this handle could not be sent (RFC 3261 §8.1.3.1: like a 503)."""

    method: str


@dataclass(frozen=True, slots=True)
class DialogEstablished(UAEvent):
    """The INVITE dialog of this handle is confirmed (2xx sent or received)."""

    dialog: str
    """The remote tag."""


@dataclass(frozen=True, slots=True)
class DialogTerminated(UAEvent):
    """The confirmed dialog of this handle ended (``reason``: "bye", "bye-received",
    "session-expired", "481", "408", "timeout" …)."""

    reason: str


@dataclass(frozen=True, slots=True)
class AckTimeout(UAEvent):
    """Our 2xx to an INVITE was retransmitted for 64*T1 without an ACK
    (RFC 3261 §13.3.1.4): the dialog stays confirmed; the session should BYE."""


@dataclass(frozen=True, slots=True)
class PrackTimeout(UAEvent):
    """A reliable provisional went unacknowledged for 64*T1 (RFC 3262 §3); the
    core has rejected the INVITE with 504."""


@dataclass(frozen=True, slots=True)
class SessionRefreshDue(UAEvent):
    """We are the session-timer refresher and half the interval has passed
    (RFC 4028): send a re-INVITE or UPDATE now."""

    interval: int


@dataclass(frozen=True, slots=True)
class SessionExpired(UAEvent):
    """No refresh arrived in time (RFC 4028 §10); the core has sent BYE."""


@dataclass(frozen=True, slots=True)
class HandleReleased(UAEvent):
    """The core forgot this handle: no dialog, transaction or timer refers to it."""


def table_event(event: UAEvent) -> str:
    """The state-table event name for ``event`` (CONTRACTS §1).

    ``RequestReceived`` → ``Dialog<METHOD>`` (``DialogReINVITE`` for an INVITE
    inside a dialog); ``ResponseReceived`` → ``Dialog180Ringing``,
    ``Dialog183SessionProgress``, ``Dialog1xxProvisional``, ``Dialog200OK``
    (any 2xx), ``Dialog3xxRedirect``, ``DialogAuthChallenge`` (401, 407),
    ``Dialog4xxFailure``, ``Dialog5xxFailure``, ``Dialog6xxFailure``;
    ``Timeout`` → ``DialogTimeout``; every other event → ``Dialog<ClassName>``
    (``DialogTransportError``, ``DialogAckTimeout``, ``DialogSessionExpired`` …).
    """
    if isinstance(event, RequestReceived):
        if event.method == "INVITE" and event.in_dialog:
            return "DialogReINVITE"
        return f"Dialog{event.method}"
    if isinstance(event, ResponseReceived):
        code = event.code
        if code == 180:
            return "Dialog180Ringing"
        if code == 183:
            return "Dialog183SessionProgress"
        if code < 200:
            return "Dialog1xxProvisional"
        if code < 300:
            return "Dialog200OK"
        if code < 400:
            return "Dialog3xxRedirect"
        if code in (401, 407):
            return "DialogAuthChallenge"
        return f"Dialog{code // 100}xxFailure"
    return f"Dialog{type(event).__name__}"
