"""Pick the SIP messages out of a pcap capture.

Rules:

- ``read_capture(path)`` returns a ``Capture``: every SIP message found, in
  capture order, and the problems met on the way. It raises ``PcapError``
  (file and byte offset) only when the file itself is unusable.
- UDP: a datagram whose first line looks like SIP (``SIP/2.0 …`` or
  ``METHOD uri SIP/2.0``) is one message. Keep-alives (CRLFs only) and other
  traffic (DNS, RTP …) are skipped.
- TCP: each direction is reassembled (``sipflow.trace.tcp_reassembly``; a
  SYN starts the direction afresh, as a new connection on the same ports) and
  cut into messages by ``sipflow.sip.framing.StreamFramer``; a message gets
  the time of the segment that completed it. A stream whose first bytes are
  not SIP (another protocol, or a capture that began mid-message) is ignored
  until a segment opens with a SIP start line. When framing breaks (no Content-Length, a lost segment)
  the bytes so far are shown as a malformed message and framing restarts with
  the next segment.
- IP fragments (IPv4, and IPv6 fragment headers) are put back together per
  (source, destination, identification, protocol) before anything else;
  a datagram still incomplete at the end, or pushed out by more than
  ``MAX_FRAGMENTED`` others, becomes a ``problems`` line.
- Every message is parsed with ``sipflow.sip.parser.parse_message``; one that
  fails keeps its bytes and the parser's reason in ``error`` and is shown as
  malformed, never fatal. A frame whose headers are unreadable becomes a
  ``problems`` line naming the frame number. A link type other than those
  of ``sipflow.trace.packets.LINKTYPES`` makes the file unusable.

Theory of operation: ``read_pcap`` gives frames, ``decode_frame`` turns each
into a UDP or TCP segment, and this module keeps one small state per TCP
direction.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.framing import StreamFramer
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import parse_message
from sipflow.sip.types import Address
from sipflow.trace.packets import (
    LINKTYPES,
    TCP_SYN,
    Fragment,
    FrameError,
    Segment,
    decode_frame,
    segment_of,
)
from sipflow.trace.pcap import PcapError, read_pcap
from sipflow.trace.tcp_reassembly import TcpFlow

__all__ = ["Capture", "CapturedMessage", "read_capture", "looks_like_sip", "MAX_FRAGMENTED"]

MAX_FRAGMENTED = 64
"""IP datagrams held incomplete at once; the oldest is given up beyond that."""

_SIP_START = re.compile(rb"(SIP/2\.0 \d{3}[ \r]|[A-Za-z][A-Za-z0-9._!%*+`'~-]* \S+ SIP/2\.0\r?\n)",
                        re.I)


def looks_like_sip(data: bytes) -> bool:
    """True when ``data`` (after leading CRLFs) opens with a SIP start line."""
    return _SIP_START.match(data.lstrip(b"\r\n")[:1024]) is not None


@dataclass(slots=True)
class CapturedMessage:
    """One SIP message from a capture; ``message`` is None when it did not parse
    (``error`` then says why)."""

    time: float
    transport: str
    src: Address
    dst: Address
    data: bytes
    message: Request | Response | None = None
    error: str | None = None


@dataclass(slots=True)
class Capture:
    """What ``read_capture`` found: messages in capture order, and problems
    (one line each) that did not stop the reading."""

    path: str
    linktype: int
    frames: int = 0
    messages: list[CapturedMessage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Datagram:
    """The fragments of one IP datagram seen so far."""

    frame: int
    pieces: dict[int, bytes] = field(default_factory=dict)
    size: int | None = None  # known once the last fragment came

    def add(self, fragment: Fragment) -> bytes | None:
        """Keep ``fragment``; the whole payload once every byte is there."""
        self.pieces[fragment.offset] = fragment.data
        if not fragment.more:
            self.size = fragment.offset + len(fragment.data)
        if self.size is None:
            return None
        out = bytearray()
        for offset in sorted(self.pieces):
            if offset > len(out):
                return None  # a hole
            out[offset:] = self.pieces[offset]
        return bytes(out[: self.size]) if len(out) >= self.size else None


@dataclass(slots=True)
class _Stream:
    flow: TcpFlow = field(default_factory=TcpFlow)
    framer: StreamFramer | None = None
    sip: bool | None = None
    pending: bytes = b""


def _parsed(time: float, transport: str, src: Address, dst: Address,
            data: bytes) -> CapturedMessage:
    try:
        message = parse_message(data)
    except RemoteProtocolError as exc:
        return CapturedMessage(time, transport, src, dst, data, None, exc.reason)
    return CapturedMessage(time, transport, src, dst, data, message)


def read_capture(path: str | os.PathLike[str], data: bytes | None = None) -> Capture:
    """Read the SIP messages of a pcap file (see the module rules); ``data``, when
    given, is the file's content and ``path`` only its name."""
    capture: Capture | None = None
    streams: dict[tuple[Address, Address], _Stream] = {}
    datagrams: dict[tuple[str, str, int, int], _Datagram] = {}
    for number, (time, linktype, frame) in enumerate(read_pcap(path, data), start=1):
        if capture is None:
            if linktype not in LINKTYPES:
                raise PcapError(str(path), 20, f"link type {linktype} is not supported (supported: "
                                               f"{', '.join(sorted(set(LINKTYPES.values())))})")
            capture = Capture(str(path), linktype)
        capture.frames = number
        try:
            segment = decode_frame(linktype, frame)
        except FrameError as exc:
            capture.problems.append(f"frame {number}: {exc}")
            continue
        if isinstance(segment, Fragment):
            segment = _reassemble(segment, number, datagrams, capture)
        if segment is None:
            continue
        src = Address(segment.transport, segment.src, segment.sport)
        dst = Address(segment.transport, segment.dst, segment.dport)
        if segment.transport == "udp":
            payload = segment.payload
            if payload.strip(b"\r\n") and looks_like_sip(payload):
                capture.messages.append(_parsed(time, "udp", src, dst, payload))
            continue
        stream = streams.get((src, dst))
        if stream is None or segment.flags & TCP_SYN:  # a SYN opens a new connection
            stream = streams[(src, dst)] = _Stream()
        data, skipped = stream.flow.add(segment.seq, segment.flags, segment.payload)
        if skipped:
            _restart(stream, capture, time, src, dst, "a TCP segment was not captured")
        if data:
            _feed(stream, capture, time, src, dst, data)
    if capture is None:  # a valid header and no record
        capture = Capture(str(path), -1)
    for datagram in datagrams.values():
        capture.problems.append(f"frame {datagram.frame}: fragmented datagram incomplete at "
                                f"the end of the capture")
    for (src, dst), stream in streams.items():
        if stream.framer is not None and stream.framer.buffered:
            capture.problems.append(f"tcp {src} -> {dst}: {stream.framer.buffered} bytes of an "
                                    f"incomplete message at the end of the capture")
    return capture


