"""One provider (the OpenAI-compatible client) against the scripted server over real HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from events.schema import Usage
from services.embedded import free_port
from services.generation.completions import Delta, Done
from services.generation.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from services.generation.provider import Provider
from services.scripted_llm import ScriptedLLM
from tests.support.generation import collect, user


@pytest.fixture
async def llm():
    async with ScriptedLLM(rate=0) as server:
        yield server


def provider(url: str, **kwargs) -> Provider:
    kwargs.setdefault("retry_base_s", 0.01)
    return Provider("local", url, "scripted", **kwargs)


async def test_streams_tokens_then_done_with_reported_usage(llm):
    p = provider(llm.base_url)
    text, done = await collect(p, "[[tokens:4]]", temperature=0.0, max_tokens=10, top_p=None)
    assert text == "tok0 tok1 tok2 tok3"
    assert done == Done("stop", Usage(prompt_tokens=1, completion_tokens=4, reported=True))
    (record,) = llm.records
    assert record.params["temperature"] == 0.0 and record.params["max_tokens"] == 10 and "top_p" not in record.params
    assert record.params["stream_options"] == {"include_usage": True}
    assert record.model == "scripted"
    await p.aclose()


async def test_the_request_is_json_with_its_conversation_intact(llm):
    p = provider(llm.base_url)
    messages = [
        {"role": "system", "content": "réponds brièvement ✓"},
        {"role": "user", "content": 'quote " backslash \\ tab \t newline \n 日本 [[tokens:2]]'},
    ]
    async for _ in p.stream(messages, temperature=0.5):
        pass
    (record,) = llm.records
    assert record.headers["content-type"] == "application/json"
    assert record.messages == messages and record.params["temperature"] == 0.5 and record.stream is True
    await p.aclose()


async def test_no_usage_reported_gives_none(llm):
    p = provider(llm.base_url)
    _, done = await collect(p, "[[tokens:2]] [[no_usage]]")
    assert done.usage is None
    await p.aclose()


async def test_retries_5xx_and_429_before_the_first_token(llm):
    p = provider(llm.base_url, retries=2)
    text, _ = await collect(p, "[[status:500x2]] [[tokens:2]]")
    assert text == "tok0 tok1"
    assert [r.status for r in llm.records] == [500, 500, 200]
    text, _ = await collect(p, "[[status:429x1]] [[tokens:1]]")
    assert text == "tok0"
    await p.aclose()


@pytest.mark.parametrize(
    ("directive", "error", "attempts"),
    [
        ("[[status:500]]", ProviderUnavailable, 3),
        ("[[status:429]]", RateLimited, 3),
        ("[[status:404]]", ProviderError, 1),
    ],
)
async def test_status_errors_are_typed_and_only_retryable_ones_retried(llm, directive, error, attempts):
    p = provider(llm.base_url, retries=2)
    with pytest.raises(error, match="answered"):
        await collect(p, directive)
    assert len(llm.records) == attempts
    assert p.last_health.last_error is not None
    await p.aclose()


async def test_retry_backs_off(llm):
    p = provider(llm.base_url, retries=2, retry_base_s=0.1)
    await collect(p, "[[status:503x2]] [[tokens:1]]")
    gaps = [b.received_at - a.received_at for a, b in zip(llm.records, llm.records[1:], strict=False)]
    # 0.1 s then 0.2 s nominal, with +-50 % jitter
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095
    await p.aclose()


async def test_mid_stream_error_event_is_not_retried(llm):
    p = provider(llm.base_url, retries=3)
    seen = []
    with pytest.raises(ProviderError, match="mid-stream"):
        async for item in p.stream(user("[[tokens:9]] [[fail_after:3]]")):
            seen.append(item)
    assert [d.text for d in seen] == ["tok0", " tok1", " tok2"]
    assert len(llm.records) == 1
    await p.aclose()


async def test_dropped_connection_after_tokens_is_a_provider_error(llm):
    p = provider(llm.base_url, retries=3)
    with pytest.raises(ProviderError, match="connection failed"):
        await collect(p, "[[tokens:9]] [[drop_after:2]]")
    assert len(llm.records) == 1
    await p.aclose()


async def test_dropped_connection_before_any_token_is_retried(llm):
    p = provider(llm.base_url, retries=1)
    with pytest.raises(ProviderUnavailable):
        await collect(p, "[[drop_after:0]]")
    assert len(llm.records) == 2
    await p.aclose()


async def test_no_token_within_the_request_timeout(llm):
    p = provider(llm.base_url, request_timeout_s=0.3, retries=2)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="next token"):
        await collect(p, "[[hang]]")
    assert time.monotonic() - started < 2
    assert len(llm.records) == 1  # a timeout is not retried: it already waited the whole timeout
    await p.aclose()


async def test_the_request_timeout_is_the_longest_wait_between_tokens_not_the_whole_answer(llm):
    # 10 tokens at 20/s take 0.45 s, past a 0.3 s timeout: each read re-arms it
    p = provider(llm.base_url, request_timeout_s=0.3)
    text, done = await collect(p, "[[tokens:10]] [[rate:20]]")
    assert text.split() == [f"tok{i}" for i in range(10)] and done.finish_reason == "stop"
    # 2 tokens/s: after the first, the 0.5 s gap is a timeout, raised as is (the text is partial)
    started, items = time.monotonic(), []
    with pytest.raises(ProviderTimeout, match="next token"):
        async for item in p.stream(user("[[tokens:5]] [[rate:2]]")):
            items.append(item)
    assert items == [Delta("tok0")] and time.monotonic() - started < 1.5
    await p.aclose()


async def test_connect_error_is_retried_then_unavailable():
    p = provider(f"http://127.0.0.1:{free_port()}/v1", retries=2, connect_timeout_s=0.5)
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        await collect(p, "hi")
    health = await p.health()
    assert health.ok is False and "connection failed" in health.error and health.latency_ms is not None
    await p.aclose()


async def test_closing_the_stream_closes_the_upstream_connection(llm):
    p = provider(llm.base_url)
    stream = p.stream(user("[[tokens:500]] [[rate:100]]"))
    async for item in stream:
        if isinstance(item, Delta) and "tok2" in item.text:
            break
    closed = time.time()
    await stream.aclose()
    record = await asyncio.wait_for(llm.wait_for(lambda r: r.disconnected_at is not None), 2)
    assert record.disconnected_at - closed < 0.25 and record.tokens_sent < 20
    await p.aclose()


async def test_answers_reuse_a_kept_alive_connection_and_a_cut_one_is_closed(llm):
    # Counted where the provider connects: a TCP relay in front of the scripted server.
    accepted = 0

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        reader, writer = await asyncio.open_connection(llm.host, llm.port)
        await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    p = provider(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1")
    try:
        for _ in range(5):
            assert (await collect(p, "[[tokens:3]]"))[0] == "tok0 tok1 tok2"
        assert accepted == 1  # one connection, kept alive from answer to answer
        stream = p.stream(user("[[tokens:500]] [[rate:100]]"))
        async for item in stream:
            if isinstance(item, Delta):
                break
        await stream.aclose()  # cut: its connection is closed, never handed to the next answer
        assert (await collect(p, "[[tokens:2]]"))[0] == "tok0 tok1"
        assert accepted == 2
    finally:
        await p.aclose()
        server.close()


async def test_list_models_and_health(llm):
    p = provider(llm.base_url)
    assert await p.list_models() == ["scripted"]
    health = await p.health()
    assert health.ok is True and health.error is None and health.latency_ms >= 0 and health.checked_at
    llm.script(status=503)
    with pytest.raises(ProviderUnavailable, match="503"):
        await p.list_models()
    health = await p.health()
    assert health.ok is False and "503" in health.error and "503" in health.last_error
    await p.aclose()


async def test_malformed_model_list_is_a_provider_error():
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"models": []})

    p = Provider("local", "http://x/v1", "m", transport=httpx.MockTransport(handler))
    with pytest.raises(ProviderError, match="malformed model list"):
        await p.list_models()
    await p.aclose()


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_streams_apart_from_the_answer(llm, field):
    # llama.cpp, vLLM and DeepSeek say reasoning_content; OpenRouter says reasoning.
    p = provider(llm.base_url)
    items = [
        item
        async for item in p.stream(
            user(f"[[reasoning:First I think. Then I answer.]] [[reasoning_field:{field}]] [[tokens:3]]")
        )
    ]
    thought = "".join(i.text for i in items if isinstance(i, Delta) and i.reasoning)
    answer = "".join(i.text for i in items if isinstance(i, Delta) and not i.reasoning)
    assert thought == "First I think. Then I answer."
    assert answer == "tok0 tok1 tok2"
    # Reasoning comes first, and is not counted as answer tokens by the server either.
    deltas = [i for i in items if isinstance(i, Delta)]
    assert [d.reasoning for d in deltas] == [True] * 6 + [False] * 3
    assert isinstance(items[-1], Done) and items[-1].usage.completion_tokens == 3
    await p.aclose()


def test_the_proxy_is_the_environments_read_once(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert Provider("a", "https://api.example/v1", "m")._proxy is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert Provider("a", "https://api.example/v1", "m")._proxy == "http://proxy.example:3128"
    assert Provider("b", "http://127.0.0.1:9/v1", "m")._proxy is None
