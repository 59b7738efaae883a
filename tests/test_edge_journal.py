"""The edge's writes to the chat stream (services/edge/journal.py) on a real NATS server."""

from __future__ import annotations

import pytest

from events import codec, streams
from events.schema import GenerationRequested, MessageSubmitted, SessionCreated
from services import bus
from services.edge.access import Access
from services.edge.errors import Unavailable
from services.edge.journal import Journal
from services.edge.quota import Quota


def a_send(user: str) -> list:
    created = codec.make(
        SessionCreated, session_id=codec.new_id(), user_id=user, title="t", llm_provider="local", llm_model="m"
    )
    sid, mid = created.session_id, codec.new_id()
    return [
        created,
        codec.make(MessageSubmitted, session_id=sid, user_id=user, message_id=mid, content="hi"),
        codec.make(GenerationRequested, session_id=sid, user_id=user, message_id=codec.new_id(), prompt_message_id=mid),
    ]


async def test_events_are_stored_in_order_and_counted_at_once(nc, js, db):
    quota = Quota(sends_per_minute=1, answers_in_flight=0, sockets_per_user=0)
    journal = Journal(nc, js, Access(db, js), quota)
    events = a_send("alice")
    acks = await journal.publish(events)
    assert [ack.seq for ack in acks] == [acks[0].seq, acks[0].seq + 1, acks[0].seq + 2]
    assert [await journal.stored(ack.seq) for ack in acks] == events
    # The request counts against the sender's limit now, before the bridge echoes it back.
    assert quota.check_send("alice") is not None and quota.check_send("bob") is None
    again = await journal.publish(events[1:])  # a retried send: JetStream keeps the first
    assert [ack.duplicate for ack in again] == [True, True] and [a.seq for a in again] == [a.seq for a in acks[1:]]


async def test_nothing_is_stored_while_nats_is_not_connected(nats, js, db):
    other = await bus.connect(nats.url, "journal-test")
    journal = Journal(other, other.jetstream(), Access(db, js))
    before = (await js.stream_info(streams.CHAT_STREAM)).state.last_seq
    await other.close()
    with pytest.raises(Unavailable, match="nothing was stored"):
        await journal.publish(a_send("alice"))
    assert (await js.stream_info(streams.CHAT_STREAM)).state.last_seq == before
    with pytest.raises(Unavailable, match="cannot read stored event"):
        await journal.stored(before)
