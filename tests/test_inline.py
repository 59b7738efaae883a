"""services.inline: an ordered push consumer's messages handled as nats-py parses them, against
a real NATS."""

from __future__ import annotations

import asyncio

from nats.js import api

from events import subjects
from events.streams import CHAT_STREAM
from services import inline


async def test_messages_are_handled_inline_in_order_and_a_failing_handler_breaks_nothing(nc, js):
    subject = f"{subjects.ROOT}.s1.generation.delta"
    for i in range(3):  # stored before the subscription: queued before the stand-in takes over
        await js.publish(subject, str(i).encode())
    seen: list[int] = []

    def handle(msg) -> None:
        seen.append(int(msg.data))
        if int(msg.data) == 4:
            raise RuntimeError("a bug in the handler")

    async def callback(msg) -> None:
        handle(msg)

    sub = await js.subscribe(
        subjects.ALL,
        stream=CHAT_STREAM,
        cb=callback,
        ordered_consumer=True,
        config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL),
        idle_heartbeat=2.0,
    )
    assert inline.handle_inline(sub._sub, handle), "nats-py's subscription is built as expected"
    assert sub._sub._wait_for_msgs_task is None
    for i in range(3, 8):
        await js.publish(subject, str(i).encode())
    async with asyncio.timeout(5):
        while len(seen) < 8:
            await nc.flush()
    assert seen == list(range(8)), "each once, in stream order; the failure was contained"
    assert sub._sub._pending_size == 0 and sub.pending_msgs == 0
    await sub.unsubscribe()
