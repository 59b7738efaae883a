"""Helpers for the generation tests: write a session's events as the edge would, read them back."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.js import JetStreamContext, api

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import (
    TERMINAL_TYPES,
    ChatEvent,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionSettings,
)
from events.streams import CHAT_STREAM
from services import bus
from services.generation.completions import Delta

USER = "tester"


async def new_session(
    js: JetStreamContext, *, provider: str = "local", model: str = "scripted", **settings: Any
) -> str:
    sid = f"s-{codec.new_id()}"
    await bus.publish(
        js,
        codec.make(
            SessionCreated,
            session_id=sid,
            user_id=USER,
            title="test",
            llm_provider=provider,
            llm_model=model,
            settings=SessionSettings(**settings),
        ),
    )
    return sid


async def send(js: JetStreamContext, sid: str, content: str, **request: Any) -> tuple[str, str]:
    """A user message and its generation request; returns (message id, answer id)."""
    message_id, answer_id = codec.new_id(), codec.new_id()
    await bus.publish(
        js, codec.make(MessageSubmitted, session_id=sid, user_id=USER, message_id=message_id, content=content)
    )
    await bus.publish(
        js,
        codec.make(
            GenerationRequested,
            session_id=sid,
            user_id=USER,
            message_id=answer_id,
            prompt_message_id=message_id,
            **request,
        ),
    )
    return message_id, answer_id


async def cancel(js: JetStreamContext, sid: str, answer_id: str) -> None:
    await bus.publish(js, codec.make(GenerationCancelRequested, session_id=sid, user_id=USER, message_id=answer_id))


async def events_of(js: JetStreamContext, sid: str) -> list[tuple[int, ChatEvent]]:
    """Every stored (decodable) event of a session, chunks included, in stream order."""
    sub = await js.pull_subscribe(
        subjects.session(sid),
        stream=CHAT_STREAM,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, mem_storage=True, inactive_threshold=10.0),
    )
    try:
        remaining = (await sub.consumer_info()).num_pending
        out: list[tuple[int, ChatEvent]] = []
        while remaining > 0:
            for msg in await sub.fetch(min(remaining, 512), timeout=5):
                remaining -= 1
                try:
                    out.append((msg.metadata.sequence.stream, codec.decode(msg.data, msg.subject)))
                except EventDecodeError:  # the poison-prompt test stores garbage on purpose
                    continue
        return out
    finally:
        await sub.unsubscribe()


def of_answer(events: list[tuple[int, ChatEvent]], answer_id: str) -> list[ChatEvent]:
    return [e for _, e in events if getattr(e, "message_id", None) == answer_id and not isinstance(e, MessageSubmitted)]


async def wait_ended(js: JetStreamContext, sid: str, answer_id: str, within_s: float = 20.0) -> list[ChatEvent]:
    """The answer's events once its terminal event is stored."""
    async with asyncio.timeout(within_s):
        while True:
            mine = of_answer(await events_of(js, sid), answer_id)
            if any(isinstance(e, TERMINAL_TYPES) for e in mine):
                return mine
            await asyncio.sleep(0.05)


async def wait_for(js: JetStreamContext, sid: str, predicate, within_s: float = 20.0) -> list[ChatEvent]:
    async with asyncio.timeout(within_s):
        while True:
            events = [e for _, e in await events_of(js, sid)]
            if predicate(events):
                return events
            await asyncio.sleep(0.05)


def chunks(events: list[ChatEvent], attempt: int | None = None) -> list[GenerationChunk]:
    return [e for e in events if isinstance(e, GenerationChunk) and (attempt is None or e.attempt == attempt)]


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def collect(provider: Any, text: str, **params: Any) -> tuple[str, Any]:
    """One provider stream of ``text``: the answer's text and its ``Done``."""
    out, done = [], None
    async for item in provider.stream(user(text), **params):
        if isinstance(item, Delta):
            out.append(item.text)
        else:
            done = item
    return "".join(out), done
