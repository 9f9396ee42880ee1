"""read_capture: real captures (sipp over lo, four link types), every supported link
type, TCP reassembly, non-SIP traffic, malformed messages and unusable files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sipflow.sip.types import Address
from sipflow.trace.capture import looks_like_sip, read_capture
from sipflow.trace.packets import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    TCP_ACK,
    TCP_PSH,
    TCP_SYN,
    build_frame,
)
from sipflow.trace.pcap import PcapError

CAPTURES = Path(__file__).parent / "captures"
CALL = ["INVITE", 180, 200, "ACK", "BYE", 200]


def summary(capture) -> list:
    return [getattr(m.message, "method", None) or m.message.status for m in capture.messages]


@pytest.mark.parametrize("name, transport, host, linktype", [
    ("sipp_udp4_eth", "udp", "127.0.0.1", LINKTYPE_ETHERNET),
    ("sipp_tcp4_sll", "tcp", "127.0.0.1", LINKTYPE_LINUX_SLL),
    ("sipp_udp6_sll2", "udp", "::1", LINKTYPE_LINUX_SLL2),
    ("sipp_tcp6_eth", "tcp", "::1", LINKTYPE_ETHERNET),
])
def test_real_sipp_captures(name, transport, host, linktype):
    capture = read_capture(CAPTURES / f"{name}.pcap")
    assert capture.linktype == linktype and capture.problems == []
    assert summary(capture) == CALL
    first = capture.messages[0]
    assert first.transport == transport and first.src.host == host == first.dst.host
    assert first.dst.port + 1 == first.src.port  # sipp uac listens one port above the uas
    bye, ok = capture.messages[4:]
    assert (bye.src, bye.dst) == (ok.dst, ok.src)
    assert [m.time for m in capture.messages] == sorted(m.time for m in capture.messages)


def _strip_ethernet(frame: bytes) -> tuple[int, bytes]:
    return struct.unpack_from("!H", frame, 12)[0], frame[14:]


def _relink(frame: bytes, linktype: int) -> bytes:
    ethertype, ip = _strip_ethernet(frame)
    v6 = ethertype == 0x86DD
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", 0, 772, 6, b"\x00" * 8, ethertype) + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", ethertype, 0, 1, 772, 0, 6, b"\x00" * 8) + ip
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, 12):
        return ip
    if linktype == LINKTYPE_NULL:
        return struct.pack("=I", 30 if v6 else 2) + ip
    if linktype == LINKTYPE_LOOP:
        return struct.pack("!I", 24 if v6 else 2) + ip
    vlan = struct.pack("!HHH", 0x8100, 42, ethertype)
    return frame[:12] + vlan + ip  # Ethernet with an 802.1Q tag


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
                                      LINKTYPE_RAW, 12, LINKTYPE_NULL, LINKTYPE_LOOP])
@pytest.mark.parametrize("family", [4, 6])
def test_every_link_type(tmp_path, pcap_bytes, request_bytes, response_bytes, linktype, family):
    a, b = ("10.0.0.1", 5060), ("10.0.0.2", 5080)
    if family == 6:
        a, b = ("2001:db8::1", 5060), ("2001:db8::2", 5080)
    frames = [build_frame("udp", a, b, request_bytes()),
              build_frame("tcp", b, a, response_bytes(), seq=7)]
    path = tmp_path / "l.pcap"
    path.write_bytes(pcap_bytes([_relink(f, linktype) for f in frames], linktype))
    capture = read_capture(path)
    assert capture.problems == []
    assert [(m.transport, m.src, m.dst) for m in capture.messages] == [
        ("udp", Address("udp", *a), Address("udp", *b)),
        ("tcp", Address("tcp", *b), Address("tcp", *a))]
    assert summary(capture) == ["INVITE", 200]


@pytest.mark.parametrize("linktype", [LINKTYPE_IPV4, LINKTYPE_IPV6])
def test_bare_ip_link_types(tmp_path, pcap_bytes, request_bytes, linktype):
    hosts = (("10.0.0.1", 1), ("10.0.0.2", 2)) if linktype == LINKTYPE_IPV4 else (
        ("::1", 1), ("::2", 2))
    path = tmp_path / "ip.pcap"
    path.write_bytes(pcap_bytes([_relink(build_frame("udp", *hosts, request_bytes()),
                                         linktype)], linktype))
    assert summary(read_capture(path)) == ["INVITE"]


@pytest.mark.parametrize("endian, nanos", [(">", False), (">", True), ("<", True)])
def test_byte_order_and_nanosecond_files(tmp_path, pcap_bytes, request_bytes, endian, nanos):
    frame = build_frame("udp", ("10.0.0.1", 1), ("10.0.0.2", 2), request_bytes())
    path = tmp_path / "o.pcap"
    path.write_bytes(pcap_bytes([frame, frame], LINKTYPE_ETHERNET, endian=endian, nanos=nanos,
                                start=1_700_000_000.25))
    capture = read_capture(path)
    assert [m.time for m in capture.messages] == pytest.approx([1_700_000_000.25,
                                                                1_700_000_000.251])


def _tcp_frames(pieces: list[tuple[int, bytes]], flags: int = TCP_PSH | TCP_ACK) -> list[bytes]:
    return [build_frame("tcp", ("10.0.0.1", 40000), ("10.0.0.2", 5060), data, seq=seq,
                        flags=flags) for seq, data in pieces]


def test_tcp_out_of_order_retransmitted_split_and_coalesced(tmp_path, pcap_bytes, request_bytes):
    one, two, three = request_bytes("INVITE"), request_bytes("ACK"), request_bytes("BYE", 2)
    stream = one + two + three
    base = 2**32 - 100  # the sequence numbers wrap inside the stream
    cut1, cut2 = 50, len(one) + 30

    def at(offset: int) -> int:
        return (base + 1 + offset) % 2**32

    frames = [build_frame("tcp", ("10.0.0.1", 40000), ("10.0.0.2", 5060), b"", seq=base,
                          flags=TCP_SYN)]
    frames += _tcp_frames([
        (at(cut1), stream[cut1:cut2]),          # arrives before the first piece
        (at(0), stream[:cut1]),
        (at(0), stream[:cut1]),                  # retransmission
        (at(cut1 - 10), stream[cut1 - 10:cut2 + 5]),  # overlapping retransmission
        (at(cut2), stream[cut2:]),               # two messages and a half in one segment
    ])
    path = tmp_path / "tcp.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert capture.problems == []
    assert [m.data for m in capture.messages] == [one, two, three]
    assert capture.messages[0].time == pytest.approx(1_700_000_000.002)  # completed by frame 3


def test_tcp_capture_starting_mid_message_skips_then_recovers(tmp_path, pcap_bytes,
                                                               request_bytes):
    one, two = request_bytes("INVITE"), request_bytes("BYE", 2)
    frames = _tcp_frames([(1000, one[40:]), (1000 + len(one) - 40, two)])
    path = tmp_path / "mid.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert summary(capture) == ["BYE"]  # the cut INVITE is skipped, the BYE found


def test_tcp_without_content_length_is_shown_malformed_and_framing_restarts(
        tmp_path, pcap_bytes, request_bytes):
    broken = request_bytes("OPTIONS").replace(b"Content-Length: 0\r\n", b"")
    good = request_bytes("BYE", 2)
    frames = _tcp_frames([(1, broken), (1 + len(broken), good)])
    path = tmp_path / "nocl.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert len(capture.messages) == 2
    assert capture.messages[0].message is None and "Content-Length" in capture.messages[0].error
    assert capture.messages[1].message.method == "BYE"


def test_incomplete_tcp_message_at_the_end_is_a_problem(tmp_path, pcap_bytes, request_bytes):
    data = request_bytes("MESSAGE", body=b"x" * 100)
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap_bytes(_tcp_frames([(1, data[:-40])]), LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert capture.messages == []
    assert len(capture.problems) == 1 and "incomplete message" in capture.problems[0]


def test_non_sip_is_skipped_and_malformed_sip_is_kept(tmp_path, pcap_bytes, request_bytes):
    a, b = ("127.0.0.1", 5060), ("127.0.0.1", 5070)
    rtp = bytes([0x80, 0x00]) + b"\x00" * 170
    broken = request_bytes().replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    frames = [build_frame("udp", a, b, rtp),
              build_frame("udp", a, b, b"\r\n\r\n"),            # keep-alive
              build_frame("udp", ("127.0.0.1", 53), b, b"\x12\x34\x01\x00" + b"\x00" * 20),
              build_frame("tcp", a, b, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", seq=1),
              build_frame("udp", a, b, broken),
              build_frame("udp", a, b, request_bytes("BYE"))]
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert capture.frames == 6 and capture.problems == []
    assert len(capture.messages) == 2
    assert capture.messages[0].message is None and "CSeq" in capture.messages[0].error
    assert capture.messages[0].data == broken
    assert capture.messages[1].message.method == "BYE"


def test_broken_frames_are_problems_naming_the_frame(tmp_path, pcap_bytes, request_bytes):
    good = build_frame("udp", ("10.0.0.1", 1), ("10.0.0.2", 2), request_bytes())
    fragment = bytearray(good)
    struct.pack_into("!H", fragment, 14 + 6, 0x2000)  # more fragments follow, never come
    frames = [good[:30], bytes(fragment), good]
    path = tmp_path / "frames.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert len(capture.messages) == 1
    assert capture.problems == ["frame 1: IPv4 header cut short (16 of 20 bytes)",
                                "frame 2: fragmented datagram incomplete at the end of the "
                                "capture"]


def fragments(frame: bytes, size: int = 1480, ident: int = 77) -> list[bytes]:
    """Split an Ethernet/IP frame into IP fragments of ``size`` payload bytes."""
    ethernet, ethertype = frame[:14], struct.unpack_from("!H", frame, 12)[0]
    out = []
    if ethertype == 0x0800:
        header, payload = frame[14:34], frame[34:]
        for offset in range(0, len(payload), size):
            piece = payload[offset:offset + size]
            more = 0x2000 if offset + size < len(payload) else 0
            ip = bytearray(header)
            struct.pack_into("!HHH", ip, 2, 20 + len(piece), ident, more | offset // 8)
            out.append(ethernet + bytes(ip) + piece)
        return out
    header, payload = frame[14:54], frame[54:]
    next_header = header[6]
    for offset in range(0, len(payload), size):
        piece = payload[offset:offset + size]
        more = 1 if offset + size < len(payload) else 0
        ip = bytearray(header)
        struct.pack_into("!HB", ip, 4, 8 + len(piece), 44)
        extension = struct.pack("!BxHI", next_header, offset | more, ident)
        out.append(ethernet + bytes(ip) + extension + piece)
    return out


@pytest.mark.parametrize("hosts", [(("10.0.0.1", 5060), ("10.0.0.2", 5060)),
                                   (("fd00::1", 5060), ("fd00::2", 5060))])
def test_fragmented_udp_datagrams_are_reassembled(tmp_path, pcap_bytes, request_bytes, hosts):
    big = request_bytes("MESSAGE", body=b"v=0 " * 1000)  # 4 kB: three or four fragments
    other = request_bytes("OPTIONS", 2)
    pieces = fragments(build_frame("udp", *hosts, big))
    assert len(pieces) >= 3
    frames = [pieces[-1], *pieces[1:-1], build_frame("udp", *hosts, other), pieces[0]]
    path = tmp_path / "frag.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert capture.problems == []
    assert [m.data for m in capture.messages] == [other, big]  # complete at its last fragment
    assert capture.messages[1].time == pytest.approx(1_700_000_000 + (len(frames) - 1) / 1000)


def test_unsupported_link_type_is_unusable(tmp_path, pcap_bytes):
    path = tmp_path / "wifi.pcap"
    path.write_bytes(pcap_bytes([b"\x00" * 40], 105))
    with pytest.raises(PcapError, match=r"wifi.pcap: at byte 20: link type 105 is not supported"):
        read_capture(path)


def test_header_only_file_has_no_messages(tmp_path, pcap_bytes):
    path = tmp_path / "empty.pcap"
    path.write_bytes(pcap_bytes([], LINKTYPE_ETHERNET))
    capture = read_capture(path)
    assert capture.frames == 0 and capture.messages == [] and capture.problems == []


def test_looks_like_sip():
    assert looks_like_sip(b"\r\nINVITE sip:a@b SIP/2.0\r\nVia: x\r\n")
    assert looks_like_sip(b"SIP/2.0 180 Ringing\r\n")
    assert looks_like_sip(b"FOO sip:a@b SIP/2.0\r\n")  # unknown methods are SIP too
    assert not looks_like_sip(b"GET / HTTP/1.1\r\n")
    assert not looks_like_sip(b"\x80\x00\x12\x34")
    assert not looks_like_sip(b"")


def test_a_new_connection_on_the_same_ports_starts_afresh(tmp_path, pcap_bytes, request_bytes):
    one, two = request_bytes("INVITE"), request_bytes("BYE", 2)
    a, b = ("10.0.0.1", 40000), ("10.0.0.2", 5060)
    frames = [build_frame("tcp", a, b, b"", seq=10, flags=TCP_SYN),
              build_frame("tcp", a, b, one[:60], seq=11),  # the rest never comes (reset)
              build_frame("tcp", a, b, b"", seq=900_000, flags=TCP_SYN),
              build_frame("tcp", a, b, two, seq=900_001)]
    path = tmp_path / "reconnect.pcap"
    path.write_bytes(pcap_bytes(frames, LINKTYPE_ETHERNET))
    assert summary(read_capture(path)) == ["BYE"]
