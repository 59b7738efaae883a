"""The JetStream pull reader (projections, generation) against a real nats-server: a fetch takes
what is there without waiting for a full batch, waits for new events when there are none, keeps
what arrives after it gave up, and delivers every event once, in order, with consumer sequences
that have no gap."""

from __future__ import annotations

import asyncio

import pytest
from nats.js import api

from events import codec
from events.schema import MessageSubmitted
from events.streams import CHAT_STREAM
from services import bus
from services.bus import sequences as read_sequences
from services.errors import PullError
from services.pull import Pull

DURABLE = "pull-test"


async def publish(js, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        event = codec.make(MessageSubmitted, session_id="s", user_id="u", message_id=f"m{i}", content=f"{i}")
        await bus.publish(js, event)


@pytest.fixture
async def pull(nc, js):
    await js.add_consumer(
        CHAT_STREAM, api.ConsumerConfig(durable_name=DURABLE, ack_policy=api.AckPolicy.ALL, max_ack_pending=1000)
    )
    pulled = await Pull(nc, CHAT_STREAM, DURABLE).start()
    yield pulled
    await pulled.stop()


def sequences(msgs) -> list[tuple[int, int]]:
    """(stream, consumer) sequences as nats-py reads them."""
    return [(m.metadata.sequence.stream, m.metadata.sequence.consumer) for m in msgs]


async def test_a_fetch_takes_what_is_there_without_waiting_for_a_full_batch(js, pull):
    await publish(js, 5)
    # Waiting for a full batch would take the whole minute: the guard would fail the test.
    msgs = await asyncio.wait_for(pull.fetch(100, 60.0), 20.0)
    assert sequences(msgs) == [(i, i) for i in range(1, 6)]
    assert [read_sequences(m) for m in msgs] == sequences(msgs)  # read from the ack subject, as nats-py does
    assert [codec.decode(m.data, m.subject).content for m in msgs] == ["0", "1", "2", "3", "4"]


async def test_a_batch_is_at_most_the_size_asked_and_the_rest_follows_in_order(js, pull):
    await publish(js, 7)
    first = await pull.fetch(3, 5.0)
    await pull.ask(3)  # the next batch comes in while this one would be applied
    second = await pull.fetch(3, 5.0)
    third = await pull.fetch(3, 5.0)
    assert [len(first), len(second), len(third)] == [3, 3, 1]
    assert sequences(first + second + third) == [(i, i) for i in range(1, 8)]


async def test_with_nothing_there_a_fetch_waits_for_the_next_event_or_gives_up(js, pull):
    assert await pull.fetch(10, 0.2) == []
    later = asyncio.create_task(pull.fetch(10, 30.0))
    await asyncio.sleep(0.1)
    await publish(js, 1)
    assert sequences(await later) == [(1, 1)]


async def test_events_arriving_after_a_fetch_gave_up_are_kept_for_the_next(js, pull):
    assert await pull.fetch(10, 0.05) == []  # its request may still be open on the server
    await publish(js, 3)
    got = []
    while len(got) < 3:
        more = await pull.fetch(10, 5.0)
        assert more, "events were lost"
        got += more
    assert sequences(got) == [(1, 1), (2, 2), (3, 3)]
    await got[-1].ack()  # acking the last acks them all (AckPolicy.ALL)
    await asyncio.sleep(0.1)
    info = await pull.consumer_info()
    assert info.ack_floor.stream_seq == 3 and info.num_ack_pending == 0


async def test_a_deleted_consumer_ends_the_fetch_with_an_error(js, pull):
    waiting = asyncio.create_task(pull.fetch(10, 30.0))
    await asyncio.sleep(0.2)
    await js.delete_consumer(CHAT_STREAM, DURABLE)
    with pytest.raises(PullError):
        await asyncio.wait_for(waiting, 10.0)
