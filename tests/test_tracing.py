"""Each prompt's waterfall as OpenTelemetry spans (services/tracing.py), through the real system:
edge, generation and projections as processes, exporting over OTLP/HTTP to a real receiver."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from events import codec
from events.schema import GenerationChunk, GenerationRequested
from events.streams import CHAT_STREAM
from services import bus, tracing
from services.bench import spans
from services.settings import load
from tests.support.sockets import until, ws_url

API = "/api/v1"


def test_off_without_an_endpoint_and_nothing_is_traced():
    assert tracing.setup(load({}), "test") is False
    prompt = tracing.prompt("s", "m")
    assert prompt.headers is None
    prompt.stored()  # nothing to end
    tracing.taken({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}, None)
    tracing.step("answer.context")  # no trace in this task: nothing happens


async def test_a_prompt_leaves_one_trace_with_every_stage_in_order(make_system, nats):
    async with spans.Receiver() as receiver:
        system = make_system(
            env_extra={"PARLEY_OTEL_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"},
        )
        url = system.edge_urls[0]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            sid = (await client.post(f"{API}/chat/sessions")).json()["id"]
        async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}")) as ws:
            await until(ws, lambda f: f["type"] == "connectionStatus" and f["data"].get("status") == "live")
            await ws.send(json.dumps({"type": "send", "content": "[[tokens:6]] [[rate:100]]"}))
            await until(ws, lambda f: f["type"] == "messageUpdate" and f["data"].get("event") == "completed")
        for _ in range(200):  # the exporters send every 100 ms
            if any("frame.deliver" in row and "chunk.store" in row for row in spans.stages(receiver.spans).values()):
                break
            await asyncio.sleep(0.1)
    rows = spans.stages(receiver.spans)
    assert len(rows) == 1, rows
    named = {s.name: s for s in receiver.spans}
    assert set(named) == set(tracing.STAGES)
    # One span per stage, each beginning where the one before it ended (all clocks are this machine's;
    # the queue span starts at JetStream's own timestamp of the stored prompt).
    for before, after in zip(tracing.STAGES, tracing.STAGES[1:], strict=False):
        assert named[after].start_ns >= named[before].start_ns - 2_000_000, (before, after)
    assert named["prompt.queue"].end_ns <= named["answer.context"].end_ns

    # The context travels on the prompt event only, never on a chunk.
    nc = await bus.connect(nats.url, "test-tracing")
    try:
        js = nc.jetstream()
        state = (await js.stream_info(CHAT_STREAM)).state
        headers_of = {}
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(CHAT_STREAM, seq)
            event = codec.decode(msg.data, msg.subject)
            kind = next((k for k in (GenerationRequested, GenerationChunk) if isinstance(event, k)), type(event))
            headers_of.setdefault(kind, []).append(msg.headers or {})
    finally:
        await nc.close()
    assert all(tracing.TRACEPARENT in h for h in headers_of[GenerationRequested])
    assert headers_of[GenerationChunk] and not any(tracing.TRACEPARENT in h for h in headers_of[GenerationChunk])
