"""Lossless resume and cross-edge delivery with the real generation service streaming answers
(scripted LLM), two edge processes, and reconnects at random points."""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import websockets
from nats.js.errors import NotFoundError

from events.streams import CHAT_STREAM
from tests.support.sockets import until, ws_url

API = "/api/v1"


def assert_exact_cover(chunks: list[dict], total: int) -> None:
    """Chunks cover token indices 0..total-1 exactly once, in order."""
    expected = 0
    for chunk in chunks:
        assert chunk["token_index"] == expected, f"gap or duplicate at token {expected}: got {chunk['token_index']}"
        expected += chunk["token_count"]
    assert expected == total


async def test_resume_at_random_points_of_a_streaming_answer(make_system):
    """20+ reconnects (alternating edges) with after_seq = the highest seq seen, at random points
    while answers stream: every token exactly once, in order, and the text equals the answer."""
    # chunks no bigger under load than when idle (the harness's 5 ms): enough frames to reconnect on
    system = make_system(edges=2, env_extra={"PARLEY_CHUNK_BUDGET_MS": "5"})
    rng = random.Random(5)
    tokens = 300
    reconnects = 0
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        session = (await client.post(f"{API}/chat/sessions")).json()
        sid, last = session["id"], session["last_seq"]
        for round_ in range(2):
            sent = await client.post(
                f"{API}/chat/sessions/{sid}/messages", json={"content": f"r{round_} [[tokens:{tokens}]] [[rate:200]]"}
            )
            answer_id = sent.json()["answer_message_id"]
            chunks: list[dict] = []
            seqs: list[int] = []
            final = None
            while final is None:
                url = system.edge_urls[reconnects % 2]
                reconnects += 1
                async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}?after_seq={last}")) as ws:
                    budget = rng.randint(1, 30)
                    while budget > 0 and final is None:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                        if frame["seq"] is None:
                            continue
                        assert frame["seq"] > last, "a frame at or before after_seq"
                        seqs.append(frame["seq"])
                        last = frame["seq"]
                        budget -= 1
                        if frame["message_id"] != answer_id:
                            continue
                        event = frame["data"].get("event")
                        if event == "token":
                            assert frame["data"]["attempt"] == 1
                            chunks.append(frame["data"])
                        elif event in ("completed", "failed", "cancelled"):
                            final = frame["data"]
            assert final["event"] == "completed", final
            assert_exact_cover(chunks, tokens)
            assert [c["index"] for c in chunks] == list(range(len(chunks)))
            assert "".join(c["delta"] for c in chunks) == final["message"]["content"]
            assert seqs == sorted(set(seqs)), "seqs strictly increasing across reconnects"
    assert reconnects >= 20, reconnects


async def test_page_reload_mid_answer_shows_the_whole_answer(make_system):
    """Reloads at random points: read the messages (the partial answer from the read model, and
    X-Parley-Seq), then resume the socket from that seq. Read text + later tokens == the answer."""
    system = make_system()
    url = system.edge_urls[0]
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions")).json()["id"]
        sent = await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "[[tokens:400]] [[rate:200]]"})
        answer_id = sent.json()["answer_message_id"]

        async def reload(after: float) -> str:
            """What a reloaded page shows in the end; "partial" when it loaded mid-answer."""
            await asyncio.sleep(after)
            page = await client.get(f"{API}/chat/sessions/{sid}/messages")
            seq = int(page.headers["X-Parley-Seq"])
            stored = next((m for m in page.json() if m["id"] == answer_id), None)
            if stored is not None and stored["status"] == "complete":
                return "complete"
            shown = stored["content"] if stored else ""
            partial = "partial" if shown else "empty"
            async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}?after_seq={seq}")) as ws:
                while True:
                    frame = await until(ws, lambda f: f["message_id"] == answer_id and f["type"] == "messageUpdate")
                    if frame["data"]["event"] == "token":
                        shown += frame["data"]["delta"]
                    elif frame["data"]["event"] == "completed":
                        assert shown == frame["data"]["message"]["content"], "read model + resumed tokens = answer"
                        return partial

        outcomes = await asyncio.gather(*(reload(rng.uniform(0.1, 1.8)) for _ in range(10)))
    assert outcomes.count("partial") >= 3, outcomes


