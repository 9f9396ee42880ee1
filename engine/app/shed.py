"""The cheap path of overload control: a stateless 503 straight from an INVITE's bytes.

Rules:

* Measured with sipp against ``sipflow serve`` (CPU of serve per call): a
  complete call costs about 610 µs; refusing an INVITE through the whole
  stack (parse, transaction, UA core, backend, 503, then the ACK) about
  250 µs, so refusing every new call at twice the capacity still overloads
  serve. This path refuses one for about 70 µs: it answers before the SIP
  core sees the datagram, as a stateless UAS does (RFC 3261 §8.2.7: no
  transaction; the 503 is not retransmitted, its ACK is dropped; a
  retransmitted INVITE gets the same 503 again, with the same To tag).
* It wraps ``on_receive`` of each UDP transport. For every datagram:

  - an ``ACK`` carrying our To tag (the ACK of one of these 503s) is dropped;
  - an ``INVITE`` whose top Via has an RFC 3261 branch: while the gate is
    ``busy``, one without a To tag whose branch was not seen in the last
    ``window`` to ``2*window`` seconds (that would be a retransmission of a
    call already admitted, which its transaction answers) is put to the
    gate's ``refuse()``: refused, it gets the 503 with ``Retry-After``;
    admitted, or not put to it, its branch is remembered and it goes on to
    the SIP core. A retransmission of a refused INVITE gets the same 503
    again, busy or not (a stateless UAS answers retransmissions alike; an
    admission now would follow a 503 with a 200);
  - everything else goes on untouched.

* Anything unusual — folded header lines, a Via line with several values,
  a missing header, no RFC 3261 branch — goes on to the SIP core and is
  admitted: while this path is installed (``gate.fast_path``) the backend
  leaves every decision to it, so that no INVITE is decided twice.
* The 503 copies the Via lines (filling ``received`` and ``rport`` in the top
  one, RFC 3581), From, To (plus our tag), Call-ID and CSeq, and goes back to
  the source address, like every response of the endpoint.
* Not installed when ``--trace`` or ``-v`` is on: the trace must show every
  message, so every message takes the full path then.

Theory of operation: one closure per transport, testing two byte prefixes
per datagram when nothing is refused; branches are kept as hashes in two
sets (and two of refused ones) swapped every ``window`` seconds on the ``Clock``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from sipflow.clock import Clock, TimerHandle
from sipflow.sip.types import Address

WINDOW = 8.0
"""Seconds a branch is remembered at least (an admitted INVITE's retransmissions at
0.5, 1.5, 3.5 and 7.5 s fall inside; later ones mean a stalled server anyway)."""

_BRANCH = re.compile(rb"^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch[ \t]*=[ \t]*([^;,\s]*)",
                     re.IGNORECASE | re.MULTILINE)
"""The branch of the first Via line (the top Via)."""
_HAS_TAG = re.compile(rb";\s*tag\s*=", re.IGNORECASE)
_RPORT = re.compile(rb";\s*rport(?=\s*(?:;|$))", re.IGNORECASE)
_SENT_BY = re.compile(rb"^[^:]*:\s*SIP\s*/\s*2\.0\s*/\s*\w+\s+(\[[^\]]+\]|[^\s:;]+)", re.IGNORECASE)
_VIA = (b"via", b"v")
_FROM = (b"from", b"f")
_TO = (b"to", b"t")
_CALL_ID = (b"call-id", b"i")


def reject_503(data: bytes, source: Address, tag: bytes, retry_after: bytes) -> bytes | None:
    """The stateless 503 for the INVITE ``data`` from ``source``; None when it is
    not a plain out-of-dialog INVITE (see the module rules)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = data[:head_end].split(b"\r\n")
    vias: list[bytes] = []
    from_ = to = call_id = cseq = None
    for line in lines[1:]:
        if not line or line[0] in b" \t":
            return None  # a folded header line: the full parser knows how
        name, sep, _ = line.partition(b":")
        if not sep:
            return None
        key = name.strip().lower()
        if key in _VIA:
            vias.append(line)
        elif key in _FROM:
            from_ = line
        elif key in _TO:
            to = line
        elif key in _CALL_ID:
            call_id = line
        elif key == b"cseq":
            cseq = line
    if not vias or from_ is None or to is None or call_id is None or cseq is None:
        return None
    if _HAS_TAG.search(to) or b"," in vias[0] or not cseq.rstrip().upper().endswith(b"INVITE"):
        return None
    top = _stamp(vias[0], source)
    if top is None:
        return None
    return b"\r\n".join([b"SIP/2.0 503 Service Unavailable", top, *vias[1:], from_,
                         to + b";tag=" + tag, call_id, cseq, b"Retry-After: " + retry_after,
                         b"Content-Length: 0", b"", b""])


