"""``sipflow serve`` shuts down cleanly on SIGTERM (issue 12, item 3), checked with sipp.

* A ringing call gets 480, a confirmed call gets a BYE (the tables' ``Shutdown``
  rows), a new INVITE during the drain gets 503; the server exits 0 once
  everything has ended.
* A call that does not end within ``--drain`` is reported as still open, and
  the server still exits 0.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from .sipp_harness import free_port

HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
"""

ACK = """
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

ACK_2XX = """
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

RINGING_THEN_480 = HEAD.format(name="rings until the server shuts down") + """
  <recv response="180" timeout="10000"/>
  <recv response="480" timeout="20000"/>
""" + ACK + "</scenario>\n"

ANSWERED_THEN_BYE = HEAD.format(name="answered, then the server hangs up") + """
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" timeout="10000"/>
""" + ACK_2XX + """
  <recv request="BYE" timeout="20000"/>
  <pause milliseconds="{hold}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"""

REFUSED_503 = HEAD.format(name="a new call while the server drains") + """
  <recv response="503" timeout="10000"/>
""" + ACK + "</scenario>\n"


def scenario(folder: Path, name: str, text: str) -> str:
    path = folder / f"{name}.xml"
    path.write_text(text)
    return str(path)


def uac(port: int, scenario_path: str, calls: int = 1) -> list[str]:
    return ["-sf", scenario_path, "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(calls),
            "-r", "20",
            "-timeout", "30s", "-timeout_error", "-trace_stat", "-fd", "1", "-trace_err",
            f"127.0.0.1:{port}"]


@pytest.mark.interop(method="INVITE", role="uas")
def test_ringing_calls_get_480_on_sigterm(sipflow_serve, sipp, tmp_path: Path) -> None:
    serve = sipflow_serve("--answer-delay", "60s", "-v")
    ring = sipp(uac(serve.ports["udp"], scenario(tmp_path, "ring", RINGING_THEN_480), calls=3),
                "ring")
    with ring:
        serve.wait_output(r"(?s)(SIP/2.0 180 Ringing.*){3}")
        serve.signal(signal.SIGTERM)
        assert ring.wait(20) == 0, ring.output()[-2000:]
    assert ring.stats()["SuccessfulCall(C)"] == "3"
    assert serve.process is not None and serve.process.wait(15) == 0
    out = serve.output()
    assert "shutting down: 3 sessions open" in out
    assert "stopped: every call ended" in out
    assert out.count("SIP/2.0 480") >= 3
    lines = serve.call_lines()
    assert len(lines) == 3, lines
    assert all('outcome=failed' in line and 'reason="Shutdown"' in line for line in lines), lines


@pytest.mark.interop(method="BYE", role="uas")
def test_confirmed_call_gets_bye_and_new_invite_gets_503(sipflow_serve, sipp,
                                                         tmp_path: Path) -> None:
    serve = sipflow_serve("-v", "--drain", "10")
    held = sipp(uac(serve.ports["udp"],
                    scenario(tmp_path, "held", ANSWERED_THEN_BYE.format(hold=1500))), "held")
    with held:
        serve.wait_output(r"^ACK sip:")
        serve.signal(signal.SIGTERM)
        serve.wait_output(r"^shutting down: 1 session open")
        serve.wait_output(r"^BYE sip:")
        late = sipp(uac(serve.ports["udp"], scenario(tmp_path, "late", REFUSED_503)), "late")
        with late:
            assert late.wait(20) == 0, late.output()[-2000:]
        assert held.wait(20) == 0, held.output()[-2000:]
    assert late.stats()["SuccessfulCall(C)"] == "1"
    assert held.stats()["SuccessfulCall(C)"] == "1"
    assert serve.process is not None and serve.process.wait(15) == 0
    out = serve.output()
    assert "stopped: every call ended" in out
    lines = serve.call_lines()
    assert len(lines) == 1 and "outcome=completed" in lines[0], lines


@pytest.mark.interop(method="BYE", role="uas")
def test_calls_still_open_after_the_drain_are_reported(sipflow_serve, sipp,
                                                       tmp_path: Path) -> None:
    serve = sipflow_serve("-v", "--drain", "0.5")
    held = sipp(uac(serve.ports["udp"],
                    scenario(tmp_path, "held", ANSWERED_THEN_BYE.format(hold=3000))), "held")
    with held:
        serve.wait_output(r"^ACK sip:")
        assert serve.stop() == 0
    out = serve.output()
    assert "stopped: 1 call still open (sessions: 1 uas_call Terminating)" in out, out[-1500:]
    lines = serve.call_lines()
    assert len(lines) == 1 and "outcome=open" in lines[0], lines


@pytest.mark.interop(method="BYE", role="uas")
def test_a_second_signal_cuts_the_drain_short(sipflow_serve, sipp, tmp_path: Path) -> None:
    serve = sipflow_serve("-v", "--drain", "30")
    held = sipp(uac(serve.ports["udp"],
                    scenario(tmp_path, "held", ANSWERED_THEN_BYE.format(hold=8000))), "held")
    with held:
        serve.wait_output(r"^ACK sip:")
        serve.signal(signal.SIGTERM)
        serve.wait_output(r"^shutting down: 1 session open, draining for up to 30 s")
        started = time.monotonic()
        serve.signal(signal.SIGINT)
        assert serve.process is not None and serve.process.wait(10) == 0
        assert time.monotonic() - started < 5
        held.stop()
    assert "stopped: 1 call still open" in serve.output()
