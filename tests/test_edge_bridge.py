"""The bridge and the session socket against a real NATS and a real `parley edge` process, with
events published straight to JetStream (no generation, no projections needed)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from events import codec
from events.schema import (
    GenerationChunk,
    GenerationCompleted,
    GenerationRequested,
    GenerationStarted,
    MessageSubmitted,
    SessionDeleted,
)
from services import bus
from tests.support.sockets import new_session


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def recv(ws, wait: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), wait))


async def until(ws, predicate, wait: float = 5.0) -> dict:
    """The first frame that satisfies ``predicate``."""
    while True:
        frame = await recv(ws, wait)
        if predicate(frame):
            return frame


async def closed_with(ws, wait: float = 10.0) -> int:
    """Read until the server closes; its close code."""
    n = 0
    try:
        async with asyncio.timeout(wait):
            async for _ in ws:
                n += 1
    except websockets.ConnectionClosed:
        pass
    except TimeoutError:
        raise AssertionError(f"not closed within {wait}s; {n} frames read") from None
    return ws.close_code


async def answer_events(js, sid: str, user: str, tokens: int, *, answer_id: str | None = None) -> tuple[str, list[int]]:
    """A user message, a request and a whole answer of ``tokens`` one-token chunks; their seqs."""
    mid = codec.new_id()
    aid = answer_id or codec.new_id()
    seqs = []
    events = [
        codec.make(MessageSubmitted, session_id=sid, user_id=user, message_id=mid, content="hi"),
        codec.make(GenerationRequested, session_id=sid, user_id=user, message_id=aid, prompt_message_id=mid),
        codec.make(
            GenerationStarted, session_id=sid, user_id=user, message_id=aid, llm_provider="local", llm_model="m"
        ),
    ]
    for i in range(tokens):
        events.append(
            codec.make(
                GenerationChunk,
                session_id=sid,
                user_id=user,
                message_id=aid,
                attempt=1,
                index=i,
                token_index=i,
                token_count=1,
                delta=f"t{i} ",
            )
        )
    events.append(
        codec.make(
            GenerationCompleted,
            session_id=sid,
            user_id=user,
            message_id=aid,
            content="".join(f"t{i} " for i in range(tokens)),
            llm_provider="local",
            llm_model="m",
            created_at=events[1].occurred_at,  # as generation writes it: the request's time and prompt
            reply_to=mid,
        )
    )
    for event in events:
        seqs.append((await bus.publish(js, event)).seq)
    return aid, seqs


async def test_live_and_replay_frames(js, edge_factory):
    url = edge_factory()
    sid, created_seq = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}?after_seq=0")) as ws:
        hello = await recv(ws)
        assert hello["type"] == "connectionStatus" and hello["data"]["status"] == "connected"
        assert hello["data"]["user_id"] == "local" and hello["data"]["last_seq"] == created_seq
        created = await recv(ws)
        assert created["seq"] == created_seq and created["data"]["session"]["id"] == sid
        live = await recv(ws)
        assert live["data"] == {"status": "live", "last_seq": created_seq}
        aid, seqs = await answer_events(js, sid, "local", 5)
        got = [await recv(ws) for _ in seqs]
        assert [f["seq"] for f in got] == seqs
        assert [f["type"] for f in got[:2]] == ["newMessage", "newMessage"]
        assert got[1]["data"]["status"] == "pending" and got[1]["message_id"] == aid
        assert [f["data"]["index"] for f in got[3:8]] == list(range(5))
        final = got[-1]["data"]
        assert final["event"] == "completed" and final["message"]["content"] == "t0 t1 t2 t3 t4 "
        assert final["message"]["reply_to"] == got[0]["message_id"]
    log = edge_factory.processes[0].log.read_text()
    assert sum("auth is off" in line for line in log.splitlines()) == 1, "start-up says so, once"


async def _stream_answer(js, sid: str, aid: str, mid: str, tokens: int, pause: float) -> list[int]:
    """Publish a request and an answer of ``tokens`` chunks, pausing between chunks (a live stream)."""
    seqs = []
    seqs.append(
        (
            await bus.publish(
                js,
                codec.make(GenerationRequested, session_id=sid, user_id="local", message_id=aid, prompt_message_id=mid),
            )
        ).seq
    )
    for i in range(tokens):
        chunk = codec.make(
            GenerationChunk,
            session_id=sid,
            user_id="local",
            message_id=aid,
            attempt=1,
            index=i,
            token_index=i,
            token_count=1,
            delta=f"t{i} ",
        )
        seqs.append((await bus.publish(js, chunk)).seq)
        await asyncio.sleep(pause)
    done = codec.make(
        GenerationCompleted,
        session_id=sid,
        user_id="local",
        message_id=aid,
        content="".join(f"t{i} " for i in range(tokens)),
        llm_provider="local",
        llm_model="m",
        reply_to=mid,
    )
    seqs.append((await bus.publish(js, done)).seq)
    return seqs


@pytest.mark.parametrize("edges", [1, 2])
async def test_resume_at_random_points_loses_and_doubles_nothing(js, edge_factory, edges):
    """Reconnect with after_seq = the last seq seen, at random points, while events are being
    stored: every event arrives exactly once, in order (with two edges, alternating between them)."""
    import random

    rng = random.Random(edges)
    urls = [edge_factory() for _ in range(edges)]
    sid, last = await new_session(js)
    # Another session's events interleave on the stream: they must never show up here.
    other, _ = await new_session(js)
    aid, mid = codec.new_id(), codec.new_id()
    tokens = 400
    publisher = asyncio.create_task(_stream_answer(js, sid, aid, mid, tokens, 0.004))
    noise = asyncio.create_task(answer_events(js, other, "local", 100))
    seen_seqs: list[int] = []
    token_indices: list[int] = []
    completed = None
    reconnects = 0
    while completed is None:
        url = urls[reconnects % edges]
        reconnects += 1
        async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}?after_seq={last}")) as ws:
            budget = rng.randint(1, 40)
            while budget > 0 and completed is None:
                frame = await recv(ws)
                assert frame["session_id"] == sid
                if frame["seq"] is None:
                    continue
                seen_seqs.append(frame["seq"])
                last = frame["seq"]
                budget -= 1
                data = frame["data"]
                if data.get("event") == "token":
                    token_indices.append(data["token_index"])
                elif data.get("event") == "completed":
                    completed = data["message"]
    seqs = await publisher
    await noise
    assert reconnects >= 10
    assert token_indices == list(range(tokens)), "gap or duplicate in token indices"
    assert seen_seqs == seqs, "every stored event of the session exactly once, in order"
    assert completed["content"] == "".join(f"t{i} " for i in range(tokens))


async def test_typing_reaches_the_other_sockets_across_edges_and_is_not_stored(js, edge_factory):
    a, b = edge_factory(), edge_factory()
    sid, seq = await new_session(js)
    path = f"/api/v1/chat/websocket/{sid}"
    async with websockets.connect(ws_url(a, path)) as typer, websockets.connect(ws_url(b, path)) as watcher:
        me = (await recv(typer))["data"]["connection_id"]
        await until(typer, lambda f: f["data"].get("status") == "live")
        await until(watcher, lambda f: f["data"].get("status") == "live")
        await typer.send(json.dumps({"type": "typing", "typing": True}))
        frame = await until(watcher, lambda f: f["type"] == "typing")
        assert frame["data"] == {"user_id": "local", "typing": True, "connection_id": me}
        assert frame["seq"] is None
        # Not echoed to the typist: the next frame it gets is the answer to its ping.
        await typer.send(json.dumps({"type": "ping"}))
        assert (await recv(typer))["data"]["status"] == "pong"
    info = await js.stream_info("PARLEY_CHAT")
    assert info.state.last_seq == seq, "typing must not be stored"


async def test_deleted_session_closes_sockets_4410_then_4404(js, edge_factory):
    url = edge_factory()
    sid, _ = await new_session(js)
    path = f"/api/v1/chat/websocket/{sid}"
    async with websockets.connect(ws_url(url, path)) as ws:
        await until(ws, lambda f: f["data"].get("status") == "live")
        await bus.publish(js, codec.make(SessionDeleted, session_id=sid, user_id="local"))
        frame = await until(ws, lambda f: f["type"] == "connectionStatus" and f["seq"] is not None)
        assert frame["data"] == {"status": "session_deleted"}
        assert await closed_with(ws) == 4410
    async with websockets.connect(ws_url(url, path)) as ws:
        assert await closed_with(ws) == 4404


async def raw_socket(url: str, path: str, rcvbuf: int | None = None):
    """A WebSocket client by hand (handshake only), so a test decides exactly when it reads and
    whether it answers pings. Returns (reader, writer)."""
    import base64
    import os
    import socket

    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0], head
    return reader, writer


async def raw_frame(reader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(length)


async def raw_close_code(reader, wait: float) -> tuple[int, list[int]]:
    """Read frames until a close frame: (close code, opcodes seen before it)."""
    seen = []
    async with asyncio.timeout(wait):
        while True:
            opcode, payload = await raw_frame(reader)
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big"), seen
            seen.append(opcode)


def chunks(sid: str, aid: str, first: int, count: int, delta: str) -> list[GenerationChunk]:
    """One-token chunks ``first`` … ``first + count - 1`` of answer ``aid``, each carrying ``delta``."""
    return [
        codec.make(
            GenerationChunk,
            session_id=sid,
            user_id="local",
            message_id=aid,
            attempt=1,
            index=i,
            token_index=i,
            token_count=1,
            delta=delta,
        )
        for i in range(first, first + count)
    ]


async def test_slow_client_is_closed_4008_without_stalling_others(js, edge_factory):
    url = edge_factory(PARLEY_WS_QUEUE_SIZE="64")
    sid, _ = await new_session(js)
    path = f"/api/v1/chat/websocket/{sid}"
    # A client that stops reading at once (tiny receive buffer, never reads until the end).
    slow_reader, slow_writer = await raw_socket(url, path, rcvbuf=4096)
    async with websockets.connect(ws_url(url, path)) as fast:
        await until(fast, lambda f: f["data"].get("status") == "live")
        aid = codec.new_id()
        events = chunks(sid, aid, 0, 600, "x" * 16_000)
        publishing = asyncio.create_task(_publish_all(js, events, pause=0.002))
        indices = []
        while len(indices) < len(events):
            frame = await recv(fast, 20)
            if frame["data"].get("event") == "token":
                indices.append(frame["data"]["index"])
        await publishing
        assert indices == list(range(len(events))), "the fast client got everything, in order"
        code, opcodes = await raw_close_code(slow_reader, 20)
    slow_writer.close()
    assert code == 4008
    assert 0 < opcodes.count(0x1) < len(events), "the slow client got part of the stream, then the close"


async def test_a_client_that_stops_reading_a_while_gets_every_frame_once_in_order(js, edge_factory):
    """Its socket's write buffer fills, so frames wait in its queue for a sender that waits for the
    socket to drain; then it reads on: every frame once, in order, and later frames are written
    at once again."""
    url = edge_factory(PARLEY_WS_QUEUE_SIZE="2000")
    sid, _ = await new_session(js)
    path = f"/api/v1/chat/websocket/{sid}"
    reader, writer = await raw_socket(url, path, rcvbuf=4096)

    async def token_indices(count: int) -> list[int]:
        found = []
        async with asyncio.timeout(30):
            while len(found) < count:
                opcode, payload = await raw_frame(reader)
                data = json.loads(payload)["data"] if opcode == 0x1 else {}
                if data.get("event") == "token":
                    found.append(data["index"])
        return found

    aid = codec.new_id()
    async with websockets.connect(ws_url(url, path), max_size=None) as witness:
        await until(witness, lambda f: f["data"].get("status") == "live")
        await _publish_all(js, chunks(sid, aid, 0, 600, "x" * 16_000))  # ~9.6 MB: far more than the socket buffers
        # The witness has the last one: the bridge has offered every frame to the stalled socket too.
        await until(witness, lambda f: f["data"].get("index") == 599, wait=20)
        assert await token_indices(600) == list(range(600))
        await _publish_all(js, chunks(sid, aid, 600, 10, "y"))
        assert await token_indices(10) == list(range(600, 610))
    writer.close()


async def _publish_all(js, events, pause: float = 0.0) -> None:
    for event in events:
        await bus.publish(js, event)
        await asyncio.sleep(pause)


async def test_heartbeat_closes_a_silent_peer_4002_and_keeps_a_live_one(js, edge_factory):
    url = edge_factory(PARLEY_WS_HEARTBEAT_S="0.5")
    sid, _ = await new_session(js)
    path = f"/api/v1/chat/websocket/{sid}"
    async with websockets.connect(ws_url(url, path)) as alive:  # the library answers pings
        reader, writer = await raw_socket(url, path)  # reads, but never answers a ping
        started = asyncio.get_running_loop().time()
        code, opcodes = await raw_close_code(reader, 10)
        elapsed = asyncio.get_running_loop().time() - started
        writer.close()
        assert code == 4002
        assert 0x9 in opcodes, "the server pinged first"
        assert elapsed < 3.0, "closed within about two ping intervals"
        await asyncio.sleep(1.5)  # three more intervals: the answering client stays
        await alive.send(json.dumps({"type": "ping"}))
        assert (await until(alive, lambda f: f["data"].get("status") == "pong"))["type"] == "connectionStatus"


async def test_a_browser_s_offer_of_compression_is_declined(js, edge_factory):
    # A browser always offers permessage-deflate; its zlib state would cost ~300 KiB per socket.
    url = edge_factory()
    sid, _ = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}"), compression="deflate") as ws:
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert (await until(ws, lambda f: f["data"].get("status") == "live"))["type"] == "connectionStatus"


async def test_shutdown_closes_sockets_1001(js, edge_factory):
    url = edge_factory()
    sid, _ = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}")) as ws:
        await until(ws, lambda f: f["data"].get("status") == "live")
        await asyncio.to_thread(edge_factory.processes[0].stop)
        assert await closed_with(ws) == 1001
    # uvicorn shuts down gracefully, then re-raises the signal: exit by SIGTERM, not SIGKILL.
    assert edge_factory.processes[0].proc.returncode in (0, -15)


async def test_bad_socket_urls_close_with_codes(js, edge_factory):
    url = edge_factory()
    sid, _ = await new_session(js)
    for path, code in [
        (f"/api/v1/chat/websocket/{sid}?after_seq=abc", 4400),
        (f"/api/v1/chat/websocket/{sid}?after_seq=-1", 4400),
        (f"/api/v1/chat/websocket/{sid}?after_seq=1.5", 4400),
        (f"/api/v1/chat/websocket/{codec.new_id()}", 4404),
        ("/api/v1/chat/websocket/not-a-uuid", 4404),
        ("/api/v1/chat/websocket/a.b.>", 4404),
        (f"/api/v1/chat/llm-stream/{codec.new_id()}", 4404),
        ("/api/v1/chat/llm-stream/nope", 4404),
    ]:
        async with websockets.connect(ws_url(url, path)) as ws:
            assert await closed_with(ws) == code, path


async def test_after_seq_beyond_the_stream_end_still_gets_new_events(js, edge_factory):
    url = edge_factory()
    sid, seq = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}?after_seq={seq + 1000}")) as ws:
        live = await until(ws, lambda f: f["data"].get("status") == "live")
        assert live["data"]["last_seq"] is not None
        _, seqs = await answer_events(js, sid, "local", 2)
        frame = await until(ws, lambda f: f["seq"] is not None)
        assert frame["seq"] == seqs[0]


async def test_several_workers_share_one_port(js, edge_factory):
    """PARLEY_EDGE_WORKERS=2: uvicorn workers on one port, each with its own bridge; every
    socket gets every event whichever worker holds it; /metrics sums the workers."""
    import httpx

    url = edge_factory(PARLEY_EDGE_WORKERS="2")
    sid, _ = await new_session(js)
    sockets = [await websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}")) for _ in range(8)]
    try:
        for ws in sockets:
            await until(ws, lambda f: f["data"].get("status") == "live")
        _, seqs = await answer_events(js, sid, "local", 3)
        for ws in sockets:
            got = [(await until(ws, lambda f: f["seq"] is not None))["seq"] for _ in seqs]
            assert got == seqs
        async with httpx.AsyncClient(base_url=url) as client:
            text = (await client.get("/metrics")).text
            line = next(
                line for line in text.splitlines() if line.startswith('parley_edge_ws_connections{endpoint="session"}')
            )
            assert float(line.split()[-1]) == 8.0, line
    finally:
        for ws in sockets:
            await ws.close()


async def test_bridge_survives_a_nats_restart(nats, nc, js, edge_factory):
    """NATS goes away and comes back: open sockets get the events stored afterwards, in order."""
    import httpx

    url = edge_factory()
    sid, _ = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}")) as ws:
        await until(ws, lambda f: f["data"].get("status") == "live")
        _, before = await answer_events(js, sid, "local", 2)
        assert [(await until(ws, lambda f: f["seq"] is not None))["seq"] for _ in before] == before
        await asyncio.to_thread(nats.restart)
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(100):  # the edge reconnects on its own
                if (await client.get("/readyz")).json()["checks"]["nats"]:
                    break
                await asyncio.sleep(0.1)
        for _ in range(100):  # so does the test's own client
            if nc.is_connected:
                break
            await asyncio.sleep(0.1)
        _, after = await answer_events(js, sid, "local", 3)
        got = [(await until(ws, lambda f: f["seq"] is not None, wait=20))["seq"] for _ in after]
        assert got == after


async def test_oversized_frame_closes_1009(js, edge_factory):
    url = edge_factory(PARLEY_MAX_MESSAGE_BYTES="1000")
    sid, _ = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}"), max_size=None) as ws:
        await until(ws, lambda f: f["data"].get("status") == "live")
        await ws.send(json.dumps({"type": "send", "content": "x" * (1024 * 1024 + 10)}))
        assert await closed_with(ws) == 1009


async def test_nats_down_means_503_and_1013_never_500(nats, js, edge_factory):
    import httpx

    url = edge_factory()
    sid, _ = await new_session(js)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}")) as ws:
            await until(ws, lambda f: f["data"].get("status") == "live")
            await asyncio.to_thread(nats.kill)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["nats"] is False
            sent = await client.post(f"/api/v1/chat/sessions/{sid}/messages", json={"content": "hello"})
            assert sent.status_code == 503, sent.text
            assert "NATS" in sent.json()["detail"]
            await ws.send(json.dumps({"type": "send", "content": "hello", "client_message_id": "k"}))
            error = await until(ws, lambda f: f["type"] == "error", wait=20)
            assert error["data"]["code"] == "unavailable" and error["data"]["client_message_id"] == "k"
        async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}?after_seq=0")) as ws:
            assert await closed_with(ws, 20) == 1013
        await asyncio.to_thread(nats.start)
        for _ in range(100):
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        sent = await client.post(f"/api/v1/chat/sessions/{sid}/messages", json={"content": "hello again"})
        assert sent.status_code == 202, sent.text


async def test_readyz_reports_projection_lag(js, edge_factory):
    import httpx

    url = edge_factory(PARLEY_READY_MAX_LAG="2")  # no projection runs here: the lag only grows
    async with httpx.AsyncClient(base_url=url) as client:
        await new_session(js)
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["projection_lag"] == 1
        await answer_events(js, (await new_session(js))[0], "local", 1)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["projection_lag"] > 2 and ready.json()["checks"]["projection_lag_ok"] is False
