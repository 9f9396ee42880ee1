"""Session timers (RFC 4028): Session-Expires, Min-SE, 422, the refresher.

Rules:

- This module is pure negotiation arithmetic over header values: it parses
  ``Session-Expires`` and ``Min-SE``, decides what a UAS answers (422 or the
  ``Session-Expires`` of its 2xx) and what either side runs afterwards. It keeps
  no clock and sends nothing; the UA core (``sipflow.sip.ua``) schedules the
  deadlines it computes here and sends the refresh or the BYE.
- A peer's malformed header raises ``RemoteProtocolError`` (400) naming it.
- ``refresher`` is relative to the transaction that carried it (RFC 4028 §7):
  ``uac`` means the side that sent *that* re-INVITE/UPDATE, so roles may swap
  on every refresh. ``SessionTimer.we_refresh`` is what this UA must do.

Theory of operation: the UAC offers ``Session-Expires: N`` (and ``Min-SE``)
with ``Supported: timer``. A UAS whose ``Min-SE`` is larger answers 422 with
its ``Min-SE`` (``check_request``); otherwise its 2xx carries the negotiated
``Session-Expires`` with a ``refresher`` (``answer_2xx``). Both sides then run
a ``SessionTimer``: the refresher sends a refresh at half the interval
(``refresh_after``), and either side ends the session with a BYE when nothing
refreshed it by ``interval - min(32, interval / 3)`` (``expire_after``, §10).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipflow.sip.errors import RemoteProtocolError

__all__ = [
    "ABSOLUTE_MIN_SE",
    "SessionExpires",
    "SessionTimer",
    "SessionTimerPolicy",
    "parse_session_expires",
    "parse_min_se",
    "check_request",
    "answer_2xx",
    "timer_from_2xx",
    "request_headers",
]

ABSOLUTE_MIN_SE = 90
"""RFC 4028 §4: no Min-SE below 90 seconds is allowed."""

_MAX_DELTA = 2**32 - 1


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """``Session-Expires: delta;refresher=uac|uas`` (``refresher`` may be absent)."""

    delta: int
    refresher: str | None = None

    def __str__(self) -> str:
        return f"{self.delta};refresher={self.refresher}" if self.refresher else str(self.delta)


@dataclass(frozen=True, slots=True)
class SessionTimerPolicy:
    """What this UA asks for and accepts.

    ``session_expires``: the interval we request as UAC and add as UAS when the
    peer asked for none (None: no session timer unless the peer asks).
    ``min_se``: the smallest interval we accept (422 below it; at least 90).
    """

    session_expires: int | None = 1800
    min_se: int = ABSOLUTE_MIN_SE

    def __post_init__(self) -> None:
        if self.min_se < ABSOLUTE_MIN_SE:
            raise ValueError(f"min_se must be at least {ABSOLUTE_MIN_SE} s (RFC 4028 §4)")
        if self.session_expires is not None and self.session_expires < self.min_se:
            raise ValueError("session_expires must not be below min_se")


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """A running session timer: ``interval`` seconds, ``we_refresh`` if this UA
    is the refresher."""

    interval: int
    we_refresh: bool

    @property
    def refresh_after(self) -> float:
        """Seconds after a refresh when the refresher sends the next one (§7.4, §9)."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """Seconds after a refresh when, unrefreshed, the session ends (§10)."""
        return self.interval - min(32.0, self.interval / 3)


def _delta(text: str, header: str) -> int:
    value = text.strip()
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise RemoteProtocolError(f"{header} header: {value!r} is not a number of seconds")
    number = int(value)
    if number == 0 or number > _MAX_DELTA:
        raise RemoteProtocolError(f"{header} header: {number} seconds is out of range")
    return number


def parse_session_expires(text: str) -> SessionExpires:
    """Parse a ``Session-Expires`` value; raises ``RemoteProtocolError`` (400)."""
    delta, _, params = text.partition(";")
    refresher: str | None = None
    for param in params.split(";") if params else ():
        name, _, value = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = value.strip().lower()
            if refresher not in ("uac", "uas"):
                raise RemoteProtocolError(
                    f"Session-Expires header: refresher must be uac or uas, not {value.strip()!r}"
                )
    return SessionExpires(_delta(delta, "Session-Expires"), refresher)


def parse_min_se(text: str) -> int:
    """Parse a ``Min-SE`` value (parameters ignored); raises ``RemoteProtocolError``."""
    return _delta(text.partition(";")[0], "Min-SE")


def _header(message, name: str, compact: str | None = None) -> str | None:
    value = message.headers.get(name)
    if value is None and compact is not None:
        value = message.headers.get(compact)
    return value


def request_values(request) -> tuple[SessionExpires | None, int]:
    """``(Session-Expires or None, Min-SE or 90)`` of a request; raises
    ``RemoteProtocolError`` for malformed values."""
    se_text = _header(request, "Session-Expires", "x")
    min_text = _header(request, "Min-SE")
    se = parse_session_expires(se_text) if se_text is not None else None
    min_se = max(parse_min_se(min_text), ABSOLUTE_MIN_SE) if min_text is not None else ABSOLUTE_MIN_SE
    return se, min_se


def check_request(request, policy: SessionTimerPolicy) -> int | None:
    """The ``Min-SE`` to answer a 422 with when the request's ``Session-Expires``
    is below our minimum (RFC 4028 §8.1); None when the request is acceptable."""
    se, _ = request_values(request)
    if se is not None and se.delta < policy.min_se:
        return policy.min_se
    return None


def answer_2xx(
    request, policy: SessionTimerPolicy, peer_supports_timer: bool
) -> tuple[SessionExpires, bool] | None:
    """What a UAS puts in its 2xx to ``request`` (RFC 4028 §9).

    Returns ``(Session-Expires value, require_timer)`` or None when no session
    timer runs. ``require_timer`` says whether to add ``Require: timer`` (only
    when the UAC supports it). The refresher is the request's choice when it
    made one, else ``uac`` when the UAC supports timers, else ``uas``.
    """
    se, min_se = request_values(request)
    if se is None:
        if policy.session_expires is None:
            return None
        delta = max(policy.session_expires, min_se)
        refresher = "uac" if peer_supports_timer else "uas"
    else:
        delta = se.delta
        if policy.session_expires is not None and policy.session_expires < delta:
            delta = max(policy.session_expires, min_se, policy.min_se)
        refresher = se.refresher or ("uac" if peer_supports_timer else "uas")
    if not peer_supports_timer:
        refresher = "uas"
    return SessionExpires(delta, refresher), peer_supports_timer


def timer_from_2xx(response, we_are_uac: bool) -> SessionTimer | None:
    """The session timer a 2xx sets up, seen from this UA (UAC of that
    transaction iff ``we_are_uac``); None when the 2xx carries no
    ``Session-Expires``. Raises ``RemoteProtocolError`` for malformed values."""
    text = _header(response, "Session-Expires", "x")
    if text is None:
        return None
    se = parse_session_expires(text)
    refresher = se.refresher or "uac"
    return SessionTimer(se.delta, (refresher == "uac") == we_are_uac)


def request_headers(
    policy: SessionTimerPolicy, current: SessionTimer | None
) -> list[tuple[str, str]]:
    """Headers for an INVITE, re-INVITE or UPDATE we send: the interval of the
    running timer (a refresh keeps it, and we stay refresher if we were), or
    the policy's interval for a new session; ``Min-SE`` always."""
    if current is not None:
        value = SessionExpires(current.interval, "uac" if current.we_refresh else "uas")
    elif policy.session_expires is not None:
        value = SessionExpires(policy.session_expires)
    else:
        return []
    return [("Session-Expires", str(value)), ("Min-SE", str(policy.min_se))]
