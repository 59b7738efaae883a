"""services.edge.outbox: the bounded per-socket queue."""

from __future__ import annotations

from services.edge.outbox import Item, Outbox


def test_fifo_and_first_seq():
    box = Outbox(4)
    assert box.first_seq() is None and box.pop() is None and len(box) == 0
    assert box.put(Item("typing"))
    assert box.put(Item("a", seq=7))
    assert box.put(Item("b", seq=8))
    assert box.first_seq() == 7 and len(box) == 3
    assert [box.pop().text for _ in range(3)] == ["typing", "a", "b"]
    assert box.pop() is None and len(box) == 0 and box.first_seq() is None
    assert box.put(Item("c", seq=9)) and box.pop().text == "c", "usable again once emptied"


def test_overflow_is_final_and_drops_what_was_queued():
    box = Outbox(2)
    assert box.put(Item("a")) and box.pop().text == "a"
    assert box.put(Item("b")) and box.put(Item("c"))
    assert not box.put(Item("d")), "full"
    assert box.overflowed and len(box) == 0
    assert not box.put(Item("e")), "stays overflowed"
    assert box.pop() is None
