"""The sipp UAC scenarios of ``scenarios/`` against ``sipflow serve`` (sipflow is the UAS).

Each run starts ``sipflow serve`` on port 0, plays a scenario (hold/resume,
UPDATE, 100rel/PRACK with Supported or Require, INFO DTMF, OPTIONS, CANCEL)
for a few calls, requires sipp to exit 0 with every call successful, then
stops the server with SIGTERM and checks its clean exit and its call lines.
The command lines are those of ``scenarios/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .sipp_harness import SCENARIOS, free_port

CALLS = 10


def sipp_uac(scenario: str, port: int, transport: str, *extra: str,
             calls: int = CALLS, rate: int = 20) -> list[str]:
    return ["-sf", str(SCENARIOS / scenario), *(["-t", "t1"] if transport == "tcp" else []),
            "-m", str(calls), "-r", str(rate), "-i", "127.0.0.1", "-p", str(free_port()),
            "-timeout", "30s", "-timeout_error", "-trace_stat", "-fd", "1", "-trace_err",
            *extra, f"127.0.0.1:{port}"]


def check_run(uac, serve, calls: int, outcome: str) -> None:
    with uac:
        code = uac.wait(60)
    errors = "".join(p.read_text(errors="replace")[:2000]
                     for p in Path(uac.workdir).glob("*errors.log"))
    assert code == 0, uac.output()[-1500:] + errors
    stats = uac.stats()
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == (str(calls), "0"), stats
    assert serve.stop() == 0, serve.errors()[-2000:]
    lines = serve.call_lines()
    assert len(lines) == calls, serve.output()[-1500:]
    assert all(outcome in line for line in lines), [ln for ln in lines if outcome not in ln][:3]
    assert "stopped: every call ended" in serve.output()


@pytest.mark.parametrize("scenario, serve_args, transport, outcome", [
    pytest.param("uac_hold_resume.xml", (), "udp", "completed",
                 marks=[pytest.mark.interop(method="INVITE", role="uas"),
                        pytest.mark.interop(method="ACK", role="uas")], id="hold-resume"),
    pytest.param("uac_hold_resume.xml", (), "tcp", "completed",
                 marks=[pytest.mark.interop(method="INVITE", role="uas")], id="hold-resume-tcp"),
    pytest.param("uac_update.xml", ("--answer-delay", "1"), "udp", "completed",
                 marks=[pytest.mark.interop(method="UPDATE", role="uas"),
                        pytest.mark.interop(method="PRACK", role="uas")], id="update"),
    pytest.param("uac_100rel.xml", (), "udp", "completed",
                 marks=[pytest.mark.interop(method="PRACK", role="uas")], id="100rel-supported"),
    pytest.param("uac_100rel.xml", (), "tcp", "completed",
                 marks=[pytest.mark.interop(method="PRACK", role="uas")], id="100rel-tcp"),
    pytest.param("uac_100rel_require.xml", ("--set", "rel100=required"), "udp", "completed",
                 marks=[pytest.mark.interop(method="PRACK", role="uas")], id="100rel-require"),
    pytest.param("uac_info_dtmf.xml", (), "udp", "completed",
                 marks=[pytest.mark.interop(method="INFO", role="uas")], id="info-dtmf"),
    pytest.param("uac_options.xml", (), "udp", "completed",
                 marks=[pytest.mark.interop(method="OPTIONS", role="uas")], id="options"),
    pytest.param("uac_cancel.xml", ("--answer-delay", "1"), "udp", 'reason="DialogCANCEL"',
                 marks=[pytest.mark.interop(method="CANCEL", role="uas")], id="cancel"),
])
def test_scenario_against_serve(sipflow_serve, sipp, scenario: str, serve_args: tuple[str, ...],
                                transport: str, outcome: str) -> None:
    serve = sipflow_serve(*serve_args, listen=(f"{transport}:127.0.0.1:0",))
    uac = sipp(sipp_uac(scenario, serve.ports[transport], transport), "uac")
    check_run(uac, serve, CALLS, outcome)


@pytest.mark.interop(method="PRACK", role="uas")
def test_100rel_with_5_percent_loss(sipflow_serve, sipp) -> None:
    """Reliable provisionals and PRACKs retransmitted through 5 % loss each way."""
    serve = sipflow_serve()
    uac = sipp(sipp_uac("uac_100rel.xml", serve.ports["udp"], "udp", "-lost", "5",
                        calls=100, rate=50), "uac")
    check_run(uac, serve, 100, "outcome=")