def _stamp(via: bytes, source: Address) -> bytes | None:
    """RFC 3581 / RFC 3261 §18.2.1: ``received`` and ``rport`` in the top Via line."""
    sent_by = _SENT_BY.match(via)
    if sent_by is None:
        return None
    host = source.host.encode()
    stamped, rport = _RPORT.subn(b";rport=%d" % source.port, via.rstrip(), count=1)
    if rport or sent_by.group(1).strip(b"[]") != host:
        stamped += b";received=" + host
    return stamped


class StatelessReject:
    """Installs the cheap 503 path on ``transports`` for ``gate`` (see the module rules)."""

    def __init__(self, gate: Any, transports: list[Any], clock: Clock, *,
                 window: float = WINDOW) -> None:
        self.gate = gate
        self.transports = [t for t in transports if t.local.transport == "udp"]
        self.clock = clock
        self.window = window
        self.tag = b"ovl" + secrets.token_hex(5).encode()
        self.sent = 0
        """503s sent by this path."""
        self.acks_dropped = 0
        self._recent: set[int] = set()
        self._older: set[int] = set()
        self._refused_recent: set[int] = set()
        self._refused_older: set[int] = set()
        self._timer: TimerHandle | None = None
        self._restore: list[Callable[[], None]] = []

    def install(self) -> None:
        """Wrap each transport's ``on_receive`` and start forgetting old branches; from
        now on this path decides for the INVITEs (``gate.fast_path``)."""
        self.gate.fast_path = True
        for transport in self.transports:
            inner = transport.on_receive
            transport.on_receive = self._receiver(transport, inner)
            self._restore.append(lambda t=transport, i=inner: setattr(t, "on_receive", i))
        self._timer = self.clock.call_at(self.clock.now() + self.window, self._rotate)

    def uninstall(self) -> None:
        """Give each transport its own ``on_receive`` back (and the decisions to the backend)."""
        self.gate.fast_path = False
        for restore in self._restore:
            restore()
        self._restore.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _rotate(self) -> None:
        self._older, self._recent = self._recent, set()
        self._refused_older, self._refused_recent = self._refused_recent, set()
        self._timer = self.clock.call_at(self.clock.now() + self.window, self._rotate)

    def _receiver(self, transport: Any, inner: Callable[[bytes, Address], None]
                  ) -> Callable[[bytes, Address], None]:
        gate = self.gate
        tag = self.tag
        search_branch = _BRANCH.search

        def receive(data: bytes, source: Address) -> None:
            start = data[:7]
            if start == b"INVITE ":
                found = search_branch(data)
                if found is not None and found.group(1).startswith(b"z9hG4bK"):
                    branch = hash(found.group(1))
                    if branch in self._refused_recent or branch in self._refused_older:
                        response = reject_503(data, source, tag, gate.retry_after.encode())
                        if response is not None:  # a retransmission: the same answer again
                            self.sent += 1
                            transport.send(response, source)
                            return
                    elif (gate.busy and branch not in self._recent
                          and branch not in self._older):
                        response = reject_503(data, source, tag, gate.retry_after.encode())
                        if response is not None and gate.refuse():
                            self._refused_recent.add(branch)
                            self.sent += 1
                            transport.send(response, source)
                            return
                    self._recent.add(branch)
            elif start[:4] == b"ACK " and tag in data:
                self.acks_dropped += 1
                return
            inner(data, source)

        return receive
