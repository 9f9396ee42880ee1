"""Reliable provisional responses (RFC 3262): RSeq, RAck, PRACK matching.

Rules:

- ``ReliableSender`` is the UAS side for one INVITE server transaction: it
  numbers reliable provisionals (``RSeq``, random start below 2**31), keeps at
  most one unacknowledged at a time (later ones wait in order, §3), knows the
  retransmission schedule (T1 doubling, given up after 64*T1) and matches a
  PRACK's ``RAck`` (RSeq, CSeq number, method) against the one outstanding.
- ``ReliableReceiver`` is the UAC side for one early dialog: it accepts the
  first reliable provisional and then only the next ``RSeq`` (one higher);
  equal or lower numbers are retransmissions and gaps are out of order
  (§4: neither is handed to the application nor PRACKed).
- Neither keeps a clock or sends anything: the UA core asks for deadlines
  and does the sending. Messages are kept only while unacknowledged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sipflow.sip.headers import RAck

__all__ = ["OutstandingProvisional", "ReliableSender", "ReliableReceiver", "RSEQ_MAX"]

RSEQ_MAX = 2**31 - 1
"""The initial RSeq is chosen in 1..2**31-1 (RFC 3262 §3)."""


@dataclass(slots=True)
class OutstandingProvisional:
    """A reliable provisional waiting for its PRACK."""

    rseq: int
    response: Any
    """The ``Response`` as sent (retransmitted as is)."""
    interval: float
    """The next retransmission interval (doubles each time)."""
    next_at: float
    """When to retransmit next."""
    give_up_at: float
    """64*T1 after the first transmission: reject the INVITE with a 5xx."""


@dataclass(slots=True)
class ReliableSender:
    """UAS side of RFC 3262 for one INVITE: numbering, one outstanding
    provisional at a time, retransmission schedule and PRACK matching."""

    cseq: int
    """The INVITE's CSeq number (the second field of RAck)."""
    next_rseq: int
    """The RSeq of the next reliable provisional."""
    outstanding: OutstandingProvisional | None = None
    waiting: deque[Any] = field(default_factory=deque)
    """Reliable provisionals created while another was unacknowledged."""

    def take_rseq(self) -> int:
        """A fresh RSeq for the next reliable provisional."""
        rseq = self.next_rseq
        self.next_rseq += 1
        return rseq

    def start(self, rseq: int, response: Any, now: float, t1: float) -> OutstandingProvisional:
        """Record that ``response`` (carrying ``rseq``) was just sent."""
        self.outstanding = OutstandingProvisional(rseq, response, t1, now + t1, now + 64 * t1)
        return self.outstanding

    def retransmitted(self, now: float) -> None:
        """Advance the schedule after a retransmission at ``now`` (T1 doubling)."""
        out = self.outstanding
        if out is not None:
            out.interval *= 2
            out.next_at = now + out.interval

    def matches(self, rack: RAck) -> bool:
        """True when ``rack`` acknowledges the outstanding provisional (§3)."""
        out = self.outstanding
        return (
            out is not None
            and rack.rseq == out.rseq
            and rack.cseq == self.cseq
            and rack.method.upper() == "INVITE"
        )

    def acknowledge(self) -> None:
        """The outstanding provisional was PRACKed; the next waiting one may go."""
        self.outstanding = None

    def next_deadline(self) -> float | None:
        """The earliest retransmission or give-up time, or None."""
        out = self.outstanding
        if out is None:
            return None
        return min(out.next_at, out.give_up_at)


@dataclass(slots=True)
class ReliableReceiver:
    """UAC side of RFC 3262 for one early dialog: which RSeq comes next."""

    last_rseq: int | None = None
    last_cseq: int = 0
    """CSeq number of the INVITE the last accepted provisional answered."""

    def accept(self, rseq: int, cseq: int) -> bool:
        """True if a reliable provisional with ``rseq`` is new and in order
        (the application sees it and PRACKs it); False for a retransmission or
        an out-of-order one (§4)."""
        if self.last_rseq is not None and rseq != self.last_rseq + 1:
            return False
        self.last_rseq = rseq
        self.last_cseq = cseq
        return True

    def rack(self) -> RAck | None:
        """The RAck for a PRACK of the last accepted provisional, or None."""
        if self.last_rseq is None:
            return None
        return RAck(self.last_rseq, self.last_cseq, "INVITE")
