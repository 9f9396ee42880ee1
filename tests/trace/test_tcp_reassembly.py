"""TcpFlow: in-order bytes from segments in any order, with retransmissions, wrap and gaps."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.trace.tcp_reassembly import MAX_HELD, TcpFlow


def feed(flow: TcpFlow, segments: list[tuple[int, bytes]]) -> bytes:
    out = b""
    for seq, payload in segments:
        data, _ = flow.add(seq, 0x18, payload)
        out += data
    return out


@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=1, max_size=600), cuts=st.lists(st.integers(1, 599), max_size=12),
       seed=st.integers(0, 2**32), start=st.integers(0, 2**32 - 1), dupes=st.integers(0, 4))
def test_any_segmentation_and_order_gives_the_stream_back(data, cuts, seed, start, dupes):
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    segments = [((start + a) % 2**32, data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    rng = random.Random(seed)
    first, rest = segments[0], segments[1:]
    rest += [rng.choice(segments) for _ in range(dupes)]  # retransmissions
    rng.shuffle(rest)
    flow = TcpFlow()
    assert feed(flow, [first, *rest]) == data  # the first one seen sets the start
    assert flow.next_seq == (start + len(data)) % 2**32 and flow.gaps == 0


def test_syn_counts_one_byte():
    flow = TcpFlow()
    assert flow.add(99, 0x02, b"") == (b"", False)
    assert flow.add(100, 0x18, b"hello") == (b"hello", False)


def test_a_gap_is_given_up_after_max_held_segments():
    flow = TcpFlow()
    flow.add(0, 0x18, b"a")
    skipped = False
    out = b""
    for i in range(MAX_HELD + 1):  # byte 1 never comes
        data, gap = flow.add(2 + i, 0x18, bytes([65 + i % 26]))
        out += data
        skipped = skipped or gap
    assert skipped and flow.gaps == 1
    assert len(out) == MAX_HELD + 1 and out[:3] == b"ABC"
