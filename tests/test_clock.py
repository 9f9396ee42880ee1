"""The one clock: VirtualClock runs callbacks in deadline order without sleeping."""

from sipflow.clock import VirtualClock


def test_virtual_clock_runs_in_order_and_cancels():
    clock = VirtualClock()
    fired: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(1.0, lambda: fired.append(("a", clock.now())))
    cancelled = clock.call_at(1.5, lambda: fired.append(("x", clock.now())))
    cancelled.cancel()
    assert clock.advance(1.0) == 1
    assert fired == [("a", 1.0)]
    assert clock.run_until_idle() == 1
    assert fired == [("a", 1.0), ("b", 2.0)]
    assert clock.now() == 2.0
    assert clock.next_deadline() is None


def test_virtual_clock_same_instant_fifo_and_nested_scheduling():
    clock = VirtualClock()
    fired: list[str] = []

    def first() -> None:
        fired.append("first")
        clock.call_at(clock.now(), lambda: fired.append("nested"))

    clock.call_at(5.0, first)
    clock.call_at(5.0, lambda: fired.append("second"))
    clock.advance(180.0)
    assert fired == ["first", "second", "nested"]
    assert clock.now() == 180.0


def test_run_until_idle_limit_stops_periodic_timer():
    clock = VirtualClock()
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        clock.call_later(1.0, tick)

    clock.call_later(1.0, tick)
    clock.run_until_idle(limit=10.0)
    assert count == 10


def test_a_cancelled_virtual_timer_releases_its_callback_at_once() -> None:
    import gc
    import weakref

    class Owner:
        def fire(self) -> None:
            raise AssertionError("a cancelled timer ran")

    clock = VirtualClock()
    owner = Owner()
    timer = clock.call_at(10.0, owner.fire)
    ref = weakref.ref(owner)
    timer.cancel()
    del owner
    gc.collect()
    assert ref() is None
    assert clock.advance(20.0) == 0
