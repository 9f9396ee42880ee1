"""sngrep reads our pcap: one dialog per call over UDP and TCP, IPv4 and IPv6, and every
message survives its re-export (``-O``), which our reader reads back.

sngrep is not a required tool: the test skips (even under CI) when it is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sipflow.sip.types import Address
from sipflow.trace.capture import read_capture
from sipflow.trace.pcap import PcapWriter

SNGREP = shutil.which("sngrep")
pytestmark = pytest.mark.skipif(SNGREP is None, reason="sngrep is not installed "
                                                       "(apt-get install sngrep)")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("hosts", [("127.0.0.1", "127.0.0.2"), ("::1", "fd00::2")])
def test_sngrep_sees_one_dialog(tmp_path, request_bytes, response_bytes, transport, hosts):
    a, b = Address(transport, hosts[0], 5060), Address(transport, hosts[1], 5062)
    sent = [(a, b, request_bytes("INVITE")), (b, a, response_bytes(180, "Ringing")),
            (b, a, response_bytes(200)), (a, b, request_bytes("ACK")),
            (a, b, request_bytes("BYE", 2)), (b, a, response_bytes(200, "OK", "BYE", 2))]
    path, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    with PcapWriter(path, time_offset=1_750_000_000.0) as writer:
        for i, (src, dst, data) in enumerate(sent):
            writer.write(i * 0.1, transport, src, dst, data)
    result = subprocess.run([SNGREP, "-N", "-I", str(path), "-O", str(out)],
                            capture_output=True, text=True, timeout=30)
    assert "Dialog count: 1" in result.stdout
    assert [m.data for m in read_capture(out).messages] == [data for _, _, data in sent]
