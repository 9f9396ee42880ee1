"""Put the segments of one captured TCP direction back in order.

Rules:

- One ``TcpFlow`` per direction (source address and port, destination address
  and port). ``add(seq, flags, payload)`` returns the bytes that are now in
  order: the payload itself when it is the next expected one, plus any held
  segments it unblocks.
- The first segment seen sets the expected sequence number (a capture may
  start in the middle of a connection; a SYN counts one byte).
- Retransmitted bytes (before the expected number) are dropped; a segment that
  overlaps the expected number is trimmed. Sequence numbers wrap modulo 2**32.
- A segment after a gap is held. When more than ``MAX_HELD`` segments wait,
  the gap is declared lost: ``add`` skips to the earliest held segment and
  ``gaps`` counts it, so the caller can restart its framing there.

Theory of operation: a dict of held segments keyed by sequence number; the
comparisons use the 32-bit difference, so wrapping needs no special case.
"""

from __future__ import annotations

__all__ = ["TcpFlow", "MAX_HELD"]

MAX_HELD = 64
"""Out-of-order segments held before a gap is declared lost."""

_MOD = 1 << 32
_HALF = 1 << 31


def _ahead(a: int, b: int) -> int:
    """How far ``a`` is after ``b`` (negative when before), modulo 2**32."""
    diff = (a - b) % _MOD
    return diff - _MOD if diff >= _HALF else diff


class TcpFlow:
    """In-order reassembly of one TCP direction (see the module rules)."""

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.gaps = 0
        """Gaps given up on (their bytes were never captured)."""
        self._held: dict[int, bytes] = {}

    def add(self, seq: int, flags: int, payload: bytes) -> tuple[bytes, bool]:
        """Feed one segment; returns ``(in-order bytes, skipped_a_gap)``."""
        syn = bool(flags & 0x02)
        if self.next_seq is None:
            self.next_seq = seq
        if syn:
            if _ahead(seq + 1, self.next_seq) > 0:
                self.next_seq = (seq + 1) % _MOD
            seq = (seq + 1) % _MOD
        if not payload:
            return b"", False
        out = bytearray()
        skipped = False
        offset = _ahead(seq, self.next_seq)
        if offset > 0:
            self._held.setdefault(seq, payload)
            if len(self._held) <= MAX_HELD:
                return b"", False
            self.gaps += 1
            skipped = True
            self.next_seq = min(self._held, key=lambda s: _ahead(s, self.next_seq or 0))
        else:
            self._take(seq, payload, out)
        self._drain(out)
        return bytes(out), skipped

    def _take(self, seq: int, payload: bytes, out: bytearray) -> None:
        assert self.next_seq is not None
        behind = -_ahead(seq, self.next_seq)
        if behind >= len(payload):
            return  # a retransmission of bytes already passed on
        fresh = payload[behind:]
        out += fresh
        self.next_seq = (self.next_seq + len(fresh)) % _MOD

    def _drain(self, out: bytearray) -> None:
        while self._held:
            ready = [s for s in self._held if _ahead(s, self.next_seq or 0) <= 0]
            if not ready:
                return
            for seq in sorted(ready, key=lambda s: _ahead(s, self.next_seq or 0)):
                self._take(seq, self._held.pop(seq), out)
