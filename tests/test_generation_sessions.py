"""The worker's session histories against a real NATS: loaded once, then kept current by the feed."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from events import codec
from events.schema import GenerationCompleted, MessageSubmitted
from services import bus
from services.generation import context
from services.generation import sessions as sessions_module
from services.generation.cancels import Cancel
from services.generation.sessions import Sessions
from tests.support.generation import USER, new_session, send


async def completed(js, sid: str, answer_id: str, content: str) -> None:
    event = codec.make(
        GenerationCompleted,
        session_id=sid,
        user_id=USER,
        message_id=answer_id,
        content=content,
        llm_provider="local",
        llm_model="m",
    )
    await bus.publish(js, event)


async def submitted(js, sid: str, text: str) -> int:
    event = codec.make(MessageSubmitted, session_id=sid, user_id=USER, message_id=codec.new_id(), content=text)
    return (await bus.publish(js, event)).seq


async def test_a_session_is_loaded_once_then_followed(js):
    sid = await new_session(js)  # created before the worker started: loaded at first sight
    cache = await Sessions(js).start()
    try:
        _, aid = await send(js, sid, "first")
        first = await cache.history(sid, at_least=0)
        assert [c for _, c in first.user_messages] == ["first"] and cache.loads == 1
        await completed(js, sid, aid, "an answer")
        seq = await submitted(js, sid, "second")
        later = await cache.history(sid, at_least=seq)
        assert [c for _, c in later.user_messages] == ["first", "second"]
        assert later.answers[aid].content == "an answer" and later.last_seq == seq
        assert cache.loads == 1  # the feed kept it current: no second load
    finally:
        await cache.stop()


async def test_events_stored_while_a_session_loads_are_not_lost(js, monkeypatch):
    sid = await new_session(js)
    await submitted(js, sid, "early")
    cache = await Sessions(js).start()
    real_load = context.load
    late: list[int] = []

    async def load_then_more_arrive(js_, sid_):
        events = await real_load(js_, sid_)
        late.extend([await submitted(js, sid_, f"late{i}") for i in range(3)])
        assert await cache._reach(late[-1])  # the feed delivers them before the load returns
        return events

    monkeypatch.setattr(context, "load", load_then_more_arrive)
    try:
        history = await cache.history(sid, at_least=0)
        assert [c for _, c in history.user_messages] == ["early", "late0", "late1", "late2"]
        assert history.last_seq == late[-1] and cache.loads == 1
    finally:
        await cache.stop()


async def test_a_feed_that_lags_falls_back_to_a_direct_read(js, monkeypatch):
    monkeypatch.setattr(sessions_module, "FEED_WAIT_S", 0.2)
    sid = await new_session(js)
    cache = await Sessions(js).start()
    await cache.history(sid, at_least=0)
    await cache.stop()  # the feed stops: the copy goes stale
    cache._sub = object()  # ...while the cache believes it runs
    seq = await submitted(js, sid, "after")
    history = await cache.history(sid, at_least=seq)
    assert [c for _, c in history.user_messages] == ["after"] and cache.loads == 2


async def test_a_cache_that_was_not_started_reads_directly(js):
    cache = Sessions(js)
    sid = await new_session(js)
    seq = await submitted(js, sid, "hi")
    assert (await cache.history(sid, at_least=seq)).last_seq == seq
    assert (await cache.history(sid, at_least=seq)).last_seq == seq


async def test_an_answer_reads_its_history_once_the_earlier_answers_ended(js):
    cache = await Sessions(js).start()
    try:
        sid = await new_session(js)
        _, first = await send(js, sid, "first")
        _, second = await send(js, sid, "second")
        seq = await submitted(js, sid, "third")
        lent = []

        @asynccontextmanager
        async def idle():
            lent.append(True)
            yield

        reading = asyncio.create_task(cache.settled(sid, seq, second, Cancel(), limit_s=10, idle=idle))
        await asyncio.sleep(0.3)
        assert not reading.done() and lent == [True]  # the first answer is still to come; the slot is lent
        await completed(js, sid, first, "one")
        history = await asyncio.wait_for(reading, 2)
        assert history.answers[first].content == "one"
        # the first answer itself waits for nothing; a cancel ends a wait at once
        assert (await cache.settled(sid, seq, first, Cancel(), limit_s=10)).last_seq >= seq
        cancel = Cancel()
        _, third = await send(js, sid, "fourth")  # after the second, still unfinished
        waiting = asyncio.create_task(cache.settled(sid, await submitted(js, sid, "x"), third, cancel, limit_s=10))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        cancel.fire()
        await asyncio.wait_for(waiting, 1)
    finally:
        await cache.stop()


async def test_an_old_prompt_is_answered_from_a_full_load_when_the_cache_compacted_it(js, monkeypatch):
    # A redelivery after a restore can name a prompt the cached copy no longer holds.
    monkeypatch.setattr(context, "CONTEXT_USER_MESSAGES", 2)
    sid = await new_session(js)
    cache = await Sessions(js).start()
    try:
        _, first_answer = await send(js, sid, "first")
        for i in range(5):
            await send(js, sid, f"later {i}")
        last_seq = await submitted(js, sid, "the newest")
        loaded = await cache.history(sid, at_least=last_seq)  # first sight: the load itself is whole
        assert not loaded.compacted and first_answer in loaded.answers and cache.loads == 1
        cached = await cache.history(sid, at_least=last_seq)  # then the copy kept, compacted
        assert cached.compacted and first_answer not in cached.answers and cache.loads == 1
        loads = cache.loads
        full = await cache.history(sid, at_least=last_seq, answer_id=first_answer)
        assert not full.compacted and first_answer in full.answers and cache.loads == loads + 1
    finally:
        await cache.stop()


async def test_a_session_created_while_the_feed_runs_is_followed_from_its_start_never_loaded(js):
    cache = await Sessions(js).start()
    try:
        sid = await new_session(js, system_prompt="be brief")
        _, first = await send(js, sid, "first")
        await completed(js, sid, first, "one")
        _, second = await send(js, sid, "second")
        seq = await submitted(js, sid, "third")
        followed = await cache.history(sid, at_least=seq)
        assert cache.loads == 0
        # the same history a full load folds
        assert followed == context.fold(sid, await context.load(js, sid))
        assert followed.settings.system_prompt == "be brief" and followed.answers[first].content == "one"
        assert followed.answer_order == (first, second)
    finally:
        await cache.stop()


async def test_the_copies_are_bounded_and_a_session_being_loaded_is_kept(js):
    sid = await new_session(js)  # older than the cache: loaded
    cache = await Sessions(js, capacity=3).start()
    try:
        loading = sessions_module._Loading()
        cache._known["being-loaded"] = loading
        created = [await new_session(js) for _ in range(4)]
        assert await cache._reach(await submitted(js, created[-1], "x"))
        await cache.history(sid, at_least=0)
        assert cache.loads == 1
        assert "being-loaded" in cache._known and len(cache._known) == 3
        assert sid in cache._known and created[-1] in cache._known  # the newest are kept
    finally:
        await cache.stop()
