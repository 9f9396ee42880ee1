"""DTMF in SIP INFO bodies: ``application/dtmf-relay`` and the RFC 6086 ``dtmf`` Info-Package.

Rules:

* ``application/dtmf-relay`` (the de-facto format): lines ``Signal=5`` and
  ``Duration=160``; the digits are the ``Signal`` values in order.
* ``application/dtmf`` (the body of the ``dtmf`` Info-Package, sent with
  ``Info-Package: dtmf``): the digits themselves, e.g. ``5`` or ``123#``;
  a ``Signal=`` line is accepted too.
* Digits are ``0-9``, ``*``, ``#``, ``A-D`` (RFC 4733 events 0-15). A body
  with anything else yields no digits: the INFO is then not DTMF (the table
  decides what to answer), never an exception.

Theory of operation: ``parse_dtmf(content_type, body)`` returns the digits or
None; ``dtmf_body(kind, digits)`` builds what ``SendINFO`` sends.
"""

from __future__ import annotations

DTMF_RELAY = "application/dtmf-relay"
DTMF = "application/dtmf"
DIGITS = frozenset("0123456789*#ABCD")
DEFAULT_DURATION_MS = 160


def _valid(digits: str) -> str | None:
    digits = digits.upper()
    return digits if digits and all(c in DIGITS for c in digits) else None


def parse_dtmf(content_type: str | None, body: bytes) -> str | None:
    """The DTMF digits of an INFO body, or None when it carries none."""
    if not content_type or not body:
        return None
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in (DTMF_RELAY, DTMF):
        return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    signals = []
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().lower() == "signal":
            signals.append(value.strip())
    if signals:
        return _valid("".join(signals))
    if kind == DTMF:
        return _valid("".join(text.split()))
    return None


def dtmf_body(kind: str, digits: str) -> tuple[bytes, str, tuple[tuple[str, str], ...]]:
    """(body, content type, extra headers) of an INFO carrying ``digits``.

    ``kind`` is ``dtmf-relay`` or ``dtmf``; raises ``ValueError`` for digits
    outside ``0-9*#A-D``.
    """
    valid = _valid(str(digits))
    if valid is None:
        raise ValueError(f"not DTMF digits: {digits!r} (use 0-9, *, #, A-D)")
    if kind == "dtmf-relay":
        lines = "".join(f"Signal={d}\r\nDuration={DEFAULT_DURATION_MS}\r\n" for d in valid)
        return lines.encode("ascii"), DTMF_RELAY, ()
    if kind == "dtmf":
        return valid.encode("ascii"), DTMF, (("Info-Package", "dtmf"),)
    raise ValueError(f"unknown DTMF body kind {kind!r} (dtmf-relay or dtmf)")
