"""tshark decodes our pcap: checksums good, SIP over UDP and TCP, IPv4 and IPv6.

tshark is not a required tool: the test skips (even under CI) when it is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sipflow.sip.types import Address
from sipflow.trace.pcap import PcapWriter

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed "
                                                       "(apt-get install tshark)")


def test_tshark_decodes_every_frame(tmp_path, request_bytes, response_bytes):
    path = tmp_path / "t.pcap"
    with PcapWriter(path, time_offset=1_700_000_000.0) as writer:
        for transport in ("udp", "tcp"):
            for a_host, b_host, ports in (("127.0.0.1", "127.0.0.2", (5060, 5060)),
                                          ("::1", "fd00::2", (40123, 45555))):  # heuristics
                a, b = Address(transport, a_host, ports[0]), Address(transport, b_host, ports[1])
                writer.write(0.0, transport, a, b, request_bytes("INVITE"))
                writer.write(0.1, transport, b, a, response_bytes(180, "Ringing"))
                writer.write(0.2, transport, b, a, response_bytes(200))
    fields = ["frame.number", "ip.checksum.status", "udp.checksum.status",
              "tcp.checksum.status", "sip.Method", "sip.Status-Code", "_ws.expert.severity"]
    result = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE",
         "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
         "-T", "fields", *(arg for f in fields for arg in ("-e", f)), "-E", "occurrence=f"],
        capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == 12
    sip = [(row[4] or row[5]) for row in rows]
    assert sip == ["INVITE", "180", "200"] * 4
    for number, ip_ok, udp_ok, tcp_ok, *_ in rows:
        checks = [s for s in (ip_ok, udp_ok, tcp_ok) if s]
        assert checks and all(s == "1" for s in checks), (number, checks)  # 1: good
    assert all(row[6] == "" for row in rows)  # no expert warnings (bad lengths, ...)
