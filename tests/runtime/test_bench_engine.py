"""tools/bench_engine.py runs end to end (tiny counts: this is not a timed test)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench_engine.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_writes_json_and_a_summary(tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "bench.json"
    code = bench.main(["--out", str(out), "--calls", "50", "--sessions", "200", "--naive-sessions", "5",
                       "--repeat", "1", "--no-pin"])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["table"]["name"] == "uas_call" and result["table"]["rows"] > 10
    assert result["engine"]["events"] == 50 * len(bench.CALL_FLOW)
    assert result["engine"]["call_flow_events_per_s"] > 0
    assert result["naive"]["bytes_per_session"] > result["sessions"]["bytes_per_session"] > 0
    assert result["cpu"] is None
    line = capsys.readouterr().out.strip()
    assert line.startswith("engine ") and "events/s" in line and "sessions in" in line


def test_bench_rejects_bad_counts(capsys):
    bench = load_bench()
    with pytest.raises(SystemExit) as exc:
        bench.main(["--calls", "0"])
    assert exc.value.code == 2
    assert "--calls must be at least 1" in capsys.readouterr().err


def test_bench_refuses_a_core_it_may_not_use(capsys):
    bench = load_bench()
    assert bench.main(["--cpu", "4096", "--calls", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_engine: --cpu 4096: this process may only run on cores")
    assert err.count("\n") == 1
