"""Build and take apart the link, IP, UDP and TCP headers of a SIP capture.

Rules:

- ``build_frame`` wraps one SIP payload in Ethernet + IPv4/IPv6 + UDP/TCP
  headers with correct lengths and checksums (the UDP checksum is computed on
  both families; IPv6 forbids 0). MAC addresses are synthesised from the IP
  address (locally administered ``02:…``), so each host keeps one MAC.
- A host that is not an IP literal (a host name a transmit was addressed to)
  gets a stable made-up IPv4 address in 198.18.0.0/15 (the benchmarking range).
  When source and destination are of different families the IPv4 one is
  written as an IPv4-mapped IPv6 address.
- ``decode_frame(linktype, frame)`` understands Ethernet (with 802.1Q tags),
  Linux cooked SLL and SLL2, raw IP, BSD null/loopback, and bare IPv4/IPv6;
  it returns a ``Segment`` or None for anything that is not UDP or TCP over
  IP. Truncated headers are ``FrameError`` (with a reason), never IndexError.
- An IPv4 or IPv6 fragment is returned as a ``Fragment`` (addresses, packet
  identification, protocol, byte offset, more-fragments flag, data); putting
  fragments together is the caller's job (``sipflow.trace.capture``), after
  which ``segment_of`` reads the UDP or TCP header of the whole datagram.

Theory of operation: ``struct`` in and out, nothing else. The pcap file
format (record headers, timestamps) is ``sipflow.trace.pcap``'s job; this
module sees one frame at a time.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import struct
from dataclasses import dataclass

__all__ = [
    "LINKTYPE_NULL", "LINKTYPE_ETHERNET", "LINKTYPE_RAW", "LINKTYPE_LOOP",
    "LINKTYPE_LINUX_SLL", "LINKTYPE_IPV4", "LINKTYPE_IPV6", "LINKTYPE_LINUX_SLL2",
    "LINKTYPES", "FrameError", "Segment", "Fragment", "build_frame", "decode_frame",
    "segment_of", "ip_bytes", "checksum",
    "TCP_ACK", "TCP_PSH", "TCP_SYN", "TCP_FIN", "TCP_RST",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
_DLT_RAW_ALIASES = (12, 14)  # DLT_RAW as written by some BSDs and old libpcap

LINKTYPES: dict[int, str] = {
    LINKTYPE_NULL: "BSD loopback", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
    12: "raw IP", 14: "raw IP", LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6", LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}
"""The link types ``decode_frame`` reads, with their names."""

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
PROTO_TCP = 6
PROTO_UDP = 17

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

_SYNTHETIC_NET = int(ipaddress.IPv4Address("198.18.0.0"))


class FrameError(ValueError):
    """A frame whose headers are cut short or inconsistent; ``reason`` says how."""


@dataclass(frozen=True, slots=True)
class Segment:
    """The transport-layer content of one frame.

    ``src``/``dst`` are IP literals (IPv6 without brackets); for TCP ``seq``
    and ``flags`` are set, for UDP they are 0.
    """

    transport: str
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    seq: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Fragment:
    """One fragment of an IP datagram: ``data`` goes at byte ``offset`` of the
    datagram's payload; ``more`` is False on the last one."""

    src: str
    dst: str
    ident: int
    proto: int
    offset: int
    more: bool
    data: bytes


# ------------------------------------------------------------------ building


@functools.lru_cache(maxsize=1024)
def ip_bytes(host: str) -> bytes:
    """The packed address of an IP literal (4 or 16 bytes); a host name gets a
    stable synthetic IPv4 address in 198.18.0.0/15 (see the module rules)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).packed
    except ValueError:
        digest = hashlib.sha1(host.lower().encode("utf-8", "surrogateescape")).digest()
        offset = int.from_bytes(digest[:4], "big") % (1 << 17)
        return (_SYNTHETIC_NET + offset).to_bytes(4, "big")


@functools.lru_cache(maxsize=1024)
def _mac(ip: bytes) -> bytes:
    return b"\x02" + hashlib.sha1(ip).digest()[:5]


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``.

    The ones' complement sum of 16-bit words is the number ``data`` spells,
    modulo 0xFFFF (as 2**16 is 1 modulo 0xFFFF), except that a non-zero sum
    is written 0xFFFF rather than 0: one big-integer operation, in C.
    """
    if len(data) % 2:
        data += b"\x00"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and data.strip(b"\x00"):
        total = 0xFFFF
    return ~total & 0xFFFF


