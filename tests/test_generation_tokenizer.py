"""Context windows and token counts from a provider, against the scripted server over real HTTP."""

from __future__ import annotations

import httpx

from services.generation import tokenizer
from services.generation.providers import Provider
from services.generation.tokenizer import Sizes, window_of
from services.scripted_llm import ScriptedLLM


def test_window_of_reads_the_listing_fields_providers_use():
    listing = [
        {"id": "a", "context_length": 8192},
        {"id": "b", "max_model_len": 32768},
        {"id": "c", "top_provider": {"context_length": 1000}},
        {"id": "d"},
        {"id": "e", "context_length": True},
        "junk",
    ]
    assert [window_of(listing, m) for m in "abcdez"] == [8192, 32768, 1000, None, None, None]


async def test_window_and_counts_from_the_provider():
    async with ScriptedLLM(rate=0) as server:
        async with httpx.AsyncClient() as client:
            await client.post(f"{server.url}/_script", json={"context_window": 300})
        provider = Provider("local", f"{server.url}/v1", "scripted")
        sizes = Sizes()
        try:
            assert await sizes.window(provider, "scripted") == 300
            assert await sizes.window(provider, "other") is None
            assert await sizes.count(provider, ["one two three", "", "four"]) == [3, 0, 1]

            long = [{"role": "user", "content": "word " * 100}, {"role": "assistant", "content": "ok " * 100}] * 3
            messages = [{"role": "system", "content": "sys"}, *long, {"role": "user", "content": "last question"}]
            fitted = await tokenizer.fit(sizes, provider, "scripted", messages, max_tokens=50, fallback_window=None)
            # 250 tokens of room: the system prompt, the newest question, and as many turns as fit.
            assert fitted.messages[0]["content"] == "sys" and fitted.messages[-1]["content"] == "last question"
            assert fitted.dropped > 0 and fitted.tokens <= 250
            assert fitted.messages[1]["role"] == "user"

            short = [{"role": "user", "content": "hi"}]
            assert (
                await tokenizer.fit(sizes, provider, "scripted", short, max_tokens=50, fallback_window=None)
            ).dropped == 0
        finally:
            await provider.aclose()


async def test_no_tokenizer_and_no_window_fall_back():
    async with ScriptedLLM(rate=0) as server:
        # A provider without /tokenize (a path that 404s) is estimated; without a window, nothing is trimmed.
        provider = Provider("elsewhere", f"{server.url}/nothing/v1", "scripted")
        sizes = Sizes()
        try:
            assert await sizes.count(provider, ["a b"]) is None
            assert "elsewhere" in sizes._no_tokenizer
            messages = [{"role": "user", "content": "x " * 1000}] * 3
            kept = await tokenizer.fit(sizes, provider, "scripted", messages, max_tokens=None, fallback_window=None)
            assert kept.messages == messages
            trimmed = await tokenizer.fit(sizes, provider, "scripted", messages, max_tokens=None, fallback_window=1000)
            assert trimmed.dropped == 2
        finally:
            await provider.aclose()
