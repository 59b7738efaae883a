"""The delta sweeper against a real NATS: deltas older than the retention go, nothing else does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from events import codec, subjects
from events.schema import GenerationChunk, GenerationDelta, MessageSubmitted
from events.streams import CHAT_STREAM
from services import bus
from services.generation.sweeper import Sweeper, interval_for
from tests.support.generation import events_of


def delta(sid: str, index: int) -> GenerationDelta:
    return GenerationDelta(
        session_id=sid, occurred_at=datetime.now(UTC), message_id="a", index=index, token_index=index, delta="x"
    )


async def test_deltas_older_than_the_retention_go_and_everything_else_stays(nc, js):
    old_chunk = codec.make(
        GenerationChunk,
        session_id="s1",
        user_id="u",
        message_id="a0",
        attempt=1,
        index=0,
        token_index=0,
        token_count=1,
        delta="kept",
    )
    await bus.publish(js, old_chunk)
    for i in range(3):
        await bus.publish(js, delta("s1", i))
        await bus.publish(js, delta("s2", i))
    await bus.publish(js, codec.make(MessageSubmitted, session_id="s1", user_id="u", message_id="m", content="hi"))
    await asyncio.sleep(0.05)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await bus.publish(js, delta("s1", 3))

    sweeper = Sweeper(nc, retention_s=0.0)
    assert await sweeper.sweep(now=cut) == 6  # the six deltas stored before the cut
    left = [(type(e).__name__, getattr(e, "index", None)) for _, e in await events_of(js, "s1")]
    assert left == [("GenerationChunk", 0), ("MessageSubmitted", None), ("GenerationDelta", 3)]
    assert await events_of(js, "s2") == []
    assert await sweeper.sweep(now=cut) == 0  # idempotent

    # nothing stored since "now": every delta is older than the retention
    assert await sweeper.sweep() == 1
    info = await js.stream_info(CHAT_STREAM, subjects_filter=subjects.DELTAS)
    assert not info.state.subjects
    assert info.state.messages == 2  # the old chunk and the message: permanent


async def test_a_running_sweeper_removes_deltas_after_the_retention(nc, js):
    sweeper = Sweeper(nc, retention_s=3, interval_s=0.1).start()
    try:
        await bus.publish(js, delta("s1", 0))
        await asyncio.sleep(1)
        assert (await js.stream_info(CHAT_STREAM)).state.messages == 1  # younger than the retention: kept
        for _ in range(100):
            await asyncio.sleep(0.1)
            if (await js.stream_info(CHAT_STREAM)).state.messages == 0:
                break
        assert (await js.stream_info(CHAT_STREAM)).state.messages == 0
    finally:
        await sweeper.stop()


def test_the_sweep_interval_follows_the_retention():
    assert interval_for(3600) == 60 and interval_for(100) == 10 and interval_for(2) == 1
    assert Sweeper(None, retention_s=0).start()._task is None  # 0 keeps deltas: no sweeping
