"""The scripted OpenAI-compatible server, over real HTTP (in-process and as its own process)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from services.embedded import free_port
from services.scripted_llm import Script, ScriptedLLM
from services.scripted_llm.errors import ScriptError
from services.scripted_llm.script import directives, plan, split


def body(text: str, *, stream: bool = True, usage: bool = True, **extra) -> dict:
    payload = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}], **extra}
    if stream and usage:
        payload["stream_options"] = {"include_usage": True}
    return payload


async def sse(client: httpx.AsyncClient, url: str, payload: dict) -> tuple[int, list]:
    """Every ``data:`` payload of one streamed completion (``[DONE]`` kept as a string)."""
    events: list = []
    async with client.stream("POST", f"{url}/v1/chat/completions", json=payload) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, [response.json()]
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                events.append(data if data == "[DONE]" else json.loads(data))
    return 200, events


def content_of(events: list) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content", "") for e in events if isinstance(e, dict) and e.get("choices")
    )


@pytest.fixture
async def llm():
    async with ScriptedLLM() as server:
        yield server


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


# -- pure: directives and plans ---------------------------------------------------------------------


def test_directives_parse_every_kind():
    found = directives(
        "hi [[tokens:5]] [[rate:50]] [[reply:a b\nc]] [[fail_after:2]] [[drop_after:3]] "
        "[[first_token_delay_ms:300]] [[status:500x2]] [[hang]] [[echo]] [[no_usage]]"
    )
    assert found == {
        "tokens": 5,
        "rate": 50.0,
        "reply": "a b\nc",
        "fail_after": 2,
        "drop_after": 3,
        "first_token_delay_ms": 300.0,
        "status": 500,
        "status_times": 2,
        "hang": True,
        "echo": True,
        "usage": False,
    }
    assert directives("[[status:429]]") == {"status": 429, "status_times": None}
    assert directives("no directives here [not one]") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[[tokens:-1]]", "integer >= 0"),
        ("[[tokens:many]]", "integer >= 0"),
        ("[[rate:fast]]", "number >= 0"),
        ("[[status:200]]", "4xx/5xx"),
        ("[[status:500xx]]", "4xx/5xx"),
        ("[[teleport]]", "unknown directive [[teleport]]"),
    ],
)
def test_bad_directives_say_what_is_expected(text, says):
    with pytest.raises(ScriptError, match=r".*" + says.replace("[", r"\[").replace("]", r"\]")):
        directives(text)


@pytest.mark.parametrize("text", ["hello world", "  lead", "trail  ", "a\n\nb c", "", "x"])
def test_split_joins_back_exactly(text):
    assert "".join(split(text)) == text


def test_plan_default_reply_cycle_and_max_tokens():
    assert plan(Script(tokens=3), []) == (["tok0", " tok1", " tok2"], "stop")
    assert plan(Script(reply="a b", tokens=5), [])[0] == ["a", " b", "a", " b", "a"]
    assert plan(Script(), [], max_tokens=2) == (["tok0", " tok1"], "length")
    messages = [{"role": "user", "content": "q"}]
    assert "".join(plan(Script(echo=True), messages)[0]) == json.dumps(messages)


# -- over HTTP --------------------------------------------------------------------------------------


async def test_stream_follows_openai_chunk_format_and_is_recorded(llm, client):
    status, events = await sse(client, llm.url, body("hello [[tokens:5]]"))
    assert status == 200
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])
    assert content_of(events) == "tok0 tok1 tok2 tok3 tok4"
    finish = [e["choices"][0]["finish_reason"] for e in events[:-1] if e["choices"]]
    assert finish[-1] == "stop"
    usage = events[-2]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    (record,) = llm.records
    assert record.outcome == "completed" and record.status == 200 and record.stream
    assert record.messages == [{"role": "user", "content": "hello [[tokens:5]]"}]
    assert record.model == "m" and record.tokens_sent == 5 and len(record.token_times) == 5
    assert record.token_times == sorted(record.token_times)
    assert record.received_at <= record.first_token_at == record.token_times[0] <= record.finished_at
    assert record.disconnected_at is None


async def test_rate_and_first_token_delay_pace_the_tokens(llm, client):
    await sse(client, llm.url, body("[[tokens:6]] [[rate:50]] [[first_token_delay_ms:200]]"))
    (record,) = llm.records
    assert record.first_token_at - record.received_at >= 0.19
    # 6 tokens at 50/s: the last is 5 intervals of 20 ms after the first (the schedule does not drift).
    assert record.token_times[-1] - record.token_times[0] >= 0.095


async def test_reply_and_no_usage(llm, client):
    _, events = await sse(client, llm.url, body("[[reply:Hello there, friend.]] [[no_usage]]"))
    assert content_of(events) == "Hello there, friend."
    assert not any(isinstance(e, dict) and "usage" in e for e in events)


async def test_echo_replies_with_the_conversation_received(llm, client):
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer one"},
        {"role": "user", "content": "second [[echo]]"},
    ]
    _, events = await sse(client, llm.url, {"model": "m", "stream": True, "messages": messages})
    assert json.loads(content_of(events)) == messages


async def test_fail_after_sends_an_error_event_and_ends_without_done(llm, client):
    _, events = await sse(client, llm.url, body("[[tokens:10]] [[fail_after:3]]"))
    assert content_of(events) == "tok0 tok1 tok2"
    assert events[-1]["error"]["message"] == "scripted failure after 3 tokens"
    assert "[DONE]" not in events
    (record,) = llm.records
    assert record.outcome == "failed_mid_stream" and record.tokens_sent == 3


async def test_drop_after_breaks_the_connection(llm, client):
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", f"{llm.url}/v1/chat/completions", json=body("[[drop_after:2]]")) as r:
            async for line in r.aiter_lines():
                received.append(line)
    assert sum('"content": "' in line and "tok" in line for line in received) == 2
    assert llm.records[0].outcome == "dropped"


async def test_status_always_and_status_n_times(llm, client):
    status, (error,) = await sse(client, llm.url, body("[[status:429]]"))
    assert status == 429 and error["error"]["type"] == "rate_limit_error"
    codes = [(await sse(client, llm.url, body("retry me [[status:500x2]]")))[0] for _ in range(3)]
    assert codes == [500, 500, 200]
    # another prompt text has its own count
    assert (await sse(client, llm.url, body("other [[status:500x2]]")))[0] == 500
    assert [r.status for r in llm.records] == [429, 500, 500, 200, 500]


async def test_hang_records_the_client_leaving_at_once(llm, client):
    async with client.stream("POST", f"{llm.url}/v1/chat/completions", json=body("[[hang]]")) as response:
        assert response.status_code == 200
        await asyncio.sleep(0.2)
        closed_at = time.time()
    record = await asyncio.wait_for(llm.wait_for(lambda r: r.disconnected_at is not None), 2)
    assert record.outcome == "hang" and record.tokens_sent == 0
    assert record.disconnected_at - closed_at < 0.25


async def test_client_leaving_mid_stream_stops_the_tokens(llm, client):
    async with client.stream("POST", f"{llm.url}/v1/chat/completions", json=body("[[tokens:200]] [[rate:50]]")) as r:
        async for line in r.aiter_lines():
            if "tok3" in line:
                break
        closed_at = time.time()
    record = await asyncio.wait_for(llm.wait_for(lambda r: r.disconnected_at is not None), 2)
    assert record.outcome == "disconnected"
    assert record.disconnected_at - closed_at < 0.25
    sent = record.tokens_sent
    await asyncio.sleep(0.1)
    assert record.tokens_sent == sent < 10 and record.finished_at is None


async def test_not_streaming_returns_one_completion(llm, client):
    response = await client.post(f"{llm.url}/v1/chat/completions", json=body("[[tokens:3]]", stream=False))
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "tok0 tok1 tok2"
    assert data["usage"]["completion_tokens"] == 3
    response = await client.post(
        f"{llm.url}/v1/chat/completions", json=body("[[fail_after:1]]", stream=False, max_tokens=4)
    )
    assert response.status_code == 500


async def test_max_tokens_cuts_the_reply(llm, client):
    _, events = await sse(client, llm.url, body("[[tokens:10]]", max_tokens=4))
    assert content_of(events) == "tok0 tok1 tok2 tok3"
    assert [e["choices"][0]["finish_reason"] for e in events[:-1] if e["choices"]][-1] == "length"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not json", "not JSON"),
        (b"[]", "non-empty `messages`"),
        (b'{"messages": []}', "non-empty `messages`"),
        (json.dumps(body("[[tokens:x]]")).encode(), "integer >= 0"),
        (json.dumps(body("hi", max_tokens=0)).encode(), "max_tokens"),
    ],
)
async def test_bad_requests_get_400_with_a_reason(llm, client, content, says):
    response = await client.post(f"{llm.url}/v1/chat/completions", content=content)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]
    assert llm.records[-1].outcome == "bad_request"


async def test_script_endpoints_change_and_reset_defaults(llm, client):
    response = await client.post(f"{llm.url}/_script", json={"reply": "fixed words", "model": "other"})
    assert response.json()["reply"] == "fixed words"
    _, events = await sse(client, llm.url, body("hi"))
    assert content_of(events) == "fixed words"
    models = (await client.get(f"{llm.url}/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["other"]
    # a directive still wins over the defaults
    _, events = await sse(client, llm.url, body("[[tokens:1]] [[reply:x]]"))
    assert content_of(events) == "x"
    # a server scripted down is down for model listing too
    await client.post(f"{llm.url}/_script", json={"status": 503})
    assert (await client.get(f"{llm.url}/v1/models")).status_code == 503
    assert (await client.delete(f"{llm.url}/_script")).json()["status"] is None
    _, events = await sse(client, llm.url, body("hi [[tokens:2]]"))
    assert content_of(events) == "tok0 tok1"
    records = (await client.get(f"{llm.url}/_record")).json()
    assert [r["id"] for r in records] == [1, 2, 3]
    assert set(records[0]) >= {
        "id",
        "received_at",
        "messages",
        "model",
        "status",
        "tokens_sent",
        "token_times",
        "first_token_at",
        "finished_at",
        "disconnected_at",
    }
    await client.delete(f"{llm.url}/_record")
    assert (await client.get(f"{llm.url}/_record")).json() == []


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"{", "not JSON"), (b'{"rate": "fast"}', "bad /_script body"), (b'{"warp": 1}', "bad /_script body")],
)
async def test_bad_script_bodies_get_400(llm, client, content, says):
    response = await client.post(f"{llm.url}/_script", content=content)
    assert response.status_code == 400
    assert says in response.json()["error"]["message"]
    assert (await client.get(f"{llm.url}/_script")).json()["rate"] == 200.0  # unchanged


async def test_records_the_attribution_and_auth_headers(llm, client):
    headers = {"Authorization": "Bearer k", "HTTP-Referer": "https://x", "X-Title": "Parley"}
    await client.post(f"{llm.url}/v1/chat/completions", json=body("hi", stream=False), headers=headers)
    assert llm.records[0].headers["authorization"] == "Bearer k"
    assert llm.records[0].headers["x-title"] == "Parley"
    assert llm.records[0].headers["http-referer"] == "https://x"


def test_command_line_server_serves_until_sigterm(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.scripted_llm", "--port", str(port), "--reply", "one two three"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/_health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "scripted server did not come up"
            time.sleep(0.1)
        response = httpx.post(f"{url}/v1/chat/completions", json=body("hi", stream=False), timeout=10)
        assert response.json()["choices"][0]["message"]["content"] == "one two three"
        assert httpx.get(f"{url}/_record").json()[0]["tokens_sent"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)


def test_command_line_rejects_bad_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "services.scripted_llm", "--port", "1", "--tokens", "-3"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--tokens must be >= 0" in result.stderr
