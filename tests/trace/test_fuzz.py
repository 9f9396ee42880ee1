"""Corrupt captures never crash the reader or the renderers: either a ladder or PcapError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipflow.ladder import render
from sipflow.ladder.model import from_capture
from sipflow.trace.capture import read_capture
from sipflow.trace.pcap import PcapError

CAPTURES = Path(__file__).parent / "captures"
SAMPLES = {path.name: path.read_bytes() for path in sorted(CAPTURES.glob("*.pcap"))}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(SAMPLES)),
       edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=12),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_corrupted_real_captures(tmp_path, name, edits, cut):
    data = bytearray(SAMPLES[name])
    for at, value in edits:
        if at < len(data):
            data[at] = value
    if cut is not None:
        del data[cut:]
    path = tmp_path / "fuzz.pcap"
    path.write_bytes(bytes(data))
    try:
        capture = read_capture(path)
    except PcapError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    ladder = from_capture(capture)
    for fmt in ("text", "mermaid", "html"):
        assert render(ladder, fmt)
