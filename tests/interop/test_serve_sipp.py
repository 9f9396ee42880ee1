"""sipp ``-sn uac`` → ``sipflow serve``: complete calls over UDP and TCP, run as real processes.

Each test starts ``sipflow serve`` on port 0, reads the bound port from its
``listening on …`` line, drives it with sipp, then stops it with SIGTERM and
asserts the clean exit 0 and one ``outcome=completed`` log line per call.
"""

from __future__ import annotations

import pytest

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
