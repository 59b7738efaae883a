"""Publishing events to a real nats-server: several events in one round trip are stored in order,
acked in order (a repeat as a duplicate), and a refused one is raised, not passed over."""

from __future__ import annotations

import uuid

import pytest
from nats.js.errors import APIError

from events import codec, subjects
from events.schema import GenerationRequested, MessageSubmitted
from events.streams import CHAT_STREAM
from services import bus


def send(sid: str, key: str) -> list[MessageSubmitted | GenerationRequested]:
    message_id, answer_id = str(uuid.uuid5(uuid.NAMESPACE_URL, key)), str(uuid.uuid5(uuid.NAMESPACE_DNS, key))
    submitted = codec.make(
        MessageSubmitted,
        event_id=codec.derived_id("message.submitted", sid, key),
        session_id=sid,
        user_id="u",
        message_id=message_id,
        content=f"hello {key}",
    )
    requested = codec.make(
        GenerationRequested,
        event_id=codec.derived_id("generation.requested", sid, key),
        session_id=sid,
        user_id="u",
        message_id=answer_id,
        prompt_message_id=message_id,
    )
    return [submitted, requested]


async def stored(js, sid: str) -> list[tuple[int, str]]:
    sub = await js.subscribe(subjects.session(sid), ordered_consumer=True)
    found = []
    try:
        while True:
            msg = await sub.next_msg(timeout=2.0)
            found.append((msg.metadata.sequence.stream, type(codec.decode(msg.data, msg.subject)).__name__))
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


async def test_events_published_together_are_stored_and_acked_in_order(js):
    sid = str(uuid.uuid4())
    events = [event for key in ("a", "b", "c") for event in send(sid, key)]
    acks = await bus.publish_in_order(js, [(event, None) for event in events])
    assert [ack.seq for ack in acks] == sorted(ack.seq for ack in acks)
    assert not any(ack.duplicate for ack in acks)
    assert await stored(js, sid) == [(ack.seq, type(event).__name__) for ack, event in zip(acks, events, strict=True)]

    again = await bus.publish_in_order(js, [(event, None) for event in events[:2]])  # a retried send
    assert [(ack.seq, ack.duplicate) for ack in again] == [(acks[0].seq, True), (acks[1].seq, True)]


async def test_headers_go_on_their_own_event_only(js):
    sid = str(uuid.uuid4())
    submitted, requested = send(sid, "k")
    await bus.publish_in_order(js, [(submitted, None), (requested, {"traceparent": "00-abc-def-01"})])
    first = await js.get_last_msg(CHAT_STREAM, subjects.for_event(submitted), direct=True)
    second = await js.get_last_msg(CHAT_STREAM, subjects.for_event(requested), direct=True)
    assert "traceparent" not in (first.headers or {})
    assert second.headers["traceparent"] == "00-abc-def-01"
    assert second.headers["Nats-Msg-Id"] == requested.event_id


async def test_a_refused_event_is_raised_even_when_a_later_one_was_stored(js):
    sid = str(uuid.uuid4())
    submitted, requested = send(sid, "k")
    with pytest.raises(APIError, match="expected stream"):
        await bus.publish_in_order(js, [(submitted, {"Nats-Expected-Stream": "elsewhere"}), (requested, None)])
    assert await stored(js, sid) == [(1, "GenerationRequested")]
