"""A durable JetStream pull consumer read in batches, without nats-py's ``fetch``: the projection
workers, their rebuild and the generation workers read through it.

nats-py's ``fetch`` waits for every message of a batch with its own ``asyncio.wait_for`` (a timer
per message: ~30 µs each, most of a rebuild's time) and drops what arrives after it gave up, so
the next batch cannot be asked for while one is applied. Here the server's messages land in a
list by callback on one private inbox, in the order the consumer delivered them; ``fetch`` takes
from that list, and ``ask`` requests the next batch ahead while the worker applies this one.

At most one pull request is open at a time. ``fetch`` asks with ``no_wait`` first (the server
sends what it has, then a 404), and only when that brought nothing, waits for new messages up
to its timeout (a request with ``expires``, which may go on filling the list after ``fetch``
returned: nothing is dropped, so consumer sequences stay without gaps). A status the worker must
act on (the consumer deleted, no responders) raises ``PullError``: the worker then re-syncs.
"""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from services import inline
from services.errors import PullError

_STATUS = "Status"
_DONE = {"404", "408"}  # no messages (no_wait) / the request expired: the request is over
_GRACE_S = 1.0  # a request not ended this long after it should have was lost (NATS restarted)
_LATE_S = 0.001  # past the deadline, how long a no_wait request's answer may still take


class Pull:
    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self.nc, self.stream, self.durable = nc, stream, durable
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.buffer: list[Msg] = []
        self.open = 0  # messages the open request may still bring (0: no request open)
        self.lingering = False  # the open request waits for new messages (not ``no_wait``)
        self._ends_by = 0.0  # loop time by which the open request has surely ended
        self._link = 0  # the connection's reconnect count when it was sent
        self.error: str | None = None
        self._moved = asyncio.Event()  # set on every arrival and every end of a request
        self._sub = None

    async def start(self) -> Pull:
        sub = await self.nc.subscribe(self.inbox, cb=self._queued, pending_msgs_limit=-1, pending_bytes_limit=-1)
        # Handled as nats-py parses them (a queue, a task wake-up and a coroutine less per message:
        # ~5 % of a rebuild, py-spy): ``_on_msg`` never awaits.
        inline.handle_inline(sub, self._on_msg)
        self._sub = sub
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def consumer_info(self) -> api.ConsumerInfo:
        return await self.nc.jetstream().consumer_info(self.stream, self.durable)

    async def _queued(self, msg: Msg) -> None:
        self._on_msg(msg)  # only until handle_inline takes over (or if it cannot)

    def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get(_STATUS) if msg.headers and not msg.data else None
        if status is None:
            self.buffer.append(msg)
            self.open = max(0, self.open - 1)  # a request that got its batch ends without a status
        elif status in _DONE:
            self.open = 0
        elif status != "100":  # 100: a heartbeat (never asked for here)
            self.open = 0
            self.error = f"{status} {msg.headers.get('Description', '')}".strip()
        if not self.open:
            self.lingering = False
        self._moved.set()

    async def ask(self, batch: int, *, wait_s: float | None = None) -> None:
        """Open a request for ``batch`` messages unless one is open: ``wait_s`` None asks for what
        the server has now, else waits that long for new ones."""
        if self.open:
            return
        request: dict[str, object] = {"batch": batch}
        if wait_s is None:
            request["no_wait"] = True
        else:
            request["expires"] = max(1_000_000, int(wait_s * 1e9))  # nanoseconds, at least 1 ms
        self.open, self.lingering = batch, wait_s is not None
        self._ends_by = asyncio.get_running_loop().time() + (wait_s or 0.0) + _GRACE_S
        self._link = self.nc.stats["reconnects"]
        await self.nc.publish(self.subject, json.dumps(request).encode(), reply=self.inbox)

    def _forget_lost(self) -> None:
        """A request sent before a reconnect, or long overdue, will not be answered: ask anew."""
        if self.open and (
            self.nc.stats["reconnects"] != self._link or asyncio.get_running_loop().time() > self._ends_by
        ):
            self.open, self.lingering = 0, False

    async def _wait(self, seconds: float) -> bool:
        """Until something arrives or a request ends; False after ``seconds``."""
        self._moved.clear()
        try:
            # Not wait_for: in Python 3.11 it can swallow a cancel that comes as the event is set,
            # and a worker told to stop would go on (the process never exits).
            async with asyncio.timeout(seconds):
                await self._moved.wait()
        except TimeoutError:
            return False
        return True

    def _take(self, batch: int) -> list[Msg]:
        taken, self.buffer = self.buffer[:batch], self.buffer[batch:]
        return taken

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        """Up to ``batch`` messages: those the server has now, else the first to come within
        ``wait_s``; [] when none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        self._forget_lost()
        if len(self.buffer) < batch and not self.open:
            await self.ask(batch - len(self.buffer))
        while len(self.buffer) < batch and self.open and not self.lingering and not self.error:
            # what the server has now: its messages, then its 404 (unless the batch is full)
            if not await self._wait(max(_LATE_S, deadline - loop.time())):
                break
        self._raise()
        if self.buffer:
            return self._take(batch)
        while True:  # nothing there: wait for new messages
            left = deadline - loop.time()
            if left <= 0:
                return []
            self._forget_lost()
            if not self.open:
                await self.ask(batch, wait_s=left)
            await self._wait(left)
            self._raise()
            if self.buffer:
                return self._take(batch)

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise PullError(f"pull from consumer {self.durable!r} of {self.stream} ended: {error}")
