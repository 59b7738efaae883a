"""services.edge.outbox: the bounded per-socket queue."""

from __future__ import annotations

import asyncio

import pytest

from services.edge.outbox import Item, Outbox, Overflow


async def test_fifo_and_first_seq():
    box = Outbox(4)
    assert box.first_seq() is None
    assert box.put(Item("typing"))
    assert box.put(Item("a", seq=7))
    assert box.put(Item("b", seq=8))
    assert box.first_seq() == 7
    assert [(await box.get()).text for _ in range(3)] == ["typing", "a", "b"]


async def test_get_waits_for_a_put():
    box = Outbox(2)
    waiter = asyncio.create_task(box.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    box.put(Item("x", seq=1))
    assert (await asyncio.wait_for(waiter, 1)).text == "x"


async def test_overflow_is_final_and_wakes_the_reader():
    box = Outbox(2)
    waiter = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert box.put(Item("a")) and (await waiter).text == "a"
    assert box.put(Item("b")) and box.put(Item("c"))
    assert not box.put(Item("d")), "full"
    assert box.overflowed and len(box) == 0
    assert not box.put(Item("e")), "stays overflowed"
    with pytest.raises(Overflow):
        await box.get()
