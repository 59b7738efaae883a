"""A nats-py subscription whose messages are handled as they are parsed, not through its queue.

nats-py hands every message of a subscription with a callback to an ``asyncio.Queue``, and a task
per subscription takes it out and awaits the callback: a future, a task wake-up and a coroutine
for every message. Three subscriptions see one message per token or event and have handlers
that never await: the edge bridge's (every event of the stream), ``bus.Pipeline``'s ack inbox
(every event a process publishes) and ``Pull``'s inbox (every event a projection applies or
a rebuild reads). ``handle_inline`` puts a stand-in for that queue whose ``put_nowait``
calls the handler at once, from the connection's read loop. Everything else stays nats-py's: the ordered
consumer's sequence checks and resets (they keep the same subscription object, so the stand-in
stays), heartbeats and flow control (``delivered`` counts received messages: nothing waits here).

The handler must not raise: an exception would reach nats-py's parser, so it is caught here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services import logs

log = logs.get("inline")


class _Inline:
    """Stands in for a subscription's pending queue (the methods nats-py calls on it)."""

    __slots__ = ("_failed", "_handle", "_sub")

    def __init__(self, sub: Subscription, handle: Callable[[Msg], None], failed: Callable[[], None] | None) -> None:
        self._sub = sub
        self._handle = handle
        self._failed = failed

    def put_nowait(self, msg: Msg) -> None:
        # nats-py added its size to the pending bytes before queueing: nothing stays pending.
        self._sub._pending_size -= len(msg.data)
        try:
            self._handle(msg)
        except Exception:
            if self._failed is not None:
                self._failed()
            log.exception("subscription handler failed", subject=msg.subject)

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    def full(self) -> bool:
        return False

    def task_done(self) -> None:
        pass

    async def join(self) -> None:  # drain(): nothing is ever left to process
        return None

    async def get(self) -> Msg:  # never used once installed (no task reads it)
        return await asyncio.get_running_loop().create_future()


def handle_inline(sub: Subscription, handle: Callable[[Msg], None], failed: Callable[[], None] | None = None) -> bool:
    """From now on ``handle`` each message of ``sub`` (subscribed with a callback) as it arrives;
    ``failed`` is called (beside the log) when ``handle`` raises.
    Messages already queued are handled first, in order; the subscription's task is stopped.
    False (and nothing changed: the callback goes on being called) if nats-py's subscription
    is no longer built the way this expects."""
    queued = getattr(sub, "_pending_queue", None)
    if not isinstance(queued, asyncio.Queue) or not hasattr(sub, "_wait_for_msgs_task"):
        log.warning("nats-py's subscription has changed: messages go through its queue")
        return False
    sub._pending_queue = _Inline(sub, handle, failed)  # type: ignore[assignment]
    task = sub._wait_for_msgs_task
    if task is not None:
        # It holds no message: its handler never awaits, so it is only ever waiting on the queue.
        task.cancel()
        sub._wait_for_msgs_task = None
    while not queued.empty():
        sub._pending_queue.put_nowait(queued.get_nowait())
    return True
