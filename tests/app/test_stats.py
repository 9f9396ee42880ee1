"""``sipflow.app.stats``: percentiles, the rate meter and the call report."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipflow.app.stats import CallStats, RateMeter, percentile


def test_nearest_rank_percentiles() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7], 99) == 7
    values = list(range(1, 201))
    assert percentile(values, 50) == 100
    assert percentile(values, 95) == 190
    assert percentile(values, 99) == 198
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 0)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1),
       st.floats(min_value=0.01, max_value=100))
def test_percentile_is_a_sample_with_enough_below(values: list[float], q: float) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert p in ordered
    at_or_below = sum(1 for v in ordered if v <= p)
    assert at_or_below >= math.ceil(q / 100 * len(ordered))
    assert sum(1 for v in ordered if v < p) < math.ceil(q / 100 * len(ordered))


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
