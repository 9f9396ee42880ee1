"""Classic pcap files: ``PcapWriter`` writes SIP traces, ``read_pcap`` reads captures.

Rules:

- The writer produces classic libpcap files (not pcapng), microsecond
  timestamps, link type Ethernet: Wireshark, tshark, tcpdump and sngrep all
  open them. Each ``write(time, transport, src, dst, data)`` is one frame with
  headers synthesised by ``sipflow.trace.packets.build_frame``.
- ``time`` is seconds on the caller's clock; ``time_offset`` is added to get
  Unix time (``sipflow serve`` passes ``time.time() - clock.now()``; a virtual
  clock's 0.0 is 1970 unless told otherwise).
- TCP: each direction (src, dst) is one flow with its own sequence number,
  starting at a value derived from the flow and advancing by each payload
  length; the ACK field carries the other direction's next sequence number. No
  handshake is invented. A TCP payload larger than one packet is split into
  segments of ``TCP_SEGMENT`` bytes. A UDP datagram that cannot fit one IP
  packet raises ``ValueError`` naming its size (such a datagram could not have
  been sent either) and nothing is written.
- The writer flushes after every frame (a trace of a process that is killed is
  still readable up to its last message) unless ``flush=False``.
- ``read_pcap(path)`` yields ``(time, linktype, frame)`` records from classic
  pcap files of either byte order, with micro- or nanosecond timestamps. A
  pcapng file, a bad magic number or a record cut short raise ``PcapError``
  with the file name and the byte offset of the problem.

Theory of operation: the file header is written on construction, then one
16-byte record header and one frame per write. Reading is ``struct.unpack``
over the whole file in memory (captures given to ``sipflow ladder`` are
human-sized).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sipflow.sip.types import Address
from sipflow.trace.packets import LINKTYPE_ETHERNET, TCP_ACK, TCP_PSH, build_frame

__all__ = ["PcapWriter", "PcapError", "read_pcap", "SNAPLEN", "TCP_SEGMENT"]

SNAPLEN = 262144
"""The snapshot length written in the file header (tcpdump's default)."""
TCP_SEGMENT = 65000
"""Largest TCP payload put in one frame; longer writes are split."""

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_PCAPNG = 0x0A0D0D0A
_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapError(Exception):
    """A pcap file that cannot be read: ``str()`` names the file and the byte
    offset of the problem (``offset`` None when the file could not be opened)."""

    def __init__(self, path: str, offset: int | None, reason: str) -> None:
        where = f"{path}: " if offset is None else f"{path}: at byte {offset}: "
        super().__init__(where + reason)
        self.path = path
        self.offset = offset
        self.reason = reason


class PcapWriter:
    """Writes SIP messages as a classic pcap (see the module rules).

    ``path_or_file`` is a path (created or truncated) or a binary file object
    open for writing (not closed by ``close`` unless the writer opened it).
    """

    def __init__(self, path_or_file: str | os.PathLike[str] | BinaryIO, *,
                 time_offset: float = 0.0, flush: bool = True) -> None:
        if isinstance(path_or_file, str | os.PathLike):
            self._file: BinaryIO = open(path_or_file, "wb")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._file = path_or_file
            self._owned = False
        self.time_offset = time_offset
        self.frames = 0
        """Frames written so far."""
        self._flush = flush
        self._seq: dict[tuple[Address, Address], int] = {}
        self._ident = 0
        self._file.write(_FILE_HEADER.pack(_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        if self._flush:
            self._file.flush()

    def write(self, time: float, transport: str, src: Address, dst: Address,
              data: bytes) -> None:
        """Write one message ``data`` sent at ``time`` from ``src`` to ``dst``."""
        if self._file.closed:
            raise ValueError("PcapWriter.write after close")
        transport = transport.lower()
        if transport == "tcp":
            frames = self._tcp_frames(src, dst, data)
        else:
            self._ident = (self._ident + 1) & 0xFFFF
            frames = [build_frame(transport, (src.host, src.port), (dst.host, dst.port), data,
                                  ident=self._ident)]
        stamp = round((time + self.time_offset) * 1_000_000)
        seconds, micros = divmod(max(stamp, 0), 1_000_000)
        for frame in frames:
            size = len(frame)
            self._file.write(_RECORD.pack(seconds & 0xFFFFFFFF, micros, size, size))
            self._file.write(frame)
            self.frames += 1
        if self._flush:
            self._file.flush()

    def _tcp_frames(self, src: Address, dst: Address, data: bytes) -> list[bytes]:
        seq = self._next_seq(src, dst)
        ack = self._next_seq(dst, src)
        frames = []
        chunks = [data[i:i + TCP_SEGMENT] for i in range(0, len(data), TCP_SEGMENT)] or [b""]
        for chunk in chunks:
            self._ident = (self._ident + 1) & 0xFFFF
            frames.append(build_frame("tcp", (src.host, src.port), (dst.host, dst.port), chunk,
                                      seq=seq, ack=ack, flags=TCP_PSH | TCP_ACK,
                                      ident=self._ident))
            seq = (seq + len(chunk)) & 0xFFFFFFFF
        self._seq[(src, dst)] = seq
        return frames

    def _next_seq(self, src: Address, dst: Address) -> int:
        seq = self._seq.get((src, dst))
        if seq is None:
            digest = hashlib.sha1(f"{src}>{dst}".encode("utf-8", "surrogateescape")).digest()
            seq = self._seq[(src, dst)] = int.from_bytes(digest[:4], "big")
        return seq

    def close(self) -> None:
        """Flush, and close the file if the writer opened it."""
        if self._file.closed:
            return
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_pcap(path: str | os.PathLike[str], data: bytes | None = None,
              ) -> Iterator[tuple[float, int, bytes]]:
    """Yield ``(unix_time, linktype, frame)`` for each record of a classic pcap file.

    ``data``, when given, is the file's content (read from a pipe, say) and
    ``path`` only names it in errors. Raises ``PcapError`` (file and byte
    offset) for unreadable files, pcapng, bad headers and truncated records;
    ``OSError`` is turned into one too.
    """
    name = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PcapError(name, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) < _FILE_HEADER.size:
        raise PcapError(name, len(data), f"file is {len(data)} bytes, too short for a pcap "
                                         f"header ({_FILE_HEADER.size})")
    magic_le = struct.unpack_from("<I", data)[0]
    if magic_le == _PCAPNG:
        raise PcapError(name, 0, "this is a pcapng file; convert it to classic pcap "
                                 "(editcap -F pcap IN OUT)")
    order = ""
    for prefix in ("<", ">"):
        magic = struct.unpack_from(prefix + "I", data)[0]
        if magic in (_MAGIC_US, _MAGIC_NS):
            order = prefix
            break
    if not order:
        raise PcapError(name, 0, f"not a pcap file (magic number 0x{magic_le:08x})")
    scale = 1e-9 if magic == _MAGIC_NS else 1e-6
    header = struct.Struct(order + "IHHiIII")
    _magic, major, _minor, _zone, _sigfigs, _snaplen, linktype = header.unpack_from(data)
    if major != 2:
        raise PcapError(name, 4, f"unsupported pcap version {major}")
    linktype &= 0x0FFFFFFF  # the top bits may carry FCS information
    record = struct.Struct(order + "IIII")
    at = header.size
    end = len(data)
    while at < end:
        if end - at < record.size:
            raise PcapError(name, at, f"record header cut short ({end - at} of "
                                      f"{record.size} bytes)")
        seconds, fraction, included, _original = record.unpack_from(data, at)
        if included > max(SNAPLEN, _snaplen, 1 << 18):
            raise PcapError(name, at, f"record claims {included} bytes, more than any "
                                      f"capture holds (corrupt file)")
        start = at + record.size
        if end - start < included:
            raise PcapError(name, at, f"record of {included} bytes cut short "
                                      f"({end - start} bytes left)")
        yield seconds + fraction * scale, linktype, data[start:start + included]
        at = start + included
