"""Fair scheduling in generation: the pure rules (services.generation.fairness), then a real
worker (in-process, real NATS, the scripted LLM over HTTP) under one user's burst."""

from __future__ import annotations

import pytest

from events import codec
from events.schema import (
    GenerationCancelled,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    GenerationStarted,
    MessageSubmitted,
    SessionCreated,
)
from services import bus
from services.generation.fairness import Fairness, Prompt, share
from services.generation.worker import Worker
from services.scripted_llm import ScriptedLLM
from services.settings import load
from tests.support.generation import events_of, wait_ended

TERMINAL = GenerationCompleted | GenerationFailed | GenerationCancelled


def test_share_is_at_least_one_and_at_most_every_slot():
    assert share(64, 0.5) == 32 and share(1, 0.5) == 1 and share(3, 0.5) == 2 and share(4, 1.0) == 4


def test_a_burst_gets_its_share_and_the_next_user_a_slot():
    fair = Fairness(slots=4, per_user=2, lookahead=6)
    for i in range(6):
        fair.add(f"a{i}", Prompt("alice", f"sa{i}"))
    assert [fair.next(), fair.next(), fair.next()] == ["a0", "a1", None]  # alice's share is 2 of 4
    assert fair.wants_more()  # a slot is free: look further for someone else's prompt
    fair.add("b0", Prompt("bob", "sb"))
    fair.add("c0", Prompt("carol", "sc"))
    assert [fair.next(), fair.next(), fair.next()] == ["b0", "c0", None]
    assert not fair.wants_more()  # every slot busy: leave prompts to other workers
    fair.finish("b0")
    fair.add("b1", Prompt("bob", "sb2"))
    # Fewest running first: bob (0) before alice (2, at her share anyway).
    assert fair.next() == "b1"


def test_a_prompt_of_a_busy_session_holds_no_slot():
    fair = Fairness(slots=2, per_user=2, lookahead=4)
    fair.add("a1", Prompt("alice", "s"))
    fair.add("a2", Prompt("alice", "s"))  # same session: would only wait for a1
    fair.add("b1", Prompt("bob", "t"))
    assert [fair.next(), fair.next()] == ["a1", "b1"]
    fair.finish("a1")
    assert fair.next() == "a2"


def test_a_paused_answer_lends_its_slot_and_gets_one_back_first():
    fair = Fairness(slots=1, per_user=1, lookahead=4)
    fair.add("a1", Prompt("alice", "s"))
    assert fair.next() == "a1"
    fair.pause("a1")  # waits for an answer on another worker
    fair.add("b1", Prompt("bob", "t"))
    fair.add("c1", Prompt("carol", "u"))
    assert fair.next() == "b1"
    assert not fair.resume("a1")  # no slot yet: it asked, so it goes before carol
    fair.finish("b1")
    assert fair.next() is None
    assert fair.resume("a1") and fair.next() is None
    fair.finish("a1")
    assert fair.next() == "c1"


@pytest.fixture
async def llm():
    async with ScriptedLLM(rate=0) as server:
        yield server


@pytest.fixture
async def worker(nats, js, llm, tmp_path):
    started: list[Worker] = []

    async def start(**env: str) -> Worker:
        environ = {"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path), "PARLEY_CHUNK_FLUSH_MS": "5"} | env
        w = Worker(load(environ), nats_url=nats.url, local_base_url=llm.base_url, name="fair")
        started.append(await w.start())
        return w

    yield start
    for w in started:
        await w.stop(grace_s=0.5)


async def session_of(js, user: str) -> str:
    sid = codec.new_id()
    await bus.publish(
        js, codec.make(SessionCreated, session_id=sid, user_id=user, title="t", llm_provider="local", llm_model="m")
    )
    return sid


async def ask(js, sid: str, user: str, content: str) -> str:
    message_id, answer_id = codec.new_id(), codec.new_id()
    await bus.publish(
        js, codec.make(MessageSubmitted, session_id=sid, user_id=user, message_id=message_id, content=content)
    )
    await bus.publish(
        js,
        codec.make(
            GenerationRequested, session_id=sid, user_id=user, message_id=answer_id, prompt_message_id=message_id
        ),
    )
    return answer_id


def started_and_ended(events, answer_id: str) -> tuple[int | None, int | None]:
    start = next((seq for seq, e in events if isinstance(e, GenerationStarted) and e.message_id == answer_id), None)
    end = next((seq for seq, e in events if isinstance(e, TERMINAL) and e.message_id == answer_id), None)
    return start, end


async def test_one_users_burst_leaves_a_slot_for_another_user(js, worker):
    await worker(PARLEY_GENERATION_CONCURRENCY="2", PARLEY_GENERATION_USER_SHARE="0.5")
    slow = "[[tokens:60]] [[rate:30]]"  # about 2 s each
    burst = []
    for _ in range(4):
        sid = await session_of(js, "alice")
        burst.append((sid, await ask(js, sid, "alice", slow)))
    bob_sid = await session_of(js, "bob")
    bob = await ask(js, bob_sid, "bob", "[[tokens:3]]")
    await wait_ended(js, bob_sid, bob)
    first_sid, first = burst[0]
    await wait_ended(js, first_sid, first)
    _, alice_end = started_and_ended(await events_of(js, first_sid), first)
    _, bob_end = started_and_ended(await events_of(js, bob_sid), bob)
    # Stream sequences order the two: bob's answer ended while alice's first still streamed
    # (without the share, alice's first two answers would take both slots until one ended).
    assert bob_end is not None and alice_end is not None and bob_end < alice_end
    # And alice never ran two at once in this worker.
    spans = []
    for sid, answer in burst:
        await wait_ended(js, sid, answer, within_s=30)
        spans.append(started_and_ended(await events_of(js, sid), answer))
    spans.sort()
    assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1)), spans


async def test_an_answer_waiting_for_its_sessions_earlier_answer_holds_no_slot(js, worker):
    await worker(PARLEY_GENERATION_CONCURRENCY="2", PARLEY_GENERATION_USER_SHARE="1")
    sid = await session_of(js, "alice")
    first = await ask(js, sid, "alice", "[[tokens:60]] [[rate:30]]")
    second = await ask(js, sid, "alice", "[[tokens:60]] [[rate:30]]")  # waits for the first (its context)
    bob_sid = await session_of(js, "bob")
    bob = await ask(js, bob_sid, "bob", "[[tokens:60]] [[rate:30]]")
    await wait_ended(js, sid, second, within_s=30)
    await wait_ended(js, bob_sid, bob)
    events = await events_of(js, sid)
    _, first_end = started_and_ended(events, first)
    second_start, _ = started_and_ended(events, second)
    assert first_end < second_start  # the second answer saw the first one's end
    bob_events = await events_of(js, bob_sid)
    bob_start, _ = started_and_ended(bob_events, bob)
    # Bob's answer started at once, not after alice's first: the second did not sit on the free slot.
    first_ended_at = next(e.occurred_at for seq, e in events if seq == first_end)
    bob_started_at = next(e.occurred_at for seq, e in bob_events if seq == bob_start)
    assert bob_started_at < first_ended_at