async def test_cross_edge_delivery(make_system):
    """A socket on edge B gets the whole answer to a message sent through edge A; an answer
    socket on B follows an answer requested through A a moment before."""
    system = make_system(edges=2)
    a, b = system.edge_urls
    async with httpx.AsyncClient(base_url=a, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions")).json()["id"]
        async with websockets.connect(ws_url(b, f"{API}/chat/websocket/{sid}")) as ws:
            await until(ws, lambda f: f["data"].get("status") == "live")
            sent = (
                await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "[[tokens:30]] [[rate:300]]"})
            ).json()
            user = await until(ws, lambda f: f["type"] == "newMessage")
            assert user["message_id"] == sent["message"]["id"]
            pending = await until(ws, lambda f: f["type"] == "newMessage")
            assert pending["message_id"] == sent["answer_message_id"]
            chunks = []
            while True:
                frame = await until(ws, lambda f: f["type"] == "messageUpdate")
                if frame["data"]["event"] == "token":
                    chunks.append(frame["data"])
                elif frame["data"]["event"] == "completed":
                    break
            assert_exact_cover(chunks, 30)
        sent = (
            await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "[[tokens:20]] [[rate:200]]"})
        ).json()
        answer_id = sent["answer_message_id"]
    async with websockets.connect(ws_url(b, f"{API}/chat/llm-stream/{answer_id}")) as ws:
        first = json.loads(await ws.recv())
        assert first["data"]["status"] == "connected" and first["message_id"] == answer_id
        frames = []
        try:
            async for raw in ws:
                frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code == 1000
    assert frames[0]["type"] == "newMessage" and frames[0]["data"]["status"] == "pending"
    assert {f["message_id"] for f in frames} == {answer_id}
    chunks = [f["data"] for f in frames if f["type"] == "messageUpdate" and f["data"]["event"] == "token"]
    assert_exact_cover(chunks, 20)
    assert frames[-1]["data"]["event"] == "completed"


async def test_a_resume_after_the_deltas_expired_still_gets_the_whole_answer(make_system, js):
    """Across the split: a socket leaves mid-answer, the answer ends and its deltas expire, the
    socket resumes from its last seq. Its terminal frame holds the whole text, which continues
    what the socket showed before."""
    system = make_system(env_extra={"PARLEY_DELTA_RETENTION_S": "1"})
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        session = (await client.post(f"{API}/chat/sessions")).json()
        sid, last = session["id"], session["last_seq"]
        sent = await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "[[tokens:60]] [[rate:60]]"})
        answer_id = sent.json()["answer_message_id"]
        shown = ""
        async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}?after_seq={last}")) as ws:
            while shown.count("tok") < 10:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["seq"] is not None:
                    last = frame["seq"]
                if frame["message_id"] == answer_id and frame["data"].get("event") == "token":
                    shown += frame["data"]["delta"]
        for _ in range(100):  # the answer ends; then the sweeper removes its deltas
            await asyncio.sleep(0.2)
            try:
                await js.get_msg(CHAT_STREAM, subject=f"parley.chat.{sid}.generation.delta", direct=True)
            except NotFoundError:
                break
        else:
            raise AssertionError("the deltas did not expire")
        async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}?after_seq={last}")) as ws:
            final = await until(ws, lambda f: f["message_id"] == answer_id and f["data"].get("event") == "completed")
        content = final["data"]["message"]["content"]
        assert content == " ".join(f"tok{i}" for i in range(60)) and content.startswith(shown)
        stored = (await client.get(f"{API}/chat/sessions/{sid}/messages")).json()
        assert next(m for m in stored if m["id"] == answer_id)["content"] == content
