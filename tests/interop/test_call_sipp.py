"""``sipflow call`` → sipp ``-sn uas``: complete calls over UDP and TCP, run as real processes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from .sipp_harness import free_port, wait_for_port

CALLS = 200
RATE = 50
FINAL = re.compile(r"^(\d+) passed, (\d+) failed; setup p50 ([\d.]+) ms, p95 ([\d.]+) ms, "
                   r"p99 ([\d.]+) ms$")


def sipp_uas(port: int, *extra: str, calls: int = CALLS, scenario: Path | None = None) -> list[str]:
    """sipp as the UAS: the built-in ``uas`` scenario, or the scenario file given."""
    chosen = ["-sf", str(scenario)] if scenario is not None else ["-sn", "uas"]
    return [*chosen, "-i", "127.0.0.1", "-p", str(port), "-m", str(calls),
            "-timeout", "40s", "-trace_stat", "-fd", "1", *extra]


def tcp_uas_scenario(folder: Path) -> Path:
    """sipp's built-in ``uas`` scenario without its final 4 s ``timewait``.

    Over TCP nothing is retransmitted, and sipp fails a call that is still in
    timewait when the peer closes the connection — it does so with its own
    ``-sn uac`` too — so the last call of every TCP run would be miscounted.
    """
    text = subprocess.run(["sipp", "-sd", "uas"], capture_output=True, text=True,
                          timeout=10).stdout
    assert "<timewait" in text, text[:500]
    path = folder / "uas_tcp.xml"
    path.write_text(re.sub(r"\s*<timewait[^>]*/>", "", text))
    return path


@pytest.mark.interop(method="INVITE", role="uac")
@pytest.mark.interop(method="ACK", role="uac")
@pytest.mark.interop(method="BYE", role="uac")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_200_calls_at_50_per_second_to_sipp_uas(sipflow_call, sipp, tmp_path: Path,
                                                transport: str) -> None:
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    port = free_port(kind)
    if transport == "tcp":
        uas = sipp(sipp_uas(port, "-t", "t1", scenario=tcp_uas_scenario(tmp_path)), "uas")
    else:
        uas = sipp(sipp_uas(port), "uas")
    with uas:
        wait_for_port("127.0.0.1", port, kind)
        uri = f"sip:service@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
        result = sipflow_call(uri, "--count", str(CALLS), "--rate", str(RATE),
                              "--listen", f"{transport}:127.0.0.1:0", timeout=60)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        final = result.stdout.strip().splitlines()[-1]
        match = FINAL.match(final)
        assert match, final
        assert (int(match[1]), int(match[2])) == (CALLS, 0)
        p50, p95, p99 = (float(match[i]) for i in (3, 4, 5))
        assert 0 < p50 <= p95 <= p99 < 1000
        assert uas.wait(30) == 0, uas.output()[-2000:]
    stats = uas.stats()
    assert stats["SuccessfulCall(C)"] == str(CALLS), stats
    assert stats["FailedCall(C)"] == "0", stats
    # off a terminal the progress is plain lines on stderr, never on stdout
    assert "progress: " in result.stderr and "progress: " not in result.stdout


@pytest.mark.interop(method="INVITE", role="uac")
def test_json_report(sipflow_call, sipp) -> None:
    port = free_port()
    uas = sipp(sipp_uas(port, calls=10), "uas")
    with uas:
        result = sipflow_call(f"sip:service@127.0.0.1:{port}", "--count", "10", "--rate", "100",
                              "--concurrency", "3", "--format", "json", timeout=30)
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads(result.stdout)
    assert (report["count"], report["started"], report["established"]) == (10, 10, 10)
    assert (report["passed"], report["failed"], report["failures"]) == (10, 0, {})
    assert set(report["setup_ms"]) == {"p50", "p95", "p99"}
    assert report["setup_ms"]["p50"] <= report["setup_ms"]["p99"]
