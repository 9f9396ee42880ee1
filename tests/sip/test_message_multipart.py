"""Multipart bodies: RFC 4475 mpart01, round trips, malformed bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.multipart import BodyPart, build_multipart, parse_multipart
from sipflow.sip.parser import parse_message

MPART = (Path(__file__).parent / "torture" / "mpart01.dat").read_bytes()


def test_rfc4475_mpart01_binary_part() -> None:
    msg = parse_message(MPART)
    assert msg.content_type == "multipart/mixed"
    text, binary = parse_multipart(msg.body, msg.content_type_info)
    assert text.content_type == "text/plain" and text.body == b"Hello"
    assert binary.content_type == "application/octet-stream"
    assert binary.headers.get("content-transfer-encoding") == "binary"
    assert binary.body == bytes(range(256)) * 2  # NULs and CRLFs survive


def test_build_then_parse() -> None:
    parts = [
        BodyPart([("Content-Type", "application/sdp")], b"v=0\r\n"),
        BodyPart([("Content-Type", "application/pidf+xml"), ("Content-ID", "<x@y>")], b"<a/>"),
        BodyPart([], b"no headers"),
        BodyPart([("Content-Type", "text/plain")], b""),
    ]
    ctype, body = build_multipart(parts, boundary="unique-boundary-1")
    assert ctype == "multipart/mixed;boundary=unique-boundary-1"
    assert parse_multipart(body, ctype) == parts
    assert parse_multipart(b"preamble\r\n" + body + b"epilogue", ctype) == parts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=5))
def test_binary_parts_round_trip(bodies: list[bytes]) -> None:
    parts = [BodyPart([("Content-Type", "application/octet-stream")], b) for b in bodies]
    ctype, body = build_multipart(parts)
    assert [p.body for p in parse_multipart(body, ctype)] == bodies


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("text/plain", b"x"),
        ("multipart/mixed", b"--b\r\n\r\nx\r\n--b--"),
        ("multipart/mixed;boundary=b", b"no delimiter here"),
        ("multipart/mixed;boundary=b", b"--b\r\nContent-Type: text/plain\r\n\r\nnever closed"),
        ("multipart/mixed;boundary=b", b"--b\r\nbad header line\r\n\r\nx\r\n--b--"),
        ("multipart/mixed;boundary=b", b"--bjunk\r\n\r\nx\r\n--b--"),
        ("multipart/mixed;boundary=b", b"--b\r\nContent-Type: text/plain\r\n--b--"),
    ],
)
def test_malformed_multipart(ctype: str, body: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_multipart(body, ctype)
    assert info.value.status == 400


def test_too_many_parts() -> None:
    ctype, body = build_multipart([BodyPart([], b"x")] * 65, boundary="b")
    with pytest.raises(RemoteProtocolError):
        parse_multipart(body, ctype)
