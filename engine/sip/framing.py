"""Cut a byte stream (TCP, TLS) into SIP messages (RFC 3261 §18.3, RFC 5626 §4.4.1).

Rules:

- ``StreamFramer.feed(data)`` returns the complete messages the new bytes
  finish, each as the exact bytes of one message (head + body), ready for
  ``parse_message``. Partial messages stay buffered.
- CRLFs between messages are ignored: the RFC 5626 keep-alive ``CRLFCRLF``
  ping and ``CRLF`` pong never reach the caller (``keepalives`` counts the
  pings so the driver can answer with a pong).
- Every stream message must carry Content-Length (``l`` compact form too).
  Without it, or with a malformed one, the framing is lost: ``feed`` raises
  ``RemoteProtocolError`` (status 400, ``raw`` holding the head so the driver
  may still answer) and the framer is dead — the connection must be closed;
  any further ``feed`` raises again.
- Caps: a head that grows past ``max_head`` bytes without its empty line
  raises with status 0 (nothing to answer: close the connection); a message
  announcing more than ``max_message`` bytes raises with status 513 and the
  head in ``raw``.

Theory of operation: a ``bytearray`` buffer; the search for the empty line
resumes where the previous one stopped, so a message trickling in byte by byte
costs linear time. Only Content-Length is read from the head here; all other
parsing is the parser's job.
"""

from __future__ import annotations

from sipflow.sip.errors import RemoteProtocolError, show

__all__ = ["StreamFramer"]


def _content_length(head: bytes) -> int | None:
    """Content-Length from a raw head, None when absent; raises when malformed."""
    value: bytes | None = None
    for line in head.split(b"\r\n")[1:]:
        name, colon, rest = line.partition(b":")
        if not colon:
            continue
        name = name.strip().lower()
        if name == b"content-length" or name == b"l":
            if value is not None and value != rest.strip():
                raise RemoteProtocolError("stream message has conflicting Content-Length headers")
            value = rest.strip()
    if value is None:
        return None
    if not value.isdigit() or len(value) > 10:
        raise RemoteProtocolError(f"Content-Length header: {show(value[:20])} is not a number")
    return int(value)


class StreamFramer:
    """Content-Length framing for one stream connection (see module rules)."""

    def __init__(
        self, max_message: int = 65535, max_head: int = 16384, *, max_buffer: int | None = None
    ) -> None:
        """``max_message``: cap on one message (head + body); ``max_head``: cap
        on a head still waiting for its empty line; ``max_buffer`` sets both
        (the head cap never above it): the most bytes held for a connection."""
        if max_buffer is not None:
            max_message = max_buffer
            max_head = min(max_head, max_buffer)
        self.max_message = max_message
        self.max_head = max_head
        self.keepalives = 0
        self._buf = bytearray()
        self._scan = 0  # where the search for CRLFCRLF resumes
        self._need: int | None = None  # total size of the message being read
        self._dead: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the messages they complete."""
        if self._dead is not None:
            raise RemoteProtocolError(f"stream already broken: {self._dead.reason}", 0)
        self._buf += data
        out: list[bytes] = []
        try:
            while self._next(out):
                pass
        except RemoteProtocolError as exc:
            self._dead = exc
            self._buf.clear()
            raise
        return out

    def _next(self, out: list[bytes]) -> bool:
        buf = self._buf
        if self._need is None:
            # drop keep-alives / CRLFs before a start line
            if buf[:1] in (b"\r", b"\n"):
                i = 0
                n = len(buf)
                while i < n and buf[i] in (13, 10):
                    i += 1
                self.keepalives += bytes(buf[:i]).count(b"\r\n\r\n")
                del buf[:i]
                self._scan = 0
            if not buf:
                return False
            end = buf.find(b"\r\n\r\n", max(0, self._scan - 3))
            if end < 0:
                self._scan = len(buf)
                if len(buf) > self.max_head:
                    raise RemoteProtocolError(
                        f"stream message head exceeds {self.max_head} bytes without an empty line",
                        0,
                    )
                return False
            head = bytes(buf[:end])
            try:
                length = _content_length(head)
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(exc.reason, 400, head) from None
            if length is None:
                raise RemoteProtocolError(
                    "stream message has no Content-Length header (RFC 3261 §18.3)", 400, head
                )
            total = end + 4 + length
            if total > self.max_message:
                raise RemoteProtocolError(
                    f"stream message of {total} bytes exceeds the {self.max_message}-byte limit",
                    513,
                    head,
                )
            self._need = total
        need = self._need
        if len(buf) < need:
            return False
        out.append(bytes(buf[:need]))
        del buf[:need]
        self._need = None
        self._scan = 0
        return True
