"""Admission: slots counted across batched fetches; the batch follows the free slots."""

from __future__ import annotations

import asyncio

import pytest

from services.generation import admission
from services.generation.admission import Slots


def test_the_batch_is_what_waits_up_to_the_free_slots_and_the_cap():
    assert admission.batch_size(free=5, waiting=0) == 1  # idle: a long poll for one
    assert admission.batch_size(free=5, waiting=3) == 3
    assert admission.batch_size(free=2, waiting=9) == 2
    assert admission.batch_size(free=500, waiting=500) == admission.MAX_BATCH
    assert admission.batch_size(free=0, waiting=9) == 0


async def test_slots_are_taken_for_a_fetch_and_the_unfilled_part_given_back():
    slots = Slots(4)
    assert await slots.wait_free() == 4
    slots.take(4)
    slots.give_back(4 - 3)  # the fetch brought three prompts
    assert slots.busy == 3 and slots.free == 1
    with pytest.raises(ValueError):
        slots.take(2)


async def test_a_full_worker_waits_until_an_answer_ends():
    slots = Slots(1)
    slots.take(1)
    waiter = asyncio.create_task(slots.wait_free())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slots.release()
    assert await asyncio.wait_for(waiter, 1) == 1


async def test_wake_lets_a_stopping_loop_return_without_a_free_slot():
    slots = Slots(1)
    slots.take(1)
    waiter = asyncio.create_task(slots.wait_free())
    await asyncio.sleep(0.01)
    slots.wake()
    assert await asyncio.wait_for(waiter, 1) == 0


def test_at_least_one_slot():
    with pytest.raises(ValueError):
        Slots(0)


def test_a_fetch_that_brought_more_than_it_took_counts_them_all():
    slots = Slots(2)
    slots.take(1)
    slots.settle(1, 3)  # late prompts of a timed-out fetch, drained by this one
    assert slots.busy == 3 and slots.free == -1
    for _ in range(3):
        slots.release()
    assert slots.free == 2
    with pytest.raises(ValueError):
        slots.release()
