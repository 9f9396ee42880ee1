"""PcapWriter → read_pcap/read_capture round trips, header fields, checksums and limits."""

from __future__ import annotations

import io
import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.types import Address
from sipflow.trace.capture import read_capture
from sipflow.trace.packets import (
    LINKTYPE_ETHERNET,
    TCP_ACK,
    TCP_PSH,
    FrameError,
    build_frame,
    checksum,
    decode_frame,
    ip_bytes,
)
from sipflow.trace.pcap import TCP_SEGMENT, PcapError, PcapWriter, read_pcap

HOSTS = {4: ("127.0.0.1", "127.0.0.2"), 6: ("::1", "fd00::2")}


def checksum_ok(data: bytes) -> bool:
    """The Internet checksum over data including its checksum field sums to 0xFFFF."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def verify_frame(frame: bytes) -> tuple[int, bytes]:
    """Check Ethernet/IP/transport lengths and checksums independently of the decoder;
    return (IP version, transport segment)."""
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    assert frame[0] & 0x02 and frame[6] & 0x02  # locally administered MACs
    ip = frame[14:]
    if ethertype == 0x0800:
        assert ip[0] == 0x45
        total = struct.unpack_from("!H", ip, 2)[0]
        assert total == len(ip)
        assert checksum_ok(ip[:20])
        proto, src, dst, segment = ip[9], ip[12:16], ip[16:20], ip[20:]
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(segment))
        version = 4
    else:
        assert ethertype == 0x86DD and ip[0] >> 4 == 6
        length = struct.unpack_from("!H", ip, 4)[0]
        assert length == len(ip) - 40
        proto, src, dst, segment = ip[6], ip[8:24], ip[24:40], ip[40:]
        pseudo = src + dst + struct.pack("!IxxxB", len(segment), proto)
        version = 6
    if proto == 17:
        assert struct.unpack_from("!H", segment, 4)[0] == len(segment)
        assert struct.unpack_from("!H", segment, 6)[0] != 0  # computed on both families
    assert checksum_ok(pseudo + segment)
    return version, segment


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_round_trip(tmp_path, transport, family, request_bytes, response_bytes):
    a_host, b_host = HOSTS[family]
    a, b = Address(transport, a_host, 5060), Address(transport, b_host, 5070)
    sent = [(0.0, a, b, request_bytes("INVITE")), (0.25, b, a, response_bytes(180, "Ringing")),
            (0.5, b, a, response_bytes(200)), (0.75, a, b, request_bytes("ACK"))]
    path = tmp_path / "t.pcap"
    with PcapWriter(path, time_offset=1_700_000_000.0) as writer:
        for time, src, dst, data in sent:
            writer.write(time, transport, src, dst, data)
    records = list(read_pcap(path))
    assert [lt for _, lt, _ in records] == [LINKTYPE_ETHERNET] * 4
    assert [t for t, _, _ in records] == pytest.approx([1_700_000_000 + t for t, *_ in sent])
    for _, _, frame in records:
        assert verify_frame(frame)[0] == family
    capture = read_capture(path)
    assert capture.problems == []
    assert [(m.transport, m.src, m.dst, m.data) for m in capture.messages] == [
        (transport, src, dst, data) for _, src, dst, data in sent]
    assert all(m.message is not None and m.error is None for m in capture.messages)


def test_tcp_sequence_numbers_advance_per_flow_and_ack_the_other_way(request_bytes,
                                                                      response_bytes):
    out = io.BytesIO()
    writer = PcapWriter(out)
    a, b = Address("tcp", "10.0.0.1", 5060), Address("tcp", "10.0.0.2", 5060)
    first, second, answer = request_bytes("INVITE"), request_bytes("BYE", 2), response_bytes()
    writer.write(0.0, "tcp", a, b, first)
    writer.write(0.1, "tcp", a, b, second)
    writer.write(0.2, "tcp", b, a, answer)
    frames = [segment for _, segment in (verify_frame(f) for f in _frames(out.getvalue()))]
    seqs = [struct.unpack_from("!II", s, 4) for s in frames]
    assert seqs[1][0] == (seqs[0][0] + len(first)) % 2**32
    assert seqs[2][1] == (seqs[1][0] + len(second)) % 2**32  # b's ACK: a's next byte
    assert seqs[1][1] == seqs[2][0]  # a acknowledged b's first byte before b sent
    assert all(s[13] == TCP_PSH | TCP_ACK for s in frames)
    assert writer.frames == 3


def _frames(data: bytes) -> list[bytes]:
    path_free = []
    at = 24
    while at < len(data):
        size = struct.unpack_from("<I", data, at + 8)[0]
        path_free.append(data[at + 16:at + 16 + size])
        at += 16 + size
    return path_free


def test_big_tcp_payload_is_split_and_reassembled(tmp_path, request_bytes):
    body = bytes(range(256)) * 600  # 153,600 bytes
    data = request_bytes("MESSAGE", body=body)
    path = tmp_path / "big.pcap"
    with PcapWriter(path) as writer:
        writer.write(1.0, "tcp", Address("tcp", "::1", 5060), Address("tcp", "::1", 5070), data)
    frames = list(read_pcap(path))
    assert len(frames) == -(-len(data) // TCP_SEGMENT)
    capture = read_capture(path)
    assert [m.data for m in capture.messages] == [data]


def test_oversized_udp_is_refused_and_nothing_written(tmp_path, request_bytes):
    path = tmp_path / "u.pcap"
    writer = PcapWriter(path)
    a, b = Address("udp", "127.0.0.1", 1), Address("udp", "127.0.0.1", 2)
    with pytest.raises(ValueError, match="70000 bytes does not fit"):
        writer.write(0.0, "udp", a, b, b"x" * 70000)
    writer.write(0.0, "udp", a, b, b"x" * 65507)  # the largest IPv4 datagram fits
    writer.close()
    assert writer.frames == 1 and len(list(read_pcap(path))) == 1


def test_host_names_and_mixed_families_get_addresses():
    assert ip_bytes("proxy.example.com") == ip_bytes("PROXY.example.com")
    packed = ip_bytes("proxy.example.com")
    assert ipaddress.IPv4Address(packed) in ipaddress.ip_network("198.18.0.0/15")
    frame = build_frame("udp", ("10.0.0.1", 5060), ("2001:db8::1", 5060), b"x")
    segment = decode_frame(LINKTYPE_ETHERNET, frame)
    assert segment is not None and segment.src == "::ffff:a00:1" and segment.dst == "2001:db8::1"


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="sctp"):
        build_frame("sctp", ("10.0.0.1", 1), ("10.0.0.2", 2), b"x")


def test_writer_on_a_file_object_leaves_it_open():
    out = io.BytesIO()
    with PcapWriter(out) as writer:
        writer.write(0.0, "udp", Address("udp", "10.0.0.1", 1), Address("udp", "10.0.0.2", 2), b"")
    assert not out.closed
    assert struct.unpack_from("<IHHiIII", out.getvalue()) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    with pytest.raises(ValueError, match="after close"):
        closed = PcapWriter(io.BytesIO())
        closed._file.close()
        closed.write(0.0, "udp", Address("udp", "10.0.0.1", 1), Address("udp", "10.0.0.2", 2), b"")


def test_truncated_frames_are_frame_errors_not_crashes():
    frame = build_frame("tcp", ("10.0.0.1", 5060), ("10.0.0.2", 5060), b"hello")
    for cut in (5, 14, 20, 34, 40, 53):
        with pytest.raises(FrameError):
            decode_frame(LINKTYPE_ETHERNET, frame[:cut])
    with pytest.raises(FrameError, match="link type 999"):
        decode_frame(999, frame)


@pytest.mark.parametrize("content, offset, words", [
    (b"", 0, "too short"),
    (b"\x0a\x0d\x0d\x0a" + b"\x00" * 40, 0, "pcapng"),
    (b"GIF89a" + b"\x00" * 40, 0, "not a pcap file"),
])
def test_unusable_files_name_file_and_offset(tmp_path, content, offset, words):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError) as info:
        list(read_pcap(path))
    assert info.value.offset == offset
    assert words in str(info.value) and str(path) in str(info.value)


def test_truncated_record_names_its_offset(tmp_path, request_bytes):
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as writer:
        for i in range(3):
            writer.write(i, "udp", Address("udp", "10.0.0.1", 1), Address("udp", "10.0.0.2", 2),
                         request_bytes())
    data = path.read_bytes()
    second = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]
    path.write_bytes(data[:-10])
    with pytest.raises(PcapError, match=rf"at byte {second + (second - 24)}: record of"):
        list(read_pcap(path))
    path.write_bytes(data[:second + 7])
    with pytest.raises(PcapError, match=rf"at byte {second}: record header cut short"):
        list(read_pcap(path))
    corrupt = bytearray(data)
    struct.pack_into("<I", corrupt, second + 8, 0x7FFFFFFF)
    path.write_bytes(bytes(corrupt))
    with pytest.raises(PcapError, match=rf"at byte {second}: .*corrupt"):
        list(read_pcap(path))


def test_missing_file(tmp_path):
    with pytest.raises(PcapError, match="nope.pcap: cannot read"):
        list(read_pcap(tmp_path / "nope.pcap"))


def reference_checksum(data: bytes) -> int:
    """RFC 1071 word by word, the slow obvious way."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"\x00" * 7, b"\xff\xff",
                                                          b"\xff\xff" * 9, b"\x00\x01\xff\xfe"])))
def test_fast_checksum_matches_rfc_1071(data):
    assert checksum(data) == reference_checksum(data)
