"""``sipflow call`` → ``sipflow serve``: both verbs as real processes, digest auth and edited tables.

sipp is not involved here, but these are end-to-end runs over real sockets:
``--auth`` on both sides (CONTRACTS §7: an out-of-dialog INVITE without valid
credentials gets 401; the caller answers one challenge per call), and
``serve --tables DIR`` with an edited copy of ``uas_call.yaml``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from sipflow.app.setup import shipped_tables_dir


@pytest.mark.interop(method="INVITE", role="uac")
def test_digest_auth_between_call_and_serve(sipflow_serve, sipflow_call) -> None:
    serve = sipflow_serve("--auth", "alice:s3cret", "--realm", "example.test")
    uri = f"sip:bob@127.0.0.1:{serve.ports['udp']}"
    good = sipflow_call(uri, "--count", "5", "--rate", "50", "--auth", "alice:s3cret", timeout=30)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip().splitlines()[-1].startswith("5 passed, 0 failed; setup p50")
    wrong = sipflow_call(uri, "--count", "2", "--auth", "alice:nope", timeout=30)
    assert wrong.returncode == 1
    assert "2 failed: 401 Unauthorized" in wrong.stdout.splitlines()
    none = sipflow_call(uri, "--count", "1", "--format", "json", timeout=30)
    assert none.returncode == 1
    assert '"401 Unauthorized": 1' in none.stdout
    assert serve.stop() == 0
    lines = serve.call_lines()
    assert sum("outcome=completed" in line for line in lines) == 5, lines


@pytest.mark.interop(method="INVITE", role="uas")
def test_serve_runs_an_edited_uas_call_from_tables_dir(sipflow_serve, sipflow_call,
                                                       tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    original = (shipped_tables_dir() / "uas_call.yaml").read_text()
    edited, n = re.subn(r"(?m)^(\s*answer_delay:\s*)0s\b", r"\g<1>1s", original)
    assert n == 1, "the shipped uas_call.yaml has no 'answer_delay: 0s' parameter any more"
    (tables / "uas_call.yaml").write_text(edited)
    shutil.copytree(shipped_tables_dir() / "fragments", tables / "fragments")
    serve = sipflow_serve("--tables", str(tables))
    result = sipflow_call(f"sip:bob@127.0.0.1:{serve.ports['udp']}", "--count", "3",
                          "--concurrency", "3", "--format", "json", timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    setup = json.loads(result.stdout)["setup_ms"]
    assert 1000 <= setup["p50"] <= setup["p99"] < 5000, setup  # the edited 1 s ring
    assert serve.stop() == 0
    durations = [float(m) for m in re.findall(r"duration=([\d.]+)s", serve.output())]
    assert len(durations) == 3 and min(durations) >= 1.0, durations


@pytest.mark.interop(method="BYE", role="uac")
def test_ipv6_call_and_serve(sipflow_serve, sipflow_call) -> None:
    serve = sipflow_serve(listen=("udp:[::1]:0",))
    result = sipflow_call(f"sip:bob@[::1]:{serve.ports['udp']}", "--count", "5", "--rate", "50",
                          "--listen", "udp:[::1]:0", "--duration", "0.2", timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("5 passed, 0 failed")
    assert serve.stop() == 0
    lines = serve.call_lines()
    assert len(lines) == 5 and all("outcome=completed" in line for line in lines), lines
    assert all("to=sip:bob@[::1]:" in line for line in lines), lines
