"""Stream framing (RFC 3261 §18.3): Content-Length, keep-alives, caps, broken streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.framing import StreamFramer
from sipflow.sip.parser import parse_message


def message(n: int, body: bytes = b"", compact: bool = False) -> bytes:
    length = b"l" if compact else b"Content-Length"
    return (
        b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK" + str(n).encode() + b"\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        b"Call-ID: c" + str(n).encode() + b"\r\nCSeq: " + str(n).encode() + b" OPTIONS\r\n"
        + length + b": " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


STREAM = [message(1), message(2, b"hello world", compact=True), message(3, b"\r\n\r\nx")]


def test_whole_stream_at_once_with_keepalives() -> None:
    f = StreamFramer()
    data = b"\r\n\r\n" + STREAM[0] + b"\r\n" + STREAM[1] + b"\r\n\r\n" + STREAM[2]
    assert f.feed(data) == STREAM
    assert f.keepalives == 2 and f.buffered == 0
    assert [parse_message(m).call_id for m in STREAM] == ["c1", "c2", "c3"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_any_chunking_yields_the_same_messages(sizes: list[int]) -> None:
    data = b"".join(STREAM)
    f = StreamFramer()
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(data):
        step = sizes[i % len(sizes)]
        out += f.feed(data[pos : pos + step])
        pos += step
        i += 1
    assert out == STREAM and f.buffered == 0


def test_byte_by_byte() -> None:
    f = StreamFramer()
    out = [m for b in b"".join(STREAM) for m in f.feed(bytes([b]))]
    assert out == STREAM


def test_missing_content_length_breaks_the_stream() -> None:
    bad = STREAM[0].replace(b"Content-Length: 0\r\n", b"")
    f = StreamFramer()
    with pytest.raises(RemoteProtocolError) as info:
        f.feed(bad + STREAM[1])
    assert info.value.status == 400 and "Content-Length" in info.value.reason
    assert info.value.raw.startswith(b"OPTIONS sip:bob@example.com")
    with pytest.raises(RemoteProtocolError) as again:
        f.feed(STREAM[2])
    assert again.value.status == 0


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1 2", b"99999999999"])
def test_malformed_content_length(value: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(STREAM[0].replace(b"Content-Length: 0", b"Content-Length: " + value))
    assert info.value.status in (400, 513)


def test_conflicting_content_lengths() -> None:
    data = STREAM[0].replace(b"Content-Length: 0\r\n", b"Content-Length: 0\r\nl: 5\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(data)
    assert info.value.status == 400


def test_caps() -> None:
    f = StreamFramer(max_head=1000)
    assert f.feed(b"INVITE sip:x SIP/2.0\r\nX: " + b"a" * 900) == []
    with pytest.raises(RemoteProtocolError) as info:
        f.feed(b"a" * 200)
    assert info.value.status == 0
    big = StreamFramer(max_message=500)
    with pytest.raises(RemoteProtocolError) as info:
        big.feed(message(1, b"x" * 600)[:300])
    assert info.value.status == 513 and info.value.raw.startswith(b"OPTIONS")


def test_half_message_stays_buffered() -> None:
    f = StreamFramer()
    assert f.feed(STREAM[1][:-3]) == []
    assert f.buffered == len(STREAM[1]) - 3
    assert f.feed(STREAM[1][-3:]) == [STREAM[1]]


def test_max_buffer_sets_both_caps() -> None:
    f = StreamFramer(max_buffer=300)
    assert (f.max_message, f.max_head) == (300, 300)
    with pytest.raises(RemoteProtocolError) as info:
        f.feed(message(1, b"x" * 200))
    assert info.value.status == 513