def _reassemble(fragment: Fragment, number: int,
                datagrams: dict[tuple[str, str, int, int], _Datagram],
                capture: Capture) -> Segment | None:
    key = (fragment.src, fragment.dst, fragment.ident, fragment.proto)
    datagram = datagrams.get(key)
    if datagram is None:
        if len(datagrams) >= MAX_FRAGMENTED:
            oldest = next(iter(datagrams))
            capture.problems.append(f"frame {datagrams.pop(oldest).frame}: fragmented datagram "
                                    f"never completed")
        datagram = datagrams[key] = _Datagram(number)
    payload = datagram.add(fragment)
    if payload is None:
        return None
    del datagrams[key]
    try:
        return segment_of(fragment.proto, fragment.src, fragment.dst, payload)
    except FrameError as exc:
        capture.problems.append(f"frame {number}: reassembled datagram: {exc}")
        return None


def _feed(stream: _Stream, capture: Capture, time: float, src: Address, dst: Address,
          data: bytes) -> None:
    if stream.sip is False and looks_like_sip(data):
        stream.sip = None  # a later segment opens with a start line: try again from here
    if stream.sip is None:
        head = (stream.pending + data).lstrip(b"\r\n")
        if len(head) < 12 and b"\n" not in head:
            stream.pending = head  # too little yet to tell
            return
        stream.sip = looks_like_sip(head)
        data, stream.pending = head, b""
        if stream.sip:
            stream.framer = StreamFramer(max_message=1 << 20)
    if not stream.sip or stream.framer is None:
        return
    try:
        chunks = stream.framer.feed(data)
    except RemoteProtocolError as exc:
        raw = exc.raw or data
        capture.messages.append(CapturedMessage(time, "tcp", src, dst, raw, None, exc.reason))
        stream.framer, stream.sip = None, None
        return
    for chunk in chunks:
        capture.messages.append(_parsed(time, "tcp", src, dst, chunk))


def _restart(stream: _Stream, capture: Capture, time: float, src: Address, dst: Address,
             reason: str) -> None:
    capture.problems.append(f"tcp {src} -> {dst}: {reason}; framing restarted")
    stream.framer, stream.sip, stream.pending = None, None, b""
