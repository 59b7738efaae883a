"""bus.Pipeline against a real nats-server: acks come back on the pipeline's own inbox, what is
acked is stored in order, and a publish JetStream refuses fails its future (nats-py's
``publish_async`` never resolved those: the caller waited out its ack timeout). With a window,
the first publish after a quiet window goes out at once, and those close behind it wait for the
next write, in order, unless an urgent one takes them along."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.errors import ConnectionClosedError
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


# Long enough that an ack of a publish sent at once comes well before the window ends, even on a
# loaded machine: the test tells "sent at once" from "held" by which acks came first.
WINDOW_S = 1.0


async def test_publishes_close_behind_a_write_wait_for_the_window_and_keep_their_order(nc, js):
    stream = await own_stream(js)
    pipeline = bus.Pipeline(nc, window_s=WINDOW_S)
    first = await pipeline.publish(f"{stream}.x", b"0")  # after a quiet window: at once
    rest = [await pipeline.publish(f"{stream}.x", str(i).encode()) for i in range(1, 20)]
    assert await first is None
    assert not any(f.done() for f in rest)  # held for the next write
    assert await stored(js, stream) == [b"0"]
    assert await asyncio.gather(*rest) == [None] * 19
    assert await stored(js, stream) == [str(i).encode() for i in range(20)]
    assert not pipeline.acks


async def test_an_urgent_publish_goes_out_at_once_after_what_was_held(nc, js):
    stream = await own_stream(js)
    pipeline = bus.Pipeline(nc, window_s=WINDOW_S)
    first = await pipeline.publish(f"{stream}.x", b"0")
    held = [await pipeline.publish(f"{stream}.x", str(i).encode()) for i in (1, 2)]
    urgent = await pipeline.publish(f"{stream}.x", b"3", urgent=True)
    assert await asyncio.wait_for(asyncio.gather(first, *held, urgent), WINDOW_S / 2) == [None] * 4
    assert await stored(js, stream) == [b"0", b"1", b"2", b"3"]


async def test_held_publishes_fail_their_futures_when_the_connection_closes(nats, js):
    stream = await own_stream(js)
    nc = await bus.connect(nats.url, "pipeline-close")
    pipeline = bus.Pipeline(nc, window_s=0.2)
    assert await (await pipeline.publish(f"{stream}.x", b"sent")) is None
    held = await pipeline.publish(f"{stream}.x", b"held")
    await nc.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(held, 5)
    assert await stored(js, stream) == [b"sent"]
