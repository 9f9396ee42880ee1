"""Helpers of the trace tests: SIP messages and pcap files in other link types."""

from __future__ import annotations

import struct

import pytest


def sip_request(method: str = "INVITE", cseq: int = 1, body: bytes = b"",
                call_id: str = "c1") -> bytes:
    """A valid request with Content-Length."""
    return (f"{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{cseq}{method}\r\n"
            f"From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def sip_response(code: int = 200, reason: str = "OK", method: str = "INVITE",
                 cseq: int = 1) -> bytes:
    return (f"SIP/2.0 {code} {reason}\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{cseq}{method}\r\n"
            f"From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>;tag=b1\r\n"
            f"Call-ID: c1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode()


def pcap_file(frames: list[bytes], linktype: int, *, endian: str = "<",
              nanos: bool = False, start: float = 1_700_000_000.0) -> bytes:
    """A classic pcap holding ``frames`` (one per millisecond)."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for i, frame in enumerate(frames):
        t = start + i / 1000
        seconds = int(t)
        fraction = round((t - seconds) * (1e9 if nanos else 1e6))
        out.append(struct.pack(endian + "IIII", seconds, fraction, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


@pytest.fixture
def request_bytes():
    return sip_request


@pytest.fixture
def response_bytes():
    return sip_response


@pytest.fixture
def pcap_bytes():
    return pcap_file