def build_frame(transport: str, src: tuple[str, int], dst: tuple[str, int], payload: bytes,
                *, seq: int = 0, ack: int = 0, flags: int = TCP_PSH | TCP_ACK,
                ident: int = 0) -> bytes:
    """One Ethernet frame carrying ``payload`` from ``src`` to ``dst`` (host, port)
    over ``transport`` ``"udp"`` or ``"tcp"``; raises ``ValueError`` when the
    payload does not fit one IP packet (65,507 bytes over UDP/IPv4)."""
    src_ip, dst_ip = ip_bytes(src[0]), ip_bytes(dst[0])
    if len(src_ip) != len(dst_ip):
        src_ip, dst_ip = (ip if len(ip) == 16 else b"\x00" * 10 + b"\xff\xff" + ip
                          for ip in (src_ip, dst_ip))
    v4 = len(src_ip) == 4
    if transport == "udp":
        proto, at = PROTO_UDP, 6
        header = struct.pack("!HHHH", src[1], dst[1], (8 + len(payload)) & 0xFFFF, 0)
    elif transport == "tcp":
        proto, at = PROTO_TCP, 16
        header = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                             5 << 4, flags, 65535, 0, 0)
    else:
        raise ValueError(f"cannot write transport {transport!r} to a pcap (udp or tcp)")
    limit = 65535 - len(header) - (20 if v4 else 0)
    if len(payload) > limit:
        raise ValueError(f"a {transport} payload of {len(payload)} bytes does not fit one "
                         f"IP packet (at most {limit})")
    length = len(header) + len(payload)
    if v4:
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, proto, length)
    else:
        pseudo = src_ip + dst_ip + struct.pack("!IxxxB", length, proto)
    # the checksum of the parts, each of even length but the last (see ``checksum``)
    padded = payload + b"\x00" if len(payload) % 2 else payload
    total = (int.from_bytes(pseudo + header, "big") + int.from_bytes(padded, "big")) % 0xFFFF
    check = ~(total or 0xFFFF) & 0xFFFF  # the pseudo-header is never all zeros
    if check == 0 and proto == PROTO_UDP:
        check = 0xFFFF  # UDP: 0 would mean "no checksum"
    header = header[:at] + struct.pack("!H", check) + header[at + 2:]
    if v4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident & 0xFFFF, 0x4000,
                         64, proto, 0, src_ip, dst_ip)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        ethertype = ETHERTYPE_IPV4
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, length, proto, 64, src_ip, dst_ip)
        ethertype = ETHERTYPE_IPV6
    return b"".join((_mac(dst_ip), _mac(src_ip), struct.pack("!H", ethertype), ip, header,
                     payload))


# ------------------------------------------------------------------ decoding


def _need(frame: bytes, size: int, what: str) -> None:
    if len(frame) < size:
        raise FrameError(f"{what} cut short ({len(frame)} of {size} bytes)")


def decode_frame(linktype: int, frame: bytes) -> Segment | Fragment | None:
    """The UDP or TCP segment in ``frame``, or the IP fragment it carries (None
    when it carries something else)."""
    if linktype == LINKTYPE_ETHERNET:
        _need(frame, 14, "Ethernet header")
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        at = 14
        while ethertype in _VLAN_TAGS:
            _need(frame, at + 4, "VLAN tag")
            ethertype = struct.unpack_from("!H", frame, at + 2)[0]
            at += 4
        return _by_ethertype(ethertype, frame[at:])
    if linktype == LINKTYPE_LINUX_SLL:
        _need(frame, 16, "Linux cooked header")
        return _by_ethertype(struct.unpack_from("!H", frame, 14)[0], frame[16:])
    if linktype == LINKTYPE_LINUX_SLL2:
        _need(frame, 20, "Linux cooked v2 header")
        return _by_ethertype(struct.unpack_from("!H", frame, 0)[0], frame[20:])
    if linktype in (LINKTYPE_RAW, *_DLT_RAW_ALIASES):
        _need(frame, 1, "IP header")
        version = frame[0] >> 4
        return _ipv4(frame) if version == 4 else _ipv6(frame) if version == 6 else None
    if linktype == LINKTYPE_IPV4:
        return _ipv4(frame)
    if linktype == LINKTYPE_IPV6:
        return _ipv6(frame)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        _need(frame, 4, "loopback header")
        family = struct.unpack_from("!I" if linktype == LINKTYPE_LOOP else "=I", frame)[0]
        if family > 0xFFFF:  # written on a host of the other byte order
            family = int.from_bytes(frame[:4], "little" if family >> 24 else "big")
        if family == 2:
            return _ipv4(frame[4:])
        if family in (10, 24, 28, 30):  # AF_INET6 on Linux, the BSDs, macOS
            return _ipv6(frame[4:])
        return None
    raise FrameError(f"link type {linktype} is not supported")


