"""bus.Pipeline against a real nats-server: acks come back on the pipeline's own inbox, what is
acked is stored in order, and a publish JetStream refuses fails its future (nats-py's
``publish_async`` never resolved those: the caller waited out its ack timeout)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.js.api import DiscardPolicy, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError

from services import bus


async def own_stream(js, max_msgs: int = -1) -> str:
    """A stream of this test's own (one subject), so its limits touch nothing else."""
    name = f"PIPE{uuid.uuid4().hex[:8]}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.x"], max_msgs=max_msgs, discard=DiscardPolicy.NEW))
    return name


async def stored(js, stream: str) -> list[bytes]:
    last = (await js.stream_info(stream)).state.last_seq
    return [(await js.get_msg(stream, seq)).data for seq in range(1, last + 1)]


async def test_acks_resolve_and_what_is_acked_is_stored_in_order(nc, js):
    stream = await own_stream(js)
    pipeline = bus.Pipeline(nc)
    acks = [await pipeline.publish(f"{stream}.x", str(i).encode()) for i in range(50)]
    assert await asyncio.gather(*acks) == [None] * 50
    assert await stored(js, stream) == [str(i).encode() for i in range(50)]
    assert not pipeline.acks


async def test_a_publish_jetstream_refuses_fails_its_future(nc, js):
    stream = await own_stream(js, max_msgs=1)  # discard new: the second is refused
    pipeline = bus.Pipeline(nc)
    first = await pipeline.publish(f"{stream}.x", b"kept")
    second = await pipeline.publish(f"{stream}.x", b"refused")
    assert await first is None
    with pytest.raises(APIError, match="maximum messages"):
        await second
    assert await stored(js, stream) == [b"kept"]


async def test_a_subject_no_stream_takes_fails_its_future(nc):
    pipeline = bus.Pipeline(nc)
    with pytest.raises(NoStreamResponseError):
        await (await pipeline.publish(f"nostream.{uuid.uuid4().hex}", b"lost"))
