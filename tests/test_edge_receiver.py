"""A socket's client frames (services/edge/receiver.py) over a real edge: each refusal is an error
frame naming why, and the socket stays open for what comes next."""

from __future__ import annotations

import json

import httpx
import websockets

from events import codec
from tests.support.sockets import new_session, until, ws_url


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(js, edge_factory):
    url = edge_factory(PARLEY_MAX_MESSAGE_BYTES="1000")
    sid, _ = await new_session(js)
    async with websockets.connect(ws_url(url, f"/api/v1/chat/websocket/{sid}")) as ws:
        await until(ws, lambda f: f["data"].get("status") == "live")
        cases = [
            ("not json", "bad_json", None),
            (b"\xff\xfe binary", "bad_json", None),
            ("[1, 2]", "invalid_frame", None),
            ('{"content": "no type"}', "invalid_frame", None),
            ('{"type": "dance"}', "unknown_type", None),
            ('{"type": "send", "content": 5}', "invalid_frame", "$.content"),
            ('{"type": "send", "content": "x", "client_message_id": 7}', "invalid_frame", "$.client_message_id"),
            ('{"type": "typing", "typing": "yes"}', "invalid_frame", "$.typing"),
            (json.dumps({"type": "send", "content": "é" * 501, "client_message_id": "big"}), "too_large", None),
            ('{"type": "send", "content": "   "}', "invalid_frame", None),
            ('{"type": "cancel"}', "invalid_frame", None),
            ('{"type": "cancel", "message_id": "not-a-message"}', "not_found", None),
            (json.dumps({"type": "cancel", "message_id": codec.new_id()}), "not_found", None),
            (json.dumps({"type": "regenerate", "message_id": codec.new_id()}), "not_found", None),
            ('{"type": "regenerate"}', "not_found", None),
            ('{"type": "regenerate", "llm_provider": "nope"}', "not_found", None),
        ]
        for raw, code, field in cases:
            await ws.send(raw)
            frame = await until(ws, lambda f: f["type"] == "error")
            assert frame["data"]["code"] == code, (raw, frame)
            if field:
                assert field in frame["data"]["message"], frame
            if code == "too_large":
                assert frame["data"]["client_message_id"] == "big"
        # Still open, and what is accepted afterwards is stored and delivered.
        await ws.send(json.dumps({"type": "send", "content": "still here", "client_message_id": "c1"}))
        frame = await until(ws, lambda f: f["type"] == "newMessage")
        assert frame["data"]["content"] == "still here" and frame["data"]["client_message_id"] == "c1"
        answer = await until(ws, lambda f: f["type"] == "newMessage")
        assert answer["data"]["role"] == "assistant" and answer["data"]["reply_to"] == frame["message_id"]
        await ws.send('{"type": "regenerate", "llm_provider": "nope"}')
        frame = await until(ws, lambda f: f["type"] == "error")
        assert frame["data"]["code"] == "invalid_frame" and "llm_provider" in frame["data"]["message"]
        await ws.send(json.dumps({"type": "regenerate", "message_id": answer["message_id"]}))
        again = await until(ws, lambda f: f["type"] == "newMessage")
        assert again["data"]["reply_to"] == answer["data"]["reply_to"], "an answer's id stands for its prompt"


async def test_an_answer_socket_refuses_what_only_a_session_socket_takes(make_system):
    url = make_system().edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post("/api/v1/chat/sessions")).json()["id"]
        sent = await client.post(f"/api/v1/chat/sessions/{sid}/messages", json={"content": "[[tokens:100]] [[rate:5]]"})
        aid = sent.json()["answer_message_id"]
    async with websockets.connect(ws_url(url, f"/api/v1/chat/llm-stream/{aid}")) as ws:
        await until(ws, lambda f: f["data"].get("status") == "live")
        for raw in (
            {"type": "send", "content": "not here", "client_message_id": "c1"},
            {"type": "regenerate"},
            {"type": "typing", "typing": True},
        ):
            await ws.send(json.dumps(raw))
            frame = await until(ws, lambda f: f["type"] == "error")
            assert frame["data"]["code"] == "invalid_frame" and "only `cancel` and `ping`" in frame["data"]["message"]
        await ws.send(json.dumps({"type": "ping"}))  # still open
        await until(ws, lambda f: f["data"].get("status") == "pong")