def _by_ethertype(ethertype: int, packet: bytes) -> Segment | Fragment | None:
    if ethertype == ETHERTYPE_IPV4:
        return _ipv4(packet)
    if ethertype == ETHERTYPE_IPV6:
        return _ipv6(packet)
    return None


def _ipv4(packet: bytes) -> Segment | Fragment | None:
    _need(packet, 20, "IPv4 header")
    if packet[0] >> 4 != 4:
        raise FrameError(f"IPv4 header has version {packet[0] >> 4}")
    ihl = (packet[0] & 0x0F) * 4
    total, ident, frag, proto = struct.unpack_from("!HHHxB", packet, 2)
    if ihl < 20 or total < ihl:
        raise FrameError(f"IPv4 header has a bad length (header {ihl}, total {total})")
    _need(packet, total, "IPv4 packet")
    src = str(ipaddress.IPv4Address(packet[12:16]))
    dst = str(ipaddress.IPv4Address(packet[16:20]))
    if frag & 0x3FFF:  # an offset, or more fragments to come
        return Fragment(src, dst, ident, proto, (frag & 0x1FFF) * 8, bool(frag & 0x2000),
                        bytes(packet[ihl:total]))
    return segment_of(proto, src, dst, packet[ihl:total])


_IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44


def _ipv6(packet: bytes) -> Segment | Fragment | None:
    _need(packet, 40, "IPv6 header")
    if packet[0] >> 4 != 6:
        raise FrameError(f"IPv6 header has version {packet[0] >> 4}")
    length, proto = struct.unpack_from("!HB", packet, 4)
    _need(packet, 40 + length, "IPv6 packet")
    src = str(ipaddress.IPv6Address(packet[8:24]))
    dst = str(ipaddress.IPv6Address(packet[24:40]))
    body = packet[40:40 + length]
    while proto in _IPV6_EXTENSIONS or proto == _IPV6_FRAGMENT:
        _need(body, 8, "IPv6 extension header")
        if proto == _IPV6_FRAGMENT:
            offset_flags, ident = struct.unpack_from("!HI", body, 2)
            if offset_flags & 0xFFF9:
                return Fragment(src, dst, ident, body[0], offset_flags & 0xFFF8,
                                bool(offset_flags & 1), bytes(body[8:]))
            proto, body = body[0], body[8:]  # an atomic fragment (RFC 6946)
            continue
        size = (body[1] + 1) * 8
        _need(body, size, "IPv6 extension header")
        proto, body = body[0], body[size:]
    return segment_of(proto, src, dst, body)


def segment_of(proto: int, src: str, dst: str, segment: bytes) -> Segment | None:
    """The UDP or TCP segment of an IP payload of protocol ``proto`` (None for others)."""
    if proto == PROTO_UDP:
        _need(segment, 8, "UDP header")
        sport, dport, length = struct.unpack_from("!HHH", segment)
        if length < 8:
            raise FrameError(f"UDP header has a bad length {length}")
        _need(segment, length, "UDP datagram")
        return Segment("udp", src, sport, dst, dport, bytes(segment[8:length]))
    if proto == PROTO_TCP:
        _need(segment, 20, "TCP header")
        sport, dport, seq, _ack, offset, flags = struct.unpack_from("!HHIIBB", segment)
        size = (offset >> 4) * 4
        if size < 20:
            raise FrameError(f"TCP header has a bad data offset {size}")
        _need(segment, size, "TCP header")
        return Segment("tcp", src, sport, dst, dport, bytes(segment[size:]), seq, flags)
    return None
