"""sipp ``-sn uac`` → ``sipflow serve``: complete calls over UDP and TCP, run as real processes.

Each test starts ``sipflow serve`` on port 0, reads the bound port from its
``listening on …`` line, drives it with sipp, then stops it with SIGTERM and
asserts the clean exit 0 and one ``outcome=completed`` log line per call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipflow.trace.capture import read_capture

from .sipp_harness import free_port

CALLS = 200
RATE = 50


def sipp_uac(port: int, *extra: str, calls: int = CALLS, rate: int = RATE) -> list[str]:
    return ["-sn", "uac", "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(calls),
            "-r", str(rate),
            "-timeout", "40s", "-trace_stat", "-fd", "1", *extra, f"127.0.0.1:{port}"]


def assert_all_completed(serve, calls: int) -> None:
    lines = serve.call_lines()
    assert len(lines) == calls, serve.output()[-2000:]
    assert all("outcome=completed" in line for line in lines), \
        [line for line in lines if "outcome=completed" not in line][:5]
    assert len({line.split()[1] for line in lines}) == calls  # one line per Call-ID
    assert "stopped: every call ended" in serve.output()


@pytest.mark.interop(method="INVITE", role="uas")
@pytest.mark.interop(method="ACK", role="uas")
@pytest.mark.interop(method="BYE", role="uas")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_uac_200_calls_at_50_per_second(sipflow_serve, sipp, transport: str) -> None:
    serve = sipflow_serve(listen=(f"{transport}:127.0.0.1:0",))
    extra = ["-t", "t1"] if transport == "tcp" else []
    uac = sipp(sipp_uac(serve.ports[transport], *extra), "uac")
    with uac:
        assert uac.wait(45) == 0, uac.output()[-2000:]
    stats = uac.stats()
    assert stats["SuccessfulCall(C)"] == str(CALLS), stats
    assert stats["FailedCall(C)"] == "0", stats
    assert serve.stop() == 0, serve.errors()[-2000:]
    assert_all_completed(serve, CALLS)
    assert serve.errors() == ""


@pytest.mark.interop(method="BYE", role="uas")
def test_trace_writes_every_message_to_pcap(sipflow_serve, sipp, tmp_path: Path) -> None:
    pcap = tmp_path / "calls.pcap"
    serve = sipflow_serve("--trace", str(pcap))
    uac = sipp(sipp_uac(serve.ports["udp"], calls=5, rate=20), "uac")
    with uac:
        assert uac.wait(30) == 0, uac.output()[-2000:]
    assert serve.stop() == 0
    capture = read_capture(pcap)
    assert capture.problems == []
    starts = [m.message.start_line() for m in capture.messages if m.message is not None]
    assert len(starts) == len(capture.messages)
    requests = [s.split()[0] for s in starts if not s.startswith("SIP/2.0")]
    responses = [s.split()[1] for s in starts if s.startswith("SIP/2.0")]
    assert sorted(set(requests)) == ["ACK", "BYE", "INVITE"]
    assert requests.count("INVITE") == requests.count("ACK") == requests.count("BYE") == 5
    assert responses.count("200") == 10  # one to each INVITE and each BYE
    port = serve.ports["udp"]
    assert all(port in (m.src.port, m.dst.port) for m in capture.messages)
    assert serve.output().count("\n<<< ") == 0  # no message trace on stdout without -v


@pytest.mark.interop(method="INVITE", role="uas")
def test_json_output(sipflow_serve, sipp) -> None:
    serve = sipflow_serve("--format", "json")
    uac = sipp(sipp_uac(serve.ports["udp"], calls=5, rate=20), "uac")
    with uac:
        assert uac.wait(30) == 0, uac.output()[-2000:]
    assert serve.stop() == 0
    records = [json.loads(line) for line in serve.output().splitlines()]
    events = [r["event"] for r in records]
    assert events == ["listening"] + ["call"] * 5 + ["shutting_down", "stopped"]
    assert records[0]["address"] == f"udp:127.0.0.1:{serve.ports['udp']}"
    calls = records[1:6]
    assert {c["outcome"] for c in calls} == {"completed"}
    assert all(c["from"].startswith("sip:sipp@") and c["duration_s"] >= 0 for c in calls)
    assert records[-1] == {"event": "stopped", "open_calls": 0, "sessions": {}}


@pytest.mark.interop(method="INVITE", role="uas")
def test_one_server_on_udp_and_tcp_at_once(sipflow_serve, sipp) -> None:
    serve = sipflow_serve(listen=("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
    assert set(serve.ports) == {"udp", "tcp"} and serve.ports["udp"] != 0
    udp = sipp(sipp_uac(serve.ports["udp"], calls=20, rate=20), "udp")
    tcp = sipp(sipp_uac(serve.ports["tcp"], "-t", "t1", calls=20, rate=20), "tcp")
    with udp, tcp:
        assert udp.wait(30) == 0, udp.output()[-1500:]
        assert tcp.wait(30) == 0, tcp.output()[-1500:]
    for run in (udp, tcp):
        assert run.stats()["SuccessfulCall(C)"] == "20"
    assert serve.stop() == 0
    assert_all_completed(serve, 40)
