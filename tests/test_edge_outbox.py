"""services.edge.outbox: the bounded per-socket queue."""

from __future__ import annotations

from services.edge.outbox import Item, Outbox


def test_fifo_and_first_seq():
    box = Outbox(4)
    assert box.first_seq() is None and box.pop() is None and len(box) == 0
    assert box.put(Item(b"typing"))
    assert box.put(Item(b"a", seq=7))
    assert box.put(Item(b"b", seq=8))
    assert box.first_seq() == 7 and len(box) == 3
    assert [box.pop().data for _ in range(3)] == [b"typing", b"a", b"b"]
    assert box.pop() is None and len(box) == 0 and box.first_seq() is None
    assert box.put(Item(b"c", seq=9)) and box.pop().data == b"c", "usable again once emptied"


def test_overflow_is_final_and_drops_what_was_queued():
    box = Outbox(2)
    assert box.put(Item(b"a")) and box.pop().data == b"a"
    assert box.put(Item(b"b")) and box.put(Item(b"c"))
    assert not box.put(Item(b"d")), "full"
    assert box.overflowed and len(box) == 0
    assert not box.put(Item(b"e")), "stays overflowed"
    assert box.pop() is None
