"""``sipflow call`` against the sipp UAS scenarios of ``scenarios/`` (sipflow is the UAC).

sipp is started first, then ``sipflow call`` places a few calls to it; sipp
must exit 0 with every call successful. Against ``uas_busy.xml`` and
``uas_unavailable.xml`` every call fails by design: ``sipflow call`` exits 1
and names the response. The CANCEL case uses a small scenario of its own
(below): sipp rings and never answers, our ``no_answer`` timer cancels.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from .sipp_harness import SCENARIOS, free_port, wait_for_port

CALLS = 10

RING_UNTIL_CANCEL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="rings until the caller cancels">
  <recv request="INVITE" timeout="10000">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="true" assign_to="inv_cseq"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <recv request="CANCEL" timeout="10000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$inv_cseq] INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK" timeout="10000"/>
</scenario>
"""


def sipp_uas(scenario: Path, port: int, transport: str, calls: int = CALLS) -> list[str]:
    return ["-sf", str(scenario), *(["-t", "t1"] if transport == "tcp" else []),
            "-m", str(calls), "-i", "127.0.0.1", "-p", str(port), "-timeout", "40s",
            "-timeout_error", "-trace_stat", "-fd", "1", "-trace_err"]


def run_against(sipp, sipflow_call, scenario: Path, transport: str, *call_args: str):
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    port = free_port(kind)
    uas = sipp(sipp_uas(scenario, port, transport), "uas")
    with uas:
        wait_for_port("127.0.0.1", port, kind)
        uri = f"sip:service@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
        result = sipflow_call(uri, "--count", str(CALLS), "--rate", "20",
                              "--listen", f"{transport}:127.0.0.1:0", *call_args, timeout=60)
        code = uas.wait(40)
    errors = "".join(p.read_text(errors="replace")[:2000]
                     for p in Path(uas.workdir).glob("*errors.log"))
    assert code == 0, uas.output()[-1500:] + errors + result.stdout + result.stderr[-1500:]
    stats = uas.stats()
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == (str(CALLS), "0"), stats
    return result


def final_line(result) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("scenario, transport, call_args", [
    pytest.param("uas_100rel.xml", "udp", ("--duration", "1"),
                 marks=[pytest.mark.interop(method="PRACK", role="uac")], id="100rel"),
    pytest.param("uas_100rel.xml", "tcp", ("--duration", "1"),
                 marks=[pytest.mark.interop(method="PRACK", role="uac")], id="100rel-tcp"),
    pytest.param("uas_reinvite_update_info.xml", "udp", ("--duration", "2"),
                 marks=[pytest.mark.interop(method="INFO", role="uac"),
                        pytest.mark.interop(method="UPDATE", role="uac"),
                        pytest.mark.interop(method="INVITE", role="uac")], id="reinvite-update-info"),
])
def test_calls_pass(sipp, sipflow_call, scenario: str, transport: str,
                    call_args: tuple[str, ...]) -> None:
    result = run_against(sipp, sipflow_call, SCENARIOS / scenario, transport, *call_args)
    assert result.returncode == 0, result.stdout + result.stderr[-1500:]
    assert re.match(rf"^{CALLS} passed, 0 failed; setup p50 ", final_line(result))


@pytest.mark.parametrize("scenario, reason", [
    pytest.param("uas_busy.xml", "486 Busy Here",
                 marks=[pytest.mark.interop(method="INVITE", role="uac")], id="486"),
    pytest.param("uas_unavailable.xml", "503 Service Unavailable",
                 marks=[pytest.mark.interop(method="INVITE", role="uac")], id="503"),
])
def test_rejected_calls_fail_with_the_response(sipp, sipflow_call, scenario: str,
                                               reason: str) -> None:
    result = run_against(sipp, sipflow_call, SCENARIOS / scenario, "udp")
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines == [f"{CALLS} failed: {reason}",
                     f"0 passed, {CALLS} failed; setup p50 -, p95 -, p99 -"]


@pytest.mark.interop(method="CANCEL", role="uac")
def test_no_answer_timer_cancels_the_ringing_call(sipp, sipflow_call, tmp_path: Path) -> None:
    scenario = tmp_path / "ring_until_cancel.xml"
    scenario.write_text(RING_UNTIL_CANCEL)
    result = run_against(sipp, sipflow_call, scenario, "udp", "--set", "no_answer=0.5s",
                         "--format", "json")
    assert result.returncode == 1
    assert '"487 Request Terminated": 10' in result.stdout


@pytest.mark.interop(method="CANCEL", role="uac")
def test_sigint_cancels_ringing_calls_and_reports(sipp, tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from .conftest import SIPFLOW

    scenario = tmp_path / "ring_until_cancel.xml"
    scenario.write_text(RING_UNTIL_CANCEL)
    port = free_port()
    uas = sipp(sipp_uas(scenario, port, "udp", calls=4), "uas")
    with uas:
        call = subprocess.Popen([*SIPFLOW, "call", f"sip:service@127.0.0.1:{port}",
                                 "--count", "6", "--concurrency", "4"],
                                cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and uas.stats().get("CurrentCall") != "4":
                time.sleep(0.1)  # sipp's 1 s statistics: all four calls ringing
            call.send_signal(signal.SIGINT)
            out, err = call.communicate(timeout=15)
        finally:
            if call.poll() is None:
                call.kill()
        assert uas.wait(20) == 0, uas.output()[-1500:]
    assert call.returncode == 1, out + err
    assert out.strip().splitlines() == [
        "4 failed: interrupted", "2 failed: not started (interrupted)",
        "0 passed, 6 failed; setup p50 -, p95 -, p99 -"]
    assert "Traceback" not in err
    assert uas.stats()["SuccessfulCall(C)"] == "4"  # each got its CANCEL, 487 and ACK
