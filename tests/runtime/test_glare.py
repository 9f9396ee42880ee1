"""GlareBackoff (RFC 3261 14.1): the back-off is drawn from the runtime's ``rng``, within the
RFC's ranges and in its 10 ms units, so a seeded run (``sipflow simulate``) is reproducible."""

from __future__ import annotations

import random

from sipflow.clock import VirtualClock
from sipflow.runtime.builtins import glare_delay
from sipflow.runtime.runtime import Runtime
from sipflow.scenario.loader import load_scenario
from sipflow.scenario.runner import run_scenario


def test_owner_waits_2_1_to_4_s_and_the_other_side_0_to_2_s_in_10_ms_units() -> None:
    rng = random.Random(5)
    owner = [glare_delay(rng, True) for _ in range(4000)]
    other = [glare_delay(rng, False) for _ in range(4000)]
    assert min(owner) >= 2.1 and max(owner) <= 4.0
    assert min(other) >= 0.0 and max(other) <= 2.0
    for value in owner + other:
        assert abs(value * 100 - round(value * 100)) < 1e-9  # a whole number of 10 ms
    # the ranges are covered, not one corner of them
    assert min(owner) < 2.2 and max(owner) > 3.9 and min(other) < 0.1 and max(other) > 1.9
    assert len(set(owner)) > 150 and len(set(other)) > 150


def test_the_same_seed_gives_the_same_back_off() -> None:
    first = [glare_delay(random.Random(42), owner) for owner in (True, False)]
    again = [glare_delay(random.Random(42), owner) for owner in (True, False)]
    assert first == again
    many = {tuple(glare_delay(random.Random(seed), True) for _ in range(3)) for seed in range(20)}
    assert len(many) > 1  # the seed matters


def test_runtime_rng_is_injectable_and_fresh_by_default() -> None:
    clock = VirtualClock()
    mine = random.Random(3)
    assert Runtime([], None, clock, rng=mine).rng is mine
    one, two = Runtime([], None, clock).rng, Runtime([], None, clock).rng
    assert isinstance(one, random.Random) and one is not two


def _retry_gaps(seed: int) -> list[float]:
    """The virtual seconds between each 491 and the INVITE its back-off sent, in uac_in_dialog."""
    result = run_scenario(load_scenario("uac_in_dialog"), seed=seed)
    assert result.passed, result.failure
    wires = result.observer.wires()
    gaps = []
    for index, wire in enumerate(wires):
        message = wire.message
        if message is not None and getattr(message, "status", None) == 491:
            retry = next(w for w in wires[index + 1:]
                         if w.message is not None and getattr(w.message, "method", None) == "INVITE")
            gaps.append(retry.record.sent - wire.record.sent)
    return gaps


def test_simulate_is_reproducible_on_glare() -> None:
    gaps = _retry_gaps(0)
    assert len(gaps) == 2  # hold and resume each refused with 491 once
    assert all(2.1 - 0.05 <= gap <= 4.0 + 0.05 for gap in gaps)  # alice owns the Call-ID
    assert _retry_gaps(0) == gaps
    assert any(_retry_gaps(seed) != gaps for seed in (1, 2, 3))
