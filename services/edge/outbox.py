"""A socket's bounded send queue. ``put`` never blocks, so the bridge's fan-out never waits on a
slow client; a full queue marks the socket as overflowed and the socket is closed (4008)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Item:
    text: str  # the encoded frame
    seq: int | None = None  # stream sequence of the event behind it; None for typing, pong, errors
    message_id: str = ""
    kind: str = ""  # the frame's type, for metrics
    terminal: bool = False  # the event ends an answer (llm-stream sockets close after it)
    ends_session: bool = False  # session deleted: sockets close with 4410 after it


class Overflow(Exception):
    """The queue overflowed: the client reads too slowly."""


class Outbox:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[Item] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> bool:
        """Queue ``item``; False (and overflowed from then on) when the queue is full."""
        if self.overflowed:
            return False
        if len(self._items) >= self.capacity:
            self.overflowed = True
            self._items.clear()  # nothing more will be sent: free the memory now
            self._ready.set()
            return False
        self._items.append(item)
        self._ready.set()
        return True

    async def get(self) -> Item:
        while not self._items:
            if self.overflowed:
                raise Overflow
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            raise Overflow
        return self._items.popleft()

    def first_seq(self) -> int | None:
        """The sequence of the oldest queued event (the replay can stop just before it)."""
        for item in self._items:
            if item.seq is not None:
                return item.seq
        return None
