"""``sipflow call`` → sipp ``-sn uas`` with 5 % loss each way: every call still completes.

sipp's ``-lost 5`` drops 5 % of what it sends and of what it receives (its
statistics count both). The scenario is sipp's built-in ``uas`` with two
changes, each working around a sipp 3.6 weakness that would fail a call
sipflow handled correctly:

* its 180 is never lost (``lost="0"``). sipp forgets which message answers a
  retransmitted request once it has sent a second message after it (the
  retransmission link is overwritten with an empty hash), so an INVITE
  retransmission arriving after its 200 makes it abort the call. A 180 that
  arrives stops our INVITE retransmissions (RFC 3261 §17.1.1.2), which keeps
  sipp out of that case.
* its ACK is ``optional="global"`` instead of ``optional="true"``. When sipp
  dropped our first ACK on receipt, our BYE moves it on; the ACK we send
  again for its retransmitted 200 then arrives after the BYE, and sipp only
  matches a late request against an earlier step marked ``global``.

Every message — INVITE, 200 (retransmitted by sipp), ACK, BYE and its 200 —
except that one 180 is subject to the loss.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .sipp_harness import free_port

CALLS = 200
RATE = 50

BUSY_FIRST_ACK_LOST = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="486, every ACK lost for 1.2 s">
  <recv request="INVITE" timeout="10000"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK" lost="100" timeout="1200" ontimeout="late"/>
  <label id="late"/>
  <recv request="ACK" timeout="10000"/>
</scenario>
"""
"""sipp's 486, with every ACK that arrives in the first 1.2 s dropped (``lost="100"``) as
if lost: sipp retransmits the 486 (0.5 s, 1.5 s …) and takes the first ACK after that, the
one for the retransmission at 1.5 s, which only our INVITE client transaction (Completed,
Timer D) can send."""


def uas_with_reliable_180(folder: Path) -> Path:
    text = subprocess.run(["sipp", "-sd", "uas"], capture_output=True, text=True,
                          timeout=10).stdout
    first_send = text.index("<send>")
    assert "180 Ringing" in text[first_send:first_send + 200], text
    text = text[:first_send] + '<send lost="0">' + text[first_send + len("<send>"):]
    ack = re.search(r'<recv request="ACK"\s+optional="true"', text)
    assert ack, text
    text = text[:ack.start()] + '<recv request="ACK" optional="global"' + text[ack.end():]
    path = folder / "uas_reliable_180.xml"
    path.write_text(text)
    return path


@pytest.mark.interop(method="INVITE", role="uac")
def test_5_percent_loss_each_way_every_call_completes(sipflow_call, sipp, tmp_path: Path) -> None:
    port = free_port()
    args = ["-sf", str(uas_with_reliable_180(tmp_path)), "-i", "127.0.0.1", "-p", str(port),
            "-m", str(CALLS), "-lost", "5", "-timeout", "60s", "-trace_stat", "-fd", "1",
            "-trace_err"]
    uas = sipp(args, "uas")
    with uas:
        result = sipflow_call(f"sip:service@127.0.0.1:{port}", "--count", str(CALLS),
                              "--rate", str(RATE), timeout=90)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert re.match(rf"^{CALLS} passed, 0 failed; setup ",
                        result.stdout.strip().splitlines()[-1])
        assert uas.wait(30) == 0, uas.output()[-2500:]
    stats = uas.stats()
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == (str(CALLS), "0"), stats
    assert int(stats["Retransmissions(C)"]) > 0, stats


@pytest.mark.interop(method="ACK", role="uac")
def test_5_percent_loss_against_a_busy_callee_every_486_is_acked(sipflow_call, sipp) -> None:
    """sipp answers 486 (retransmitted until our ACK arrives); 5 % loss each way.

    When our ACK (or sipp's receipt of it) is lost, sipp retransmits the 486 and
    only our INVITE client transaction (Timer D) can ACK it again, also after
    our last call ended: ``sipflow call`` lingers for that (``-v`` says so)."""
    from .test_call_scenarios import SCENARIOS

    port = free_port()
    args = ["-sf", str(SCENARIOS / "uas_busy.xml"), "-i", "127.0.0.1", "-p", str(port),
            "-m", str(CALLS), "-lost", "5", "-timeout", "60s", "-trace_stat", "-fd", "1",
            "-trace_err"]
    uas = sipp(args, "uas")
    with uas:
        result = sipflow_call(f"sip:service@127.0.0.1:{port}", "--count", str(CALLS),
                              "--rate", str(RATE), "-v", timeout=90)
        assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
        assert result.stdout.strip().splitlines() == [
            f"{CALLS} failed: 486 Busy Here", f"0 passed, {CALLS} failed; setup p50 -, p95 -, p99 -"]
        assert "linger: " in result.stderr, result.stderr[-1500:]
        assert uas.wait(30) == 0, uas.output()[-2500:]
    stats = uas.stats()
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == (str(CALLS), "0"), stats
    assert int(stats["Retransmissions(C)"]) > 0, stats


@pytest.mark.interop(method="ACK", role="uac")
def test_a_486_retransmitted_after_the_last_call_is_acked_again(sipflow_call, sipp,
                                                                tmp_path: Path) -> None:
    """Every call's 486 comes again 1.5 s after the first, the last one after our run ended:
    ``sipflow call`` must still be there to ACK it (it lingers), then exit on its own."""
    scenario = tmp_path / "busy_first_ack_lost.xml"
    scenario.write_text(BUSY_FIRST_ACK_LOST)
    port = free_port()
    calls = 5
    uas = sipp(["-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", str(calls),
                "-timeout", "30s", "-timeout_error", "-trace_stat", "-fd", "1", "-trace_err"],
               "uas")
    with uas:
        result = sipflow_call(f"sip:service@127.0.0.1:{port}", "--count", str(calls),
                              "--rate", "20", "-v", timeout=40)
        assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
        assert f"{calls} failed: 486 Busy Here" in result.stdout
        assert uas.wait(20) == 0, uas.output()[-2500:]
    stats = uas.stats()
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == (str(calls), "0"), stats
    linger = [ln for ln in result.stderr.splitlines() if ln.startswith("linger: ")]
    assert len(linger) == 1 and linger[0].endswith("ended: quiet"), result.stderr[-1500:]
