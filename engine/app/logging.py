"""Per-call log lines for ``sipflow serve`` and ``sipflow call``, and message traces with ``-v``.

Rules:

* By default exactly one line per call, written when its session ends::

    call call-id=3f2a… from=sip:alice@127.0.0.1 to=sip:bob@127.0.0.1 outcome=completed duration=2.004s
    call call-id=9b1c… from=sip:sipp@127.0.0.1 to=sip:bob@127.0.0.1 outcome=failed duration=0.004s reason="486 Busy Here"

  ``outcome`` is ``completed`` (established, then ended), ``failed`` (then
  ``reason`` says why: a response such as ``486 Busy Here``, or the event that
  ended the call, such as ``DialogCANCEL``), or ``open`` for calls still
  running when the program stopped (``flush_open``).
  Nothing is logged per message: at thousands of calls per second a line per
  message costs more than the call itself.
* With ``json_lines`` every line is one JSON object instead: ``{"event": "call",
  "call_id", "from", "to", "outcome", "duration_s", "reason"?}``, and with
  ``verbose`` ``{"event": "message", "direction", "peer", "text"}``.
* With ``verbose``, ``trace(direction, text)`` writes each SIP message
  (``<<< received`` / ``>>> sent``) with a separating header line.
* Values come from the first event of the call that carries a SIP message
  (Call-ID, From and To URIs); a message that lacks them logs ``-``. Log
  output never raises into the engine: a write that fails is counted and
  dropped.

* ``configure_stderr_logging()``: the library's own warnings and errors (a
  table action that failed, a safe default sent …) go to stderr as one line
  each, ``sipflow: error: …``; the traceback only with ``sipflow --debug``.

Theory of operation: ``note(event)`` is called by the application for every
backend event before the runtime sees it (it remembers the call's identity by
``session_key``); ``attach(runtime)`` subscribes to published application
events (``CallEstablished``, ``CallFailed``, ``CallEnded``, ``SessionEnded``)
and writes the line at ``SessionEnded``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from sipflow.clock import Clock

CALL_TABLES = frozenset({"uac_call", "uas_call"})
"""Tables whose sessions are calls (other sessions are not logged as calls)."""


def _uri(message: Any, attr: str, header: str) -> str:
    try:
        return str(getattr(message, attr).uri)
    except Exception:
        try:
            value = message.headers.get(header)
        except Exception:
            return "-"
        return value.strip() if value else "-"


def message_identity(message: Any) -> tuple[str, str, str]:
    """``(call_id, from_uri, to_uri)`` of a SIP message; ``-`` for what it lacks."""
    try:
        call_id = str(message.call_id)
    except Exception:
        call_id = "-"
    return call_id, _uri(message, "from_", "from"), _uri(message, "to", "to")


def failure_reason(data: Mapping[str, Any], last_event: str | None) -> str:
    """Why a call failed, from the data of the event that failed it.

    ``486 Busy Here`` for a response, ``timeout (Timer B)`` for a transaction
    timeout, the ``reason`` a backend gave (a transport error), else the name
    of the last event seen (``DialogCANCEL``), else the request that ended it
    (``BYE received``).
    """
    data = data or {}
    code = data.get("code")
    if code is not None:
        reason = data.get("reason") or ""
        return f"{code} {reason}".strip()
    if data.get("timer"):
        return f"timeout (Timer {data['timer']})"
    if data.get("reason"):
        return str(data["reason"])
    if last_event:
        return last_event
    if data.get("method"):
        return f"{data['method']} received"
    return "unknown"


class _Call:
    __slots__ = ("call_id", "from_uri", "to_uri", "began", "established", "failure",
                 "last_event")

    def __init__(self, began: float) -> None:
        self.call_id = "-"
        self.from_uri = "-"
        self.to_uri = "-"
        self.began = began
        self.established = False
        self.failure: str | None = None
        self.last_event: str | None = None


class CallLog:
    """Writes one line per call through ``write`` (see the module rules)."""

    def __init__(self, clock: Clock, write: Callable[[str], object], *,
                 verbose: bool = False, json_lines: bool = False) -> None:
        self.clock = clock
        self.write = write
        self.verbose = verbose
        self.json_lines = json_lines
        """One JSON object per line instead of text (``--format json``)."""
        self.lines = 0
        """Call lines written."""
        self.dropped = 0
        """Lines that could not be written."""
        self._calls: dict[Hashable, _Call] = {}
        self.outcomes: dict[str, int] = {}
        """Outcome (``completed``, ``failed``) → calls, for the final report."""

    # -- input -------------------------------------------------------------------------
    def note(self, key: Hashable, name: str, message: Any) -> None:
        """A backend event for ``key``: remember the call's identity from its first message."""
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _Call(self.clock.now())
        call.last_event = name
        if message is not None and call.call_id == "-":
            call.call_id, call.from_uri, call.to_uri = message_identity(message)

    def attach(self, runtime: Any) -> Callable[[], None]:
        """Subscribe to ``runtime``'s published events; returns the unsubscribe."""
        return runtime.subscribe(self.on_published)

    def on_published(self, session: Any, name: str, data: Mapping[str, Any]) -> None:
        """Runtime subscriber: track outcomes, write the line when the session ends."""
        if session.table.name not in CALL_TABLES:
            return
        key = session.handle
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _Call(self.clock.now())
        if name == "CallEstablished":
            call.established = True
        elif name == "CallFailed" and call.failure is None:
            call.failure = failure_reason(data, call.last_event)
        elif name == "SessionEnded":
            del self._calls[key]
            self._line(call, self._outcome(call))

    def mark_all(self, name: str) -> None:
        """Every open call's latest event is now ``name`` (e.g. ``Shutdown`` sent to all)."""
        for call in self._calls.values():
            call.last_event = name

    def forget(self, key: Hashable) -> None:
        """Drop what ``note`` kept for ``key`` (an event no session took; no-op when gone)."""
        self._calls.pop(key, None)

    # -- output ------------------------------------------------------------------------
    def trace(self, direction: str, peer: str, text: str) -> None:
        """With ``verbose``: one SIP message, ``<<<`` received or ``>>>`` sent."""
        if self.verbose and self.json_lines:
            self._emit(json.dumps({"event": "message", "direction": direction, "peer": peer,
                                   "text": text}))
        elif self.verbose:
            arrow = "<<<" if direction == "in" else ">>>"
            self._emit(f"{arrow} {'from' if direction == 'in' else 'to'} {peer}\n{text.rstrip()}\n")

    def flush_open(self) -> int:
        """Write an ``outcome=open`` line for every call still running; returns how many."""
        calls = list(self._calls.values())
        self._calls.clear()
        for call in calls:
            self._line(call, ("open", None))
        return len(calls)

    @property
    def open_calls(self) -> int:
        """Calls seen and not yet ended."""
        return len(self._calls)

    @staticmethod
    def _outcome(call: _Call) -> tuple[str, str | None]:
        if call.failure is not None:
            return "failed", call.failure
        if call.established:
            return "completed", None
        return "failed", call.last_event or "unknown"

    def _line(self, call: _Call, outcome: tuple[str, str | None]) -> None:
        kind, reason = outcome
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        duration = self.clock.now() - call.began
        self.lines += 1
        if self.json_lines:
            record: dict[str, Any] = {"event": "call", "call_id": call.call_id,
                                      "from": call.from_uri, "to": call.to_uri,
                                      "outcome": kind, "duration_s": round(duration, 3)}
            if reason is not None:
                record["reason"] = reason
            self._emit(json.dumps(record))
            return
        text = (f"call call-id={call.call_id} from={call.from_uri} to={call.to_uri} "
                f"outcome={kind} duration={duration:.3f}s")
        if reason is not None:
            text += ' reason="' + reason.replace('"', "'") + '"'
        self._emit(text)

    def _emit(self, text: str) -> None:
        try:
            self.write(text)
        except Exception:
            self.dropped += 1


class _OneLine(logging.Formatter):
    """``sipflow: message`` without the traceback (the message names what failed)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"sipflow: {record.levelname.lower()}: {text.splitlines()[0] if text else ''}"


def configure_stderr_logging(debug: bool = False) -> logging.Handler:
    """Log warnings and errors of ``sipflow.*`` to stderr, one line each (tracebacks with ``debug``)."""
    root = logging.getLogger("sipflow")
    for old in [h for h in root.handlers if getattr(h, "sipflow_stderr", False)]:
        root.removeHandler(old)  # called again in the same process (tests): one handler, not two
    handler = logging.StreamHandler()
    handler.sipflow_stderr = True  # type: ignore[attr-defined]
    if debug:
        handler.setFormatter(logging.Formatter("sipflow: %(levelname)s: %(name)s: %(message)s"))
    else:
        handler.setFormatter(_OneLine())
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > handler.level:
        root.setLevel(handler.level)
    return handler


def debug_requested() -> bool:
    """True when ``sipflow --debug`` was given."""
    from sipflow.cli import main

    return main.DEBUG
