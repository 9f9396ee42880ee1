"""The UA core's deadline heap: order, lazy cancellation, compaction."""

from __future__ import annotations

from sipflow.sip.deadlines import DeadlineHeap


def test_pop_due_in_deadline_order_and_next_deadline():
    heap = DeadlineHeap()
    assert heap.next_deadline() is None and heap.pop_due(100.0) == []
    c = heap.schedule(3.0, "c", "C")
    a = heap.schedule(1.0, "a", "A")
    b = heap.schedule(2.0, "b", "B")
    same = heap.schedule(2.0, "b2", "B2")  # ties keep insertion order
    assert heap.next_deadline() == 1.0 and len(heap) == 4
    assert [d.target for d in heap.pop_due(2.0)] == ["A", "B", "B2"]
    assert not a.alive and not b.alive and not same.alive
    assert heap.next_deadline() == 3.0
    assert [d.kind for d in heap.pop_due(10.0)] == ["c"] and not c.alive
    assert len(heap) == 0


def test_cancelled_deadlines_never_fire_and_do_not_count():
    heap = DeadlineHeap()
    first = heap.schedule(1.0, "x", object())
    heap.schedule(2.0, "y", "Y")
    first.cancel()
    first.cancel()  # idempotent
    assert first.target is None and len(heap) == 1
    assert heap.next_deadline() == 2.0
    assert [d.target for d in heap.pop_due(5.0)] == ["Y"]
    fired = heap.schedule(6.0, "z", "Z")
    heap.pop_due(6.0)
    fired.cancel()  # cancelling after it fired changes nothing
    assert len(heap) == 0 and heap.next_deadline() is None


def test_many_cancellations_are_compacted_away():
    heap = DeadlineHeap()
    keep = heap.schedule(1_000.0, "keep", "K")
    for i in range(10_000):
        heap.schedule(500.0 + i, "gone", i).cancel()
    assert len(heap) == 1
    assert len(heap._heap) < 200  # cancelled entries do not pile up
    assert [d.target for d in heap.pop_due(2_000.0)] == ["K"] and not keep.alive
