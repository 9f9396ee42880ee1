"""tools/bench_sip.py: the memory and driver sections measure what they claim (small runs).

Not timings: only relations that must hold whatever the box (slimmed
lingering transactions are smaller than full ones, the driver does not
reschedule its clock callback per message, a held call weighs more while
its INVITE transaction lingers). The sections are called directly, so the
test process is never pinned to a core.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench_sip.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_sip_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def args(**values) -> argparse.Namespace:
    base = {"dialogs": 40, "calls": 60, "call_repeat": 1, "offered_rate": 1500.0}
    base.update(values)
    return argparse.Namespace(**base)


def test_lingering_bytes_slimmed_transactions_are_much_smaller_than_full_ones(bench):
    r = bench.bench_lingering_bytes(args())
    assert r["transactions_per_call"] == 4.0  # INVITE and BYE, client and server
    slim = r["slimmed"]["bytes_per_lingering_transaction"]
    full = r["reference_full_transaction_objects"]["bytes_per_lingering_transaction"]
    assert 0 < slim < full / 3
    assert "lingering" in bench.summary_lingering_bytes(r)


def test_lingering_bytes_restores_the_layer_after_the_reference_run(bench):
    from sipflow.sip.transaction import TransactionLayer

    original = TransactionLayer._slim
    bench._lingering_run(10, slim=False)
    assert TransactionLayer._slim is original


def test_driver_keeps_one_clock_callback_instead_of_one_per_message(bench):
    r = bench.bench_driver(args())
    assert r["messages_to_uas"] >= 2 * 60  # INVITE and ACK (100 calls held: no BYE yet)
    assert r["clock_call_at_per_message"] < 0.1
    assert r["us_per_call_both_sides"] > 0


def test_held_bytes_a_held_call_weighs_more_while_its_invite_lingers(bench):
    r = bench.bench_held_bytes(args())
    gone = r["bytes_per_held_call_txn_gone"]
    lingering = r["bytes_per_held_call_txn_lingering"]
    assert 0 < gone < lingering
    assert gone <= r["bytes_per_held_call_50k_at_1000_per_s"] <= lingering
