"""sipp ``-sn uac`` with 5 % loss → ``sipflow serve``: every call still completes.

sipp's ``-lost 5`` drops 5 % of what sipp sends *and* 5 % of what it receives
(its statistics show both in the ``Lost`` column), so the loss runs in both
directions. sipflow's transactions retransmit (INVITE 2xx until the ACK, BYE
answers absorbed) and sipp's scenario retransmits INVITE and BYE.

The scenario is sipp's built-in ``uac`` with transaction matching added
(``start_txn``/``response_txn``/``ack_txn``): without it sipp takes any 200 for
the one it waits for, so when its ACK and BYE are both lost it takes our
retransmitted 200 (INVITE) for the answer to its BYE and declares the call
done while the BYE never reached us.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .sipp_harness import free_port

CALLS = 200
RATE = 50


def uac_with_transactions(folder: Path) -> Path:
    """sipp's built-in ``uac`` scenario, with responses matched to their transaction."""
    text = subprocess.run(["sipp", "-sd", "uac"], capture_output=True, text=True,
                          timeout=10).stdout
    bye = text.index("BYE sip:")
    head, tail = text[:bye], text[bye:]
    head = head.replace('<send retrans="500">', '<send retrans="500" start_txn="invite">', 1)
    cut = head.rindex('<send retrans="500">')
    head = head[:cut] + '<send retrans="500" start_txn="bye">' + head[cut + 20:]
    for code in ("100", "180", "183"):
        head = head.replace(f'<recv response="{code}"',
                            f'<recv response="{code}" response_txn="invite"', 1)
    head = head.replace('<recv response="200" rtd="true">',
                        '<recv response="200" rtd="true" response_txn="invite">')
    ack = head.rindex("<send>", 0, head.index("ACK sip:"))
    head = head[:ack] + '<send ack_txn="invite">' + head[ack + len("<send>"):]
    tail = tail.replace('<recv response="200" crlf="true">',
                        '<recv response="200" crlf="true" response_txn="bye">')
    text = head + tail
    assert text.count("_txn=") == 8, text
    path = folder / "uac_txn.xml"
    path.write_text(text)
    return path


@pytest.mark.interop(method="INVITE", role="uas")
def test_5_percent_loss_each_way_every_call_completes(sipflow_serve, sipp,
                                                      tmp_path: Path) -> None:
    serve = sipflow_serve()
    args = ["-sf", str(uac_with_transactions(tmp_path)), "-i", "127.0.0.1",
            "-p", str(free_port()), "-m", str(CALLS), "-r", str(RATE), "-lost", "5",
            "-timeout", "60s", "-trace_stat", "-fd", "1", "-trace_err",
            f"127.0.0.1:{serve.ports['udp']}"]
    uac = sipp(args, "uac")
    with uac:
        assert uac.wait(70) == 0, uac.output()[-2500:]
    stats = uac.stats()
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == (str(CALLS), "0"), stats
    assert int(stats["Retransmissions(C)"]) > 0, stats  # the loss did bite
    assert serve.stop() == 0, serve.errors()[-2000:]
    out = serve.output()
    assert "stopped: every call ended" in out, out[-1500:]
    lines = serve.call_lines()
    assert len(lines) == CALLS
    # A BYE that overtakes a lost ACK ends the call in uas_call's Answered state,
    # which the table reports as failed (BYE before the ACK); nothing else may fail.
    others = [ln for ln in lines
              if "outcome=completed" not in ln and 'reason="DialogBYE"' not in ln]
    assert others == []
