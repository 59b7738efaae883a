"""The embedded local model (llama.cpp + SmolLM2-135M) answering through the events."""

from __future__ import annotations

import pytest

from events.schema import GenerationCompleted
from services.embedded import EmbeddedLlama
from services.generation.llama import MODEL_ALIAS
from services.generation.providers import Provider
from services.generation.worker import Worker
from services.settings import load
from tests.support.generation import chunks, new_session, send, wait_ended


@pytest.fixture(scope="module")
def llama():
    server = EmbeddedLlama(threads=2, ctx=2048, parallel=1).start()
    yield server
    server.stop()


@pytest.mark.slow
async def test_the_embedded_model_streams_a_real_answer_through_the_events(nats, js, llama, tmp_path):
    settings = load({"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path), "PARLEY_CHUNK_FLUSH_MS": "15"})
    assert settings.local_model == MODEL_ALIAS
    async with Worker(settings, nats_url=nats.url, local_base_url=llama.base_url, name="w-llama"):
        sid = await new_session(js, model=settings.local_model, temperature=0.0, max_tokens=48)
        _, aid = await send(js, sid, "What is the capital of France? Answer in one sentence.")
        events = await wait_ended(js, sid, aid, within_s=120)
    done = events[-1]
    assert isinstance(done, GenerationCompleted), done
    assert done.content.strip()
    assert done.content == "".join(c.delta for c in chunks(events))
    assert done.usage.completion_tokens > 0 and done.timings.time_to_first_token_ms is not None
    print(
        f"SmolLM2: {done.usage.completion_tokens} tokens ({'reported' if done.usage.reported else 'counted'}) "
        f"in {len(chunks(events))} chunks, ttft {done.timings.time_to_first_token_ms} ms, "
        f"total {done.timings.total_ms} ms: {done.content!r}"
    )


@pytest.mark.slow
async def test_the_embedded_model_lists_itself_and_is_healthy(llama):
    provider = Provider("local", llama.base_url, MODEL_ALIAS)
    try:
        assert MODEL_ALIAS in await provider.list_models()
        health = await provider.health()
        assert health.ok and health.latency_ms is not None
    finally:
        await provider.aclose()


@pytest.mark.slow
async def test_the_embedded_model_reports_its_window_and_counts_tokens(llama):
    """llama.cpp's own /props and /tokenize: what trimming a long conversation relies on."""
    from services.generation.tokenizer import Sizes

    provider = Provider("local", llama.base_url, MODEL_ALIAS)
    sizes = Sizes()
    try:
        window = await sizes.window(provider, MODEL_ALIAS)
        assert window is not None and 512 <= window <= 2048, window
        short, longer = await sizes.count(provider, ["Hello", "Hello there, how are you doing today?"])
        assert 0 < short < longer < 20
    finally:
        await provider.aclose()
