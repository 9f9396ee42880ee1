"""``sipflow.app.stats``: percentiles, the rate meter and the call report."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipflow.app.stats import EXACT_US, CallStats, RateMeter, SetupTimes


def test_nearest_rank_percentiles() -> None:
    times = SetupTimes()
    for us in (1, 2, 3, 4):
        times.add(us / 1e6)
    assert times.percentile(50) == 2e-6
    assert times.percentile(100) == 4e-6
    one = SetupTimes()
    one.add(7e-6)
    assert one.percentile(99) == 7e-6
    times = SetupTimes()
    for us in range(1, 201):
        times.add(us / 1e6)
    assert (times.percentile(50), times.percentile(95), times.percentile(99)) == (
        100e-6, 190e-6, 198e-6)
    assert len(times) == 200
    assert SetupTimes().percentile(50) is None
    with pytest.raises(ValueError):
        times.percentile(0)


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=1),
       st.floats(min_value=0.01, max_value=100))
def test_percentile_is_the_exact_one_rounded_down_to_its_bucket(values: list[float], q: float) -> None:
    times = SetupTimes()
    for v in values:
        times.add(v)
    exact = sorted(values)[max(math.ceil(q / 100 * len(values)), 1) - 1]
    p = times.percentile(q)
    assert p is not None
    assert exact - exact / 1024 - 1e-6 <= p <= exact + 1e-6


def test_memory_is_bounded_by_the_buckets() -> None:
    times = SetupTimes()
    rng = random.Random(5)
    for _ in range(100_000):
        times.add(rng.uniform(0, 1000.0))
    assert len(times) == 100_000
    # 1,024 buckets per power of two above 2.048 ms (about 19 of them up to 1,000 s)
    assert times.buckets() <= EXACT_US + 20 * 1024
    assert times.buckets() < 30_000


def test_rate_meter_window() -> None:
    meter = RateMeter(window=1.0)
    for i in range(50):
        meter.add(10.0 + i * 0.02)  # 50 events over 1 s
    assert meter.rate(10.99) == 50
    assert meter.rate(11.51) == 24  # only the events after 10.51 remain (i = 26 … 49)
    assert meter.rate(20.0) == 0


def test_report_counts_and_line() -> None:
    stats = CallStats(count=4)
    for i in range(4):
        stats.call_started(100.0 + i)
    for setup in (0.001, 0.002, 0.003):
        stats.call_established(setup)
    stats.call_passed()
    stats.call_passed()
    stats.call_failed("486 Busy Here")
    stats.call_failed("timeout")
    stats.ended = 104.0
    assert stats.finished == 4 and not stats.all_passed
    assert stats.summary_line() == "2 passed, 2 failed; setup p50 2.00 ms, p95 3.00 ms, p99 3.00 ms"
    report = stats.as_dict()
    assert report["passed"] == 2 and report["failed"] == 2 and report["established"] == 3
    assert report["setup_ms"] == {"p50": 2.0, "p95": 3.0, "p99": 3.0}
    assert report["failures"] == {"486 Busy Here": 1, "timeout": 1}
    assert report["elapsed_s"] == 4.0 and report["calls_per_s"] == 1.0
    assert stats.failure_lines() == ["1 failed: 486 Busy Here", "1 failed: timeout"]


def test_empty_report() -> None:
    stats = CallStats(count=3)
    assert stats.summary_line() == "0 passed, 0 failed; setup p50 -, p95 -, p99 -"
    assert stats.as_dict()["calls_per_s"] is None
    stats.call_failed("")
    assert stats.failures == {"unknown": 1}


def test_all_passed_needs_every_requested_call() -> None:
    stats = CallStats(count=2)
    stats.call_passed()
    assert not stats.all_passed
    stats.call_passed()
    assert stats.all_passed
