"""Smoke tests of ``tools/bench_calls.py``: tiny counts, the JSON shape and the summary line.

Not a timed test: the figures are whatever this box gives; the tests check
that each one is measured (calls really completed, RSS really sampled) and
that the search and the sustain rule decide as documented. Tests that run
sipp skip when it is missing and fail when ``CI=true`` (the interop harness's
``require_tool``).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.sipp_harness import require_tool

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench_calls.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("bench_calls_under_test", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


bench = load_tool()


def run_tool(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- the search, without processes


def fake_step(capacity: int, calls: list[int]):
    """A subject that sustains every rate up to ``capacity``."""

    def step(rate: int):
        calls.append(rate)
        done = min(rate, capacity)
        return bench.judge(rate, rate * 10, rate * 10, 0, rate * 10 / done, {})

    return step


def test_search_doubles_then_bisects_to_the_capacity() -> None:
    tried: list[int] = []
    result = bench.search(fake_step(1500, tried), 100, 8000, 0.05, 1e9, 0.0)
    assert tried[:5] == [100, 200, 400, 800, 1600]
    best, fail = result["max_sustained_cps"], result["lowest_failed_cps"]
    # 5 % slack: offered 1550, done 1500 (96.8 %) sustains; 1600 (93.8 %) does not
    assert 0.95 * best <= 1500 < 0.95 * fail
    assert fail - best <= 0.05 * best and best >= 1500
    assert [s["rate"] for s in result["steps"]] == tried
    assert result["stopped"] == "converged"


def test_search_stops_at_max_rate_and_within_budget() -> None:
    tried: list[int] = []
    result = bench.search(fake_step(10_000, tried), 100, 300, 0.05, 1e9, 0.0)
    assert tried == [100, 200, 300]
    assert result["max_sustained_cps"] == 300 and result["stopped"] == "max rate reached"
    tried.clear()
    result = bench.search(fake_step(10_000, tried), 100, 300, 0.05, 5.0, 10.0)
    assert tried == [] and result["max_sustained_cps"] is None and result["stopped"] == "budget spent"


def test_search_below_the_start_rate_halves() -> None:
    tried: list[int] = []
    result = bench.search(fake_step(30, tried), 100, 800, 0.05, 1e9, 0.0)
    assert tried[:2] == [100, 50]
    assert 30 <= result["max_sustained_cps"] <= 30 / 0.95


def test_sustain_rule_counts_completed_over_elapsed() -> None:
    # sipp slowed itself down: 0 failed, every call completed, but at 70 % of the offered rate
    slow = bench.judge(1000, 10_000, 10_000, 0, 14.3, {})
    assert not slow.sustained and slow.achieved_cps == pytest.approx(699.3, abs=0.1)
    assert bench.judge(1000, 10_000, 10_000, 0, 10.2, {}).sustained
    assert not bench.judge(1000, 10_000, 9_999, 1, 10.0, {}).sustained
    assert not bench.judge(1000, 10_000, 9_000, 0, 9.0, {}).sustained  # calls left unfinished


def test_sipp_figures_from_a_trace_stat_row() -> None:
    row = {"StartTime": "2026-11-25\t09:06:11.920547\t1795597571.920547",
           "CurrentTime": "2026-11-25\t09:06:13.933704\t1795597573.933704",
           "ElapsedTime(C)": "00:00:02", "SuccessfulCall(C)": "400", "FailedCall(C)": "0"}
    assert bench.sipp_figures(row) == {"completed": 400, "failed": 0, "elapsed_s": 2.013}
    with pytest.raises(ValueError, match="FailedCall"):
        bench.sipp_figures({k: v for k, v in row.items() if k != "FailedCall(C)"})
    with pytest.raises(ValueError, match="no -trace_stat row"):
        bench.sipp_figures({})


def test_plateau_is_when_sipp_had_the_most_calls_up(tmp_path: Path) -> None:
    header = "StartTime;CurrentTime;CurrentCall;SuccessfulCall(C);FailedCall(C);"
    rows = [f"2026-11-25\t09:00:00\t100.0;2026-11-25\t09:00:0{i}\t{100 + i}.0;{up};0;0;"
            for i, up in enumerate([0, 400, 800, 1000, 1000, 1000, 300])]
    (tmp_path / "sipp_123_.csv").write_text("\n".join([header, *rows]) + "\n")
    parsed = bench.sipp_rows(tmp_path)
    assert len(parsed) == 7 and parsed[3]["CurrentCall"] == "1000"
    assert bench.plateau(parsed) == (1000, 103.0, 105.0)
    assert bench.plateau([]) is None
    assert bench.plateau([{"CurrentTime": "x"}]) is None


def test_soak_marks_every_10_s_and_growth_per_10k_calls() -> None:
    assert bench.soak_marks(120) == [10.0 * k for k in range(1, 13)]
    assert bench.soak_marks(1) == [round(0.1 * k, 3) for k in range(1, 11)]
    # 450/s for 80 s after the warm-up is 36,000 calls: 720 KiB grown is 200 KiB per 10k
    assert bench.growth_per_10k(100_000, 100_720, 450, 80) == 200.0
    assert bench.growth_per_10k(100_000, 99_820, 450, 80) == -50.0
    assert bench.growth_per_10k(None, 100_720, 450, 80) is None
    assert bench.growth_per_10k(100_000, None, 450, 80) is None


def test_last_sample_between_two_times() -> None:
    sampler = bench.Sampler(0)
    sampler._epoch0 = 1000.0
    sampler.samples = [(0.5, 10), (1.5, 30), (2.5, 20), (3.5, 40)]
    assert sampler.last_between_epochs(1001.0, 1003.0) == (1002.5, 20)
    assert sampler.rss_between_epochs(1001.0, 1003.0) == 30  # the highest, for comparison
    assert sampler.last_between_epochs(1010.0, 1020.0) is None


def test_summary_says_whether_transactions_lingered_and_the_growth_per_10k() -> None:
    held = {"calls": 50000, "bytes_per_call": 2940, "sample_s_after_last_setup": 58.9,
            "transactions_linger_at_sample": False}
    result = {"concurrent": {"serve": held, "reference": {"bytes_per_call": 3002},
                             "ratio_bytes_per_call": 0.979},
              "soak": {"seconds": 120.0, "rate": 450, "rss_kib_after_warmup": 79456,
                       "rss_kib_end": 79548, "rss_growth_kib_per_10k_calls": 34.1, "warmup_s": 60.0}}
    line = bench.summary(result)
    assert "50000 held: serve 2940 B/call (58.9 s after the last set-up, no finished " \
           "transaction lingering), sipp 3002 B/call (x0.979)" in line
    assert "soak 120.0 s at 450/s: RSS 79456 -> 79548 KiB (34.1 KiB per 10k calls after 60.0 s)" in line
    held.update(sample_s_after_last_setup=12.0, transactions_linger_at_sample=True)
    assert "12.0 s after the last set-up, finished transactions still lingering" in bench.summary(result)
    held["transactions_linger_at_sample"] = None
    assert "lingering unknown" in bench.summary(result)


def test_proc_sampling_of_this_process() -> None:
    import os

    rss = bench.read_rss_kib(os.getpid())
    assert rss is not None and rss > 1000
    assert bench.read_cpu_seconds(os.getpid()) > 0
    sampler = bench.Sampler(os.getpid(), 0.01).start()
    sum(range(300_000))
    sampler.stop()
    assert sampler.summary()["samples"] >= 1 and sampler.cpu_percent is not None


@pytest.mark.parametrize(("args", "message"), [
    (["--start-rate", "50", "--max-rate", "10"], "--start-rate 50 is above --max-rate 10"),
    (["--step-seconds", "0"], "must be positive"),
    (["--directions", "serve,proxy"], "unknown direction(s) proxy"),
    (["--concurrent", "5000", "--hold-ms", "1000"], "--hold-ms 1000 is shorter than the ramp"),
    (["--no-rate-search"], "nothing to measure"),
])
def test_bad_options_get_one_clear_error(args: list[str], message: str) -> None:
    done = run_tool(*args, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


# ---------------------------------------------------------------- a real run, tiny counts


def test_tiny_run_json_and_summary(tmp_path: Path) -> None:
    require_tool("sipp")
    out = tmp_path / "bench.json"
    done = run_tool("--out", str(out), "--step-seconds", "0.5", "--start-rate", "20",
                    "--max-rate", "20", "--concurrent", "10", "--hold-ms", "2200",
                    "--soak", "1", "--soak-rate", "10", "--sample-interval", "0.1")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench_calls: sipp uas 20 calls/s; ")
    assert "serve 20 calls/s (x1.0 vs sipp)" in lines[0]
    assert "call 20 calls/s (x1.0 vs sipp)" in lines[0]
    assert "10 held: serve " in lines[0] and "soak 1.0 s at 10/s" in lines[0]
    result = json.loads(out.read_text())
    rates = result["rates"]
    for name in ("reference", "serve", "call"):
        (step,) = rates[name]["steps"]
        assert step["rate"] == 20 and step["offered"] == 10
        assert step["completed"] == 10 and step["failed"] == 0 and step["sustained"]
        assert 0.3 < step["elapsed_s"] < 2.0
        assert step["subject"]["samples"] >= 1 and step["subject"]["rss_kib_max"] > 1000
        assert rates[name]["max_sustained_cps"] == 20
        assert step["subject"]["cpu_percent"] is not None
    # sipp's UAS saw every call sipflow call placed (it exits by itself after -m calls)
    assert rates["call"]["steps"][0]["subject"]["uas_successful"] == 10
    assert rates["serve"]["ratio_vs_reference"] == rates["call"]["ratio_vs_reference"] == 1.0
    # sipflow is a Python process, sipp a C one: the subjects really are different processes
    assert rates["serve"]["steps"][0]["subject"]["rss_kib_max"] > \
        rates["reference"]["steps"][0]["subject"]["rss_kib_max"]
    conc = result["concurrent"]
    for name in ("serve", "reference"):
        held = conc[name]
        assert held["calls"] == 10 and held["successful"] == 10 and held["failed"] == 0
        assert held["calls_up_peak"] == 10
        assert held["rss_kib_idle"] > 0 and held["rss_kib_held"] >= held["rss_kib_idle"]
        assert held["bytes_per_call"] == round((held["rss_kib_held"] - held["rss_kib_idle"]) * 1024 / 10)
        # the calls were up 2.2 s: their INVITE transactions (32 s) still lingered at the sample
        assert 0 <= held["sample_s_after_last_setup"] < 3
        assert held["transactions_linger_at_sample"] is True
        assert held["rss_kib_held_first"] >= held["rss_kib_idle"]
    assert "finished transactions still lingering" in lines[0]
    soak = result["soak"]
    assert soak["rate"] == 10 and soak["completed"] == 10 and soak["failed"] == 0
    assert soak["rss_kib_end"] > 1000
    assert list(soak["rss_kib_every_10s"]) == [f"{0.1 * k:g}" for k in range(1, 11)]
    assert soak["rss_growth_kib_per_10k_calls"] == bench.growth_per_10k(
        soak["rss_kib_after_warmup"], soak["rss_kib_end"], 10, 1.0 - soak["warmup_s"])
    assert "KiB per 10k calls after" in lines[0]


def test_serve_arg_reaches_every_serve_started(tmp_path: Path, monkeypatch) -> None:
    started: list[list[str]] = []

    class FakeServe:
        def __init__(self, args: list[str], workdir: Path) -> None:
            started.append(args)

        def start(self) -> FakeServe:
            return self

    monkeypatch.setattr(bench, "ServeProcess", FakeServe)
    monkeypatch.setattr(bench, "SERVE_ARGS", ["--overload-lag-ms=0"])
    bench.start_serve(tmp_path)
    assert started == [["--listen", "udp:127.0.0.1:0", "--overload-lag-ms=0"]]
