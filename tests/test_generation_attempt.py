"""services.generation.attempt: a provider's stream relayed as chunk events, against a real
nats-server and the scripted LLM over real HTTP (the worker tests cover the whole answer)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from events import tokens
from events.schema import GenerationCancelled, GenerationChunk, GenerationCompleted
from services.generation import answer, policy, providers
from services.generation.answer import Answer
from services.generation.attempt import Attempt
from services.generation.cancels import Cancel
from services.generation.pressure import Pressure
from services.generation.publisher import Publisher
from services.scripted_llm import ScriptedLLM
from services.settings import load
from tests.support.generation import events_of


@pytest.fixture
async def local():
    async with ScriptedLLM(rate=0) as server:
        found = providers.from_settings(load({}), local_base_url=server.base_url)
        yield server, found.get("local")
        await found.aclose()


async def begin(js) -> Attempt:
    state = Answer(str(uuid.uuid4()), "attempt-test", str(uuid.uuid4()))
    attempt = Attempt(state, Publisher(js), Pressure(idle_ms=5, budget_ms=50), max_tokens=4)
    await attempt.start(answer.Start("local", "scripted"))
    return attempt


async def stored(js, attempt: Attempt):
    return [e for _, e in await events_of(js, attempt.state.session_id)]


async def test_a_relayed_stream_is_stored_as_chunks_that_make_the_end_events_content(js, local):
    _, provider = local
    attempt = await begin(js)
    messages = [{"role": "user", "content": "[[tokens:23]]"}]
    ending = await attempt.relay(provider, None, messages, {}, Cancel())
    assert isinstance(ending, policy.Finished) and ending.usage is not None
    await attempt.apply(policy.verdict(attempt.tried(provider, None, ending), messages), terminal=True)
    events = await stored(js, attempt)
    chunks = [e for e in events if isinstance(e, GenerationChunk)]
    (end,) = [e for e in events if isinstance(e, GenerationCompleted)]
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.token_count <= 4 for c in chunks) and sum(c.token_count for c in chunks) == 23
    assert end.content == "".join(c.delta for c in chunks) and end.chunk_count == len(chunks)
    assert len(tokens.decode(end.content, end.tokens)) == 23 == attempt.tokens
    assert end.timings.time_to_first_token_ms is not None


async def test_a_cancel_stops_the_relay_and_closes_the_upstream_at_once(js, local):
    server, provider = local
    attempt = await begin(js)
    cancel = Cancel()
    relay = asyncio.create_task(
        attempt.relay(provider, None, [{"role": "user", "content": "[[tokens:1000]] [[rate:50]]"}], {}, cancel)
    )
    while True:
        await asyncio.sleep(0.01)
        if attempt.state.chunk_count >= 3:
            break
    cancel.fire()
    fired = time.time()
    ending = await relay
    assert isinstance(ending, policy.Stopped)
    (record,) = server.records
    for _ in range(100):  # the server notices the closed connection in its own task
        if record.disconnected_at is not None:
            break
        await asyncio.sleep(0.01)
    assert record.disconnected_at is not None, "the provider never saw the connection close"
    assert record.disconnected_at - fired < 0.25
    await attempt.apply(policy.verdict(attempt.tried(provider, None, ending), []), terminal=True)
    (end,) = [e for e in await stored(js, attempt) if isinstance(e, GenerationCancelled)]
    assert end.partial_content == attempt.state.content != ""
