"""What the relay of one answer waits on: the provider reader's items, in order, or a tick once
the coalescer's deadline passes.

``asyncio.Queue.get`` under ``asyncio.timeout_at`` did the same, but a deadline that passed
cancelled the waiting task and turned its ``CancelledError`` into a ``TimeoutError``: under load,
where most chunks are cut by their deadline, the timeout's enter, exit and cancellation were about
10 % of a generation worker's CPU (py-spy, 100 streams). Here one future per wait is resolved by
whichever comes first, the reader's ``put`` or the deadline's timer, and nothing raises.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

TICK = object()  # what ``get`` returns when the deadline passed first


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Inbox:
    __slots__ = ("items", "loop", "waiter")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.items: deque[Any] = deque()
        self.waiter: asyncio.Future | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        if self.waiter is not None:
            _wake(self.waiter)

    async def get(self, deadline: float | None = None) -> Any:
        """The next item; ``TICK`` if ``deadline`` (loop time) passes before one comes."""
        if not self.items:
            if deadline is not None and deadline <= self.loop.time():
                return TICK
            waiter = self.waiter = self.loop.create_future()
            timer = None if deadline is None else self.loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            finally:
                self.waiter = None
                if timer is not None:
                    timer.cancel()
            if not self.items:
                return TICK
        return self.items.popleft()
