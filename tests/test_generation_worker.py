"""Generation workers (in-process) against a real NATS and the scripted LLM server over real HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from events import subjects, tokens
from events.schema import (
    GenerationCancelled,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
)
from events.streams import CHAT_STREAM
from services.generation import config
from services.generation.config import Limits, LlmConfig
from services.generation.consumer import DURABLE
from services.generation.sweeper import Sweeper
from services.generation.worker import Worker
from services.scripted_llm import ScriptedLLM
from services.settings import load
from tests.support.generation import (
    cancel,
    chunks,
    events_of,
    new_session,
    of_answer,
    send,
    wait_ended,
    wait_for,
)


@pytest.fixture
async def llm():
    async with ScriptedLLM(rate=0) as server:
        yield server


@pytest.fixture
async def workers(nats, js, llm, tmp_path):
    """``await start(name, **env)`` runs a worker in this event loop; all are stopped afterwards."""
    running: list[Worker] = []

    async def start(name: str = "w1", local_base_url: str | None = None, **env: str) -> Worker:
        environ = {
            "NATS_URL": nats.url,
            "PARLEY_DATA_DIR": str(tmp_path / "data"),
            "PARLEY_CHUNK_FLUSH_MS": "5",
            "PARLEY_ACK_WAIT_S": "5",
            **env,
        }
        worker = Worker(
            load(environ),
            nats_url=nats.url,
            local_base_url=local_base_url or llm.base_url,
            name=name,
            provider_overrides={"retry_base_s": 0.01},
        )
        running.append(await worker.start())
        return worker

    yield start
    for worker in running:
        await worker.stop(grace_s=0.5)


def ended(events):
    (end,) = [e for e in events if isinstance(e, GenerationCompleted | GenerationFailed | GenerationCancelled)]
    return end


async def test_a_prompt_yields_ordered_chunks_and_one_completed_event(js, workers, llm):
    await workers()
    sid = await new_session(js)
    _, aid = await send(js, sid, "hello [[tokens:40]] [[rate:400]]")
    events = await wait_ended(js, sid, aid)
    types = [type(e) for e in events]
    assert types[0] is GenerationRequested and types[1] is GenerationStarted and types[-1] is GenerationCompleted
    parts = chunks(events)
    assert [c.index for c in parts] == list(range(len(parts)))
    assert [c.token_index for c in parts] == [sum(c.token_count for c in parts[:i]) for i in range(len(parts))]
    done = ended(events)
    assert done.content == "".join(c.delta for c in parts) == "".join(f" tok{i}" for i in range(40)).lstrip()
    assert done.chunk_count == len(parts) and done.attempt == 1
    assert done.llm_provider == "local" and done.llm_model == "scripted"
    assert done.usage.completion_tokens == 40 and done.usage.reported
    assert (
        done.timings.time_to_first_token_ms is not None and done.timings.total_ms >= done.timings.time_to_first_token_ms
    )
    # coalescing: 40 tokens at 400/s with a 5 ms window share chunks
    assert len(parts) < 40
    # the prompt is acked: nothing left pending on the work queue
    info = await js.consumer_info(CHAT_STREAM, DURABLE)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_the_permanent_log_alone_replays_every_token_at_its_time(nc, js, workers, llm):
    """Deltas are short-lived: the terminal event keeps each token's time (within 1 ms of the
    delta that carried it live) and which chunk carried it."""
    # every token its own delta, cut the moment it arrives, however loaded the machine is
    await workers(PARLEY_CHUNK_FLUSH_MS="0", PARLEY_CHUNK_BUDGET_MS="0")
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:30]] [[rate:50]]")
    events = await wait_ended(js, sid, aid)
    live, done = chunks(events), ended(events)
    assert len(live) == 30 and all(type(d) is GenerationDelta for d in live)
    replayed = tokens.decode(done.content, done.tokens)
    assert [t.text for t in replayed] == [d.delta for d in live]
    assert [t.chunk for t in replayed] == [d.index for d in live]
    assert max(abs((t.at - d.occurred_at).total_seconds()) for t, d in zip(replayed, live, strict=True)) <= 0.001
    times = [t.at for t in replayed]
    assert times == sorted(times) and (times[-1] - times[0]).total_seconds() >= 0.5  # 30 tokens at 50/s

    await Sweeper(nc, retention_s=0).sweep()  # the deltas expire
    stored = [e for _, e in await events_of(js, sid)]
    assert not any(isinstance(e, GenerationChunk) for e in stored)
    (kept,) = [e for e in stored if isinstance(e, GenerationCompleted)]
    assert tokens.decode(kept.content, kept.tokens) == replayed


async def test_token_timing_keeps_the_chunks_of_a_coalesced_stream(js, workers, llm):
    await workers()
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:60]] [[rate:1000]]")
    events = await wait_ended(js, sid, aid)
    live, done = chunks(events), ended(events)
    replayed = tokens.decode(done.content, done.tokens)
    assert len(replayed) == 60 and len(live) < 60
    for delta in live:
        carried = [t for t in replayed if t.chunk == delta.index]
        assert len(carried) == delta.token_count and "".join(t.text for t in carried) == delta.delta


async def test_a_burst_of_prompts_is_admitted_up_to_the_free_slots(js, workers, llm):
    await workers(PARLEY_GENERATION_CONCURRENCY="3")
    sids = [await new_session(js) for _ in range(9)]  # a session answers one prompt at a time
    answers = [(sid, (await send(js, sid, "[[tokens:10]] [[rate:40]]"))[1]) for sid in sids]
    for sid, aid in answers:
        assert isinstance(ended(await wait_ended(js, sid, aid, within_s=30)), GenerationCompleted)
    spans = sorted((r.received_at, r.finished_at) for r in llm.records)
    assert len(spans) == 9 and all(end is not None for _, end in spans)
    overlap = max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans)
    assert 2 <= overlap <= 3  # several at once, never more than the slots


async def test_two_workers_share_the_load_and_answer_each_prompt_once(js, workers, llm):
    await workers("w1")
    await workers("w2")
    sessions = [await new_session(js) for _ in range(6)]
    answers = [(sid, (await send(js, sid, "[[tokens:10]] [[rate:40]]"))[1]) for sid in sessions]
    starters = []
    for sid, aid in answers:
        events = await wait_ended(js, sid, aid)
        started = [e for e in events if isinstance(e, GenerationStarted)]
        completed = [e for e in events if isinstance(e, GenerationCompleted)]
        assert len(started) == 1 and len(completed) == 1
        starters.append(started[0].worker_id)
    assert set(starters) == {"w1", "w2"}
    assert len(llm.records) == 6


async def test_cancel_closes_the_upstream_stream_within_250ms_and_keeps_the_partial_text(js, workers, llm):
    await workers()
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:1000]] [[rate:50]]")
    await wait_for(js, sid, lambda evs: len(chunks(of_answer_events(evs, aid))) >= 3)
    await cancel(js, sid, aid)
    cancelled_at = time.time()
    events = await wait_ended(js, sid, aid)
    (record,) = llm.records
    assert record.disconnected_at is not None, "the provider never saw the connection close"
    assert record.disconnected_at - cancelled_at < 0.25
    end = ended(events)
    assert isinstance(end, GenerationCancelled)
    assert end.partial_content and end.partial_content == "".join(c.delta for c in chunks(events))
    assert record.tokens_sent < 1000


def of_answer_events(events, aid):
    return [e for e in events if getattr(e, "message_id", None) == aid]


async def test_a_cancel_before_any_worker_began_calls_no_provider(js, workers, llm):
    sid = await new_session(js)
    _, aid = await send(js, sid, "never mind")
    await cancel(js, sid, aid)
    await workers()
    events = await wait_ended(js, sid, aid)
    end = ended(events)
    assert isinstance(end, GenerationCancelled) and end.partial_content == ""
    assert not any(isinstance(e, GenerationStarted) for e in events)
    assert llm.records == []


async def test_a_provider_answering_500_fails_over_to_the_next(js, workers, llm):
    llm.script(status=500)
    async with ScriptedLLM(rate=0, reply="from the backup") as backup:
        await workers(
            OPENROUTER_API_KEY="sk-test",
            PARLEY_OPENROUTER_BASE_URL=backup.base_url,
            PARLEY_FAILOVER="openrouter",
            PARLEY_PROVIDER_RETRIES="1",
        )
        sid = await new_session(js)
        _, aid = await send(js, sid, "hello")
        events = await wait_ended(js, sid, aid)
        done = ended(events)
        assert isinstance(done, GenerationCompleted)
        assert done.content == "from the backup" and done.llm_provider == "openrouter"
        assert [r.status for r in llm.records] == [500, 500]  # tried, retried once, then failed over
        assert backup.records[0].headers["x-title"] == "Parley"


async def test_all_providers_down_fails_with_every_reason(js, workers, llm):
    llm.script(status=503)
    await workers(PARLEY_FAILOVER="local:other-model", PARLEY_PROVIDER_RETRIES="0")
    sid = await new_session(js)
    _, aid = await send(js, sid, "hello")
    end = ended(await wait_ended(js, sid, aid))
    assert isinstance(end, GenerationFailed) and end.error_kind == "provider_unavailable"
    assert "local:scripted answered 503" in end.error_message and "local:other-model answered 503" in end.error_message
    assert end.partial_content == ""
    assert [r.model for r in llm.records] == ["scripted", "other-model"]


async def test_a_mid_stream_error_keeps_the_partial_text(js, workers, llm):
    await workers(PARLEY_FAILOVER="local:other")
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:20]] [[fail_after:6]] [[rate:200]]")
    events = await wait_ended(js, sid, aid)
    end = ended(events)
    assert isinstance(end, GenerationFailed) and end.error_kind == "provider_error"
    assert end.partial_content == "tok0 tok1 tok2 tok3 tok4 tok5" == "".join(c.delta for c in chunks(events))
    assert len(llm.records) == 1  # after the first token: no silent restart, no failover


async def test_a_quick_second_message_sees_the_first_answer_in_its_context(js, workers, llm):
    await workers()
    sid = await new_session(js, system_prompt="Be brief.")
    _, first = await send(js, sid, "first [[tokens:15]] [[rate:60]]")
    _, second = await send(js, sid, "second [[echo]]")  # sent while the first still streams
    first_done = ended(await wait_ended(js, sid, first))
    second_done = ended(await wait_ended(js, sid, second))
    assert isinstance(second_done, GenerationCompleted)
    import json

    assert json.loads(second_done.content) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first [[tokens:15]] [[rate:60]]"},
        {"role": "assistant", "content": first_done.content},
        {"role": "user", "content": "second [[echo]]"},
    ]


async def test_429_and_5xx_are_retried_before_the_first_token(js, workers, llm):
    await workers(PARLEY_PROVIDER_RETRIES="2")
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[status:429x1]] [[tokens:3]]")
    assert isinstance(ended(await wait_ended(js, sid, aid)), GenerationCompleted)
    _, aid = await send(js, sid, "[[status:502x2]] [[tokens:3]]")
    assert isinstance(ended(await wait_ended(js, sid, aid)), GenerationCompleted)
    _, aid = await send(js, sid, "[[status:429]]")
    end = ended(await wait_ended(js, sid, aid))
    assert isinstance(end, GenerationFailed) and end.error_kind == "rate_limited"
    assert [r.status for r in llm.records] == [429, 200, 502, 502, 200, 429, 429, 429]


async def test_no_token_within_the_request_timeout_fails_as_timeout(js, workers, llm):
    await workers(PARLEY_REQUEST_TIMEOUT_S="0.5")
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[hang]]")
    end = ended(await wait_ended(js, sid, aid))
    assert isinstance(end, GenerationFailed) and end.error_kind == "timeout"


async def test_a_poison_prompt_is_terminated_and_the_queue_moves_on(js, nc, workers, llm):
    await workers()
    sid = await new_session(js)
    ack = await js.publish(subjects.of_type(GenerationRequested, sid), b"this is not an event", stream=CHAT_STREAM)
    _, aid = await send(js, sid, "[[tokens:2]]")
    assert isinstance(ended(await wait_ended(js, sid, aid)), GenerationCompleted)
    info = await js.consumer_info(CHAT_STREAM, DURABLE)
    assert info.ack_floor.stream_seq > ack.seq and info.num_redelivered == 0 and info.num_ack_pending == 0


async def test_session_settings_and_live_limits_reach_the_provider(js, workers, llm):
    await workers()
    sid = await new_session(js, temperature=0.0, top_p=0.5, max_tokens=50)
    _, aid = await send(js, sid, "one")
    await wait_ended(js, sid, aid)
    assert llm.records[0].params == {
        "temperature": 0.0,
        "top_p": 0.5,
        "max_tokens": 50,
        "stream_options": {"include_usage": True},
    }
    # a live config change applies to the next answer, no restart
    await config.put(js, LlmConfig(limits=Limits(max_tokens=3, max_context_messages=1)))
    await asyncio.sleep(0.3)
    _, aid = await send(js, sid, "two")
    done = ended(await wait_ended(js, sid, aid))
    assert llm.records[1].params["max_tokens"] == 3 and done.finish_reason == "length"
    assert llm.records[1].messages == [{"role": "user", "content": "two"}]


async def test_usage_is_counted_when_the_provider_reports_none(js, workers, llm):
    await workers()
    sid = await new_session(js)
    _, aid = await send(js, sid, "count these words [[tokens:7]] [[no_usage]]")
    done = ended(await wait_ended(js, sid, aid))
    assert done.usage.reported is False and done.usage.completion_tokens == 7 and done.usage.prompt_tokens > 0


async def test_a_prompt_without_a_session_fails_as_a_bad_request(js, workers, llm):
    await workers()
    _, aid = await send(js, "no-such-session", "hello")
    end = ended(await wait_ended(js, "no-such-session", aid))
    assert (
        isinstance(end, GenerationFailed) and end.error_kind == "bad_request" and "session.created" in end.error_message
    )
    assert llm.records == []


async def test_an_unconfigured_provider_fails_clearly(js, workers, llm):
    await workers()
    sid = await new_session(js, provider="openrouter", model="x/y")
    _, aid = await send(js, sid, "hello")
    end = ended(await wait_ended(js, sid, aid))
    assert isinstance(end, GenerationFailed) and end.error_kind == "bad_request"
    assert "OPENROUTER_API_KEY" in end.error_message


async def test_a_repeated_request_for_an_ended_answer_is_only_acknowledged(js, workers, llm):
    await workers()
    sid = await new_session(js)
    qid, aid = await send(js, sid, "[[tokens:2]]")
    await wait_ended(js, sid, aid)
    from events import codec
    from services import bus

    again = codec.make(GenerationRequested, session_id=sid, user_id="tester", message_id=aid, prompt_message_id=qid)
    await bus.publish(js, again)
    await asyncio.sleep(0.5)
    info = await js.consumer_info(CHAT_STREAM, DURABLE)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    mine = of_answer(await events_of(js, sid), aid)
    assert sum(isinstance(e, GenerationStarted) for e in mine) == 1 and len(llm.records) == 1


async def test_stopping_a_worker_hands_unfinished_answers_to_another(js, workers, llm):
    first = await workers("w1")
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:60]] [[rate:30]]")
    await wait_for(js, sid, lambda evs: len(chunks(of_answer_events(evs, aid))) >= 2)
    await first.stop(grace_s=0.2)
    await workers("w2")
    events = await wait_ended(js, sid, aid, within_s=30)
    restarted = [e for e in events if isinstance(e, GenerationRestarted)]
    assert len(restarted) == 1 and restarted[0].attempt == 2
    done = ended(events)
    assert isinstance(done, GenerationCompleted) and done.attempt == 2
    assert done.content == "".join(c.delta for c in chunks(events, attempt=2))
    assert [e.worker_id for e in events if isinstance(e, GenerationStarted)] == ["w1", "w2"]
    assert llm.records[0].disconnected_at is not None


async def test_a_prompt_out_of_deliveries_ends_as_failed(js, workers, llm):
    one = {"PARLEY_MAX_DELIVER": "1"}
    w1, w2 = await workers("w1", **one), await workers("w2", **one)
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:100]] [[rate:20]]")
    events = await wait_for(js, sid, lambda evs: len(chunks(of_answer_events(evs, aid))) >= 2)
    (started,) = [e for e in events if isinstance(e, GenerationStarted)]
    await (w1 if started.worker_id == "w1" else w2).stop(grace_s=0.1)  # released, but no delivery left
    events = await wait_ended(js, sid, aid)
    end = ended(events)
    assert (
        isinstance(end, GenerationFailed) and end.error_kind == "internal" and "given up after 1" in end.error_message
    )
    # What streamed is kept by the end (the read model is not delivered the deltas).
    streamed = "".join(c.delta for c in chunks(events))
    assert streamed and end.partial_content == streamed


async def test_the_work_queue_consumer_has_the_configured_limits(js, workers):
    await workers(PARLEY_ACK_WAIT_S="3", PARLEY_MAX_DELIVER="4")
    info = await js.consumer_info(CHAT_STREAM, DURABLE)
    assert info.config.ack_wait == 3 and info.config.max_deliver == 4
    assert info.config.backoff == [3, 6, 12]
    assert info.config.filter_subject == subjects.PROMPTS
