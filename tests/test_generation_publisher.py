"""The publisher of an answer's events, against a real nats-server: everything acked is stored
in order, and an event lost with its connection ends the attempt quickly, before any later event
of it is published (a reader would see a hole)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.js.api import DiscardPolicy

from events import codec, subjects
from events.schema import GenerationCompleted, GenerationDelta
from events.streams import CHAT_STREAM
from services.generation.publisher import RECONNECT_GRACE_S, Publisher, PublishError


def delta(sid: str, mid: str, index: int) -> GenerationDelta:
    return GenerationDelta(
        session_id=sid, message_id=mid, index=index, token_index=index, delta=f"{index} ", occurred_at=datetime.now(UTC)
    )


def stopped(pid: int) -> None:
    """Wait until every thread of ``pid`` is stopped: the signal takes a moment to reach a thread
    running on another core, and meanwhile the server could still store (and ack) the next event."""
    for _ in range(1000):
        states = [
            Path(f"/proc/{pid}/task/{t}/stat").read_text().rpartition(")")[2].split()[0]
            for t in os.listdir(f"/proc/{pid}/task")
        ]
        if all(state in "Tt" for state in states):
            return
        time.sleep(0.005)
    raise AssertionError(f"nats-server {pid} did not stop: {states}")


async def stored(js, sid: str) -> list:
    """Every message stored for session ``sid``, in stream order."""
    sub = await js.subscribe(subjects.session(sid), ordered_consumer=True)
    found = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except TimeoutError:
                return found
            found.append(msg)
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


async def stored_indexes(js, sid: str) -> list[int]:
    return [codec.decode(msg.data, msg.subject).index for msg in await stored(js, sid)]


async def test_what_settles_is_stored_in_order(js):
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = Publisher(js)
    for i in range(50):
        await publisher.send(delta(sid, mid, i))
    await publisher.settle()
    assert await stored_indexes(js, sid) == list(range(50))
    assert publisher.sent == 50


async def test_a_chunk_jetstream_refuses_ends_the_attempt_when_it_settles(js):
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = Publisher(js, ack_timeout=30.0)
    await publisher.send(delta(sid, mid, 0))
    await publisher.settle()
    config = (await js.stream_info(CHAT_STREAM)).config
    full = (await js.stream_info(CHAT_STREAM)).state.messages
    await js.update_stream(replace(config, max_msgs=full, discard=DiscardPolicy.NEW))  # full: refuses the next
    await publisher.send(delta(sid, mid, 1))
    with pytest.raises(PublishError, match="refused 1 events"):  # the refusal itself, not the 30 s ack timeout
        await publisher.settle()
    assert await stored_indexes(js, sid) == [0]


def completed(sid: str, mid: str) -> GenerationCompleted:
    return codec.make(
        GenerationCompleted,
        event_id=codec.derived_id("test", mid, "completed"),
        session_id=sid,
        user_id="u",
        message_id=mid,
        content="done",
        llm_provider="local",
        llm_model="m",
    )


async def stored_types(js, sid: str) -> list[str]:
    return [".".join(msg.subject.rsplit(".", 2)[-2:]) for msg in await stored(js, sid)]


async def test_the_terminal_event_is_stored_after_every_chunk_and_waited_for(js):
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = Publisher(js)
    for i in range(20):
        await publisher.send(delta(sid, mid, i))
    await publisher.finish(completed(sid, mid))
    assert not publisher.pending  # acked when finish returns
    assert await stored_types(js, sid) == ["generation.delta"] * 20 + ["generation.completed"]
    assert publisher.sent == 21
    await publisher.finish(completed(sid, mid))  # a republished end (same id) is stored once
    assert await stored_types(js, sid) == ["generation.delta"] * 20 + ["generation.completed"]


async def test_a_terminal_event_jetstream_refuses_fails_at_once(js):
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = Publisher(js, ack_timeout=30.0)
    await publisher.send(delta(sid, mid, 0))
    await publisher.settle()
    config = (await js.stream_info(CHAT_STREAM)).config
    full = (await js.stream_info(CHAT_STREAM)).state.messages
    await js.update_stream(replace(config, max_msgs=full, discard=DiscardPolicy.NEW))  # full: refuses the next
    started = time.monotonic()
    with pytest.raises(PublishError, match="refused 1 events"):
        await publisher.finish(completed(sid, mid))
    assert time.monotonic() - started < 5.0  # the refusal itself, not the 30 s ack timeout
    assert await stored_indexes(js, sid) == [0]


async def test_an_event_lost_with_the_connection_ends_the_attempt_at_once(nats, nc, js):
    server = nats._own()
    sid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = Publisher(js, ack_timeout=30.0)
    await publisher.send(delta(sid, mid, 0))
    await publisher.settle()
    # Frozen: the next event reaches the server's socket but is never stored, nor acked.
    os.kill(server.proc.pid, signal.SIGSTOP)
    await asyncio.to_thread(stopped, server.proc.pid)
    await publisher.send(delta(sid, mid, 1))
    await asyncio.sleep(0.2)  # nats-py writes it to the socket at once
    await asyncio.to_thread(server.kill)  # a crash: nothing it held is stored
    await asyncio.to_thread(server.start)
    for _ in range(100):
        if nc.is_connected and nc.stats["reconnects"] > 0:
            break
        await asyncio.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(PublishError, match="connection was lost"):
        await publisher.send(delta(sid, mid, 2))  # never after the hole: the attempt ends here
    assert time.monotonic() - started < RECONNECT_GRACE_S + 1.0  # not the 30 s ack timeout
    assert await stored_indexes(js, sid) == [0]
