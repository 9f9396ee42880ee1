"""The sipp harness itself: sipp runs bounded against sipp and is stopped by PID."""

import socket

import pytest

from .sipp_harness import SippRun, free_port, require_tool


@pytest.mark.interop(method="INVITE", role="harness")
def test_sipp_uac_against_sipp_uas(tmp_path):
    require_tool("sipp")
    port = free_port(socket.SOCK_DGRAM)
    uas = SippRun(["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-timeout", "20s"], tmp_path / "uas")
    (tmp_path / "uas").mkdir()
    uac_dir = tmp_path / "uac"
    uac_dir.mkdir()
    with uas:
        uac = SippRun(["-sn", "uac", "-i", "127.0.0.1", "-p", "0", "-m", "5", "-r", "50",
                       "-timeout", "20s", "-trace_stat", "-fd", "1", f"127.0.0.1:{port}"], uac_dir)
        with uac:
            assert uac.wait(25) == 0, uac.output()[-2000:]
        stats = uac.stats()
        assert stats.get("SuccessfulCall(C)") == "5", stats
    assert uas.process is not None and uas.process.poll() is not None
