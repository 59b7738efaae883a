import asyncio

import pytest

from services.generation.inbox import TICK, Inbox


async def test_items_come_out_in_order_before_any_deadline():
    inbox = Inbox()
    for item in ("a", "b", "c"):
        inbox.put(item)
    past = inbox.loop.time() - 1  # a deadline already passed does not hide what is queued
    assert [await inbox.get(past), await inbox.get(), await inbox.get(past)] == ["a", "b", "c"]
    assert await inbox.get(past) is TICK


async def test_a_deadline_that_passes_first_is_a_tick_and_the_item_still_comes_next():
    inbox = Inbox()
    loop = inbox.loop
    started = loop.time()
    assert await inbox.get(started + 0.02) is TICK
    assert loop.time() - started >= 0.015
    loop.call_later(0.01, inbox.put, "late")
    assert await inbox.get(loop.time() + 5) == "late"


async def test_a_put_wakes_a_wait_without_deadline_and_before_it():
    inbox = Inbox()
    loop = inbox.loop
    loop.call_later(0.01, inbox.put, "x")
    assert await inbox.get() == "x"
    loop.call_later(0.01, inbox.put, "y")
    started = loop.time()
    assert await inbox.get(started + 5) == "y"
    assert loop.time() - started < 1  # woken by the put, not the deadline


async def test_a_cancelled_wait_leaves_no_waiter_and_loses_nothing():
    inbox = Inbox()
    waiting = asyncio.create_task(inbox.get(inbox.loop.time() + 5))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert inbox.waiter is None
    inbox.put("kept")
    assert await inbox.get() == "kept"
