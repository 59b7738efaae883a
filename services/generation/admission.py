"""How many prompts a worker takes off the work queue at once.

One ``fetch`` per round, sized to the prompts waiting and the worker's free answer slots (capped
at ``MAX_BATCH``), instead of one ``fetch(1)`` per slot: under load, a burst of prompts costs one
pull request, not one each. Every fetched message says how many more wait (``num_pending``).
``batch_size`` is the policy, pure. Which fetched prompt starts when, and how many a worker may
hold, is ``fairness.Fairness`` (per user, per session); ``Slots`` is the plain counter it replaced.
"""

from __future__ import annotations

import asyncio

MAX_BATCH = 32  # prompts per pull request at most: a worker that frees many slots still shares
# How long a batch fetch may wait: it asks only for prompts the server said were waiting, so it
# returns at once unless another worker took them first (nats-py then waits to fill the batch).
BURST_WAIT_S = 0.1


def batch_size(free: int, waiting: int, cap: int = MAX_BATCH) -> int:
    """Prompts to ask for with ``free`` slots free when the server said ``waiting`` prompts were
    queued: one when none were (an idle long poll: nats-py holds a batch until it is full, so a
    batched long poll would delay the first prompt), else as many as wait, up to the free slots."""
    if free <= 0:
        return 0
    return max(1, min(free, waiting, cap))


class Slots:
    """Answer slots of one worker: ``take`` before fetching, ``give_back`` what the fetch did not
    fill, ``release`` when an answer ends."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"need at least one slot, got {capacity}")
        self.capacity = capacity
        self.busy = 0
        self._changed = asyncio.Event()
        self._woken = False

    @property
    def free(self) -> int:
        return self.capacity - self.busy

    async def wait_free(self) -> int:
        """Wait until a slot is free (or ``wake`` was called); the number free."""
        while self.free <= 0 and not self._woken:
            self._changed.clear()
            await self._changed.wait()
        return self.free

    def wake(self) -> None:
        """Stopping: waiters return now, free slot or not."""
        self._woken = True
        self._changed.set()

    def take(self, n: int) -> None:
        if n > self.free:
            raise ValueError(f"taking {n} slots with {self.free} free")
        self.busy += n

    def give_back(self, n: int = 1) -> None:
        if not 0 <= n <= self.busy:
            raise ValueError(f"giving back {n} slots with {self.busy} busy")
        self.busy -= n
        if n:
            self._changed.set()

    release = give_back  # an answer ended

    def settle(self, taken: int, got: int) -> None:
        """A fetch that took ``taken`` slots brought ``got`` prompts. More than taken happens when
        a timed-out fetch's prompts arrive late and the next fetch drains them: those run too
        (briefly over capacity) rather than wait out an ack timeout."""
        if got <= taken:
            self.give_back(taken - got)
        else:
            self.busy += got - taken
