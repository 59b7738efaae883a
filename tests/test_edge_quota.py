"""Fair use per user (services.edge.quota): the pure ledger with a fake clock, then every limit
against the live system, as documented in docs/protocol.md ("Limits")."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import jwt
import websockets

from events import codec
from events.schema import GenerationCancelled, GenerationCompleted, GenerationRequested
from services.edge.quota import STALE_S, WINDOW_S, Quota
from tests.support.sockets import closed_with, until, ws_url

API = "/api/v1"
SECRET = "quota-test-secret-of-at-least-32-bytes"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def requested(user: str, answer: str) -> GenerationRequested:
    return codec.make(
        GenerationRequested, session_id=codec.new_id(), user_id=user, message_id=answer, prompt_message_id="p"
    )


def test_sends_per_minute_is_a_sliding_window_per_user():
    clock = Clock()
    quota = Quota(sends_per_minute=3, answers_in_flight=0, sockets_per_user=0, clock=clock)
    for i in range(3):
        assert quota.check_send("alice") is None
        quota.observe(requested("alice", f"a{i}"))
        quota.observe(requested("alice", f"a{i}"))  # seen twice (own write, then the bridge): counted once
        clock.now += 10
    refusal = quota.check_send("alice")
    assert refusal is not None and refusal.retry_after_s == WINDOW_S - 30
    assert quota.check_send("bob") is None
    clock.now += WINDOW_S - 30
    assert quota.check_send("alice") is None  # the first request left the window


def test_answers_in_flight_end_with_their_terminal_event_or_go_stale():
    clock = Clock()
    quota = Quota(sends_per_minute=0, answers_in_flight=2, sockets_per_user=0, clock=clock)
    first, second = requested("alice", "a1"), requested("alice", "a2")
    quota.observe(first)
    quota.observe(second)
    assert quota.check_send("alice") is not None and quota.in_flight("alice") == 2
    end = {"session_id": first.session_id, "user_id": "alice", "message_id": "a1", "attempt": 1}
    quota.observe(codec.make(GenerationCompleted, **end, content="x", llm_provider="local", llm_model="m"))
    assert quota.check_send("alice") is None
    quota.observe(requested("alice", "a3"))
    assert quota.check_send("alice") is not None
    quota.observe(codec.make(GenerationCancelled, **(end | {"message_id": "a3"})))
    assert quota.in_flight("alice") == 1
    clock.now += STALE_S + 1  # a2 never ended: after a while it no longer counts
    assert quota.check_send("alice") is None and quota.in_flight("alice") == 0


def test_sockets_per_user():
    quota = Quota(sends_per_minute=0, answers_in_flight=0, sockets_per_user=2)
    assert quota.open_socket("alice") is None and quota.open_socket("alice") is None
    assert quota.open_socket("alice") is not None
    assert quota.open_socket("bob") is None
    quota.close_socket("alice")
    assert quota.open_socket("alice") is None


def token(sub: str) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


async def test_every_limit_answers_as_documented(make_system):
    system = make_system(
        env_extra={
            "PARLEY_JWT_SECRET": SECRET,
            "PARLEY_SENDS_PER_MINUTE": "5",
            "PARLEY_ANSWERS_IN_FLIGHT": "2",
            "PARLEY_SOCKETS_PER_USER": "2",
            "PARLEY_SESSIONS_PER_USER": "2",
        }
    )
    url = system.edge_urls[0]
    alice = {"Authorization": f"Bearer {token('alice')}"}
    bob = {"Authorization": f"Bearer {token('bob')}"}
    async with httpx.AsyncClient(base_url=url + API, timeout=30) as client:
        sid = (await client.post("/chat/sessions", headers=alice)).json()["id"]
        assert (await client.post("/chat/sessions", headers=alice)).status_code == 201
        third = await client.post("/chat/sessions", headers=alice)
        assert third.status_code == 429 and "PARLEY_SESSIONS_PER_USER" in third.json()["detail"]
        bob_sid = (await client.post("/chat/sessions", headers=bob)).json()["id"]

        # Answers in flight: two slow answers, the third send is refused until one ends.
        slow = {"content": "[[tokens:400]] [[rate:20]]"}
        answers = []
        for _ in range(2):
            sent = await client.post(f"/chat/sessions/{sid}/messages", headers=alice, json=slow)
            assert sent.status_code == 202, sent.text
            answers.append(sent.json()["answer_message_id"])
        refused = await client.post(f"/chat/sessions/{sid}/messages", headers=alice, json={"content": "one more"})
        assert refused.status_code == 429 and "PARLEY_ANSWERS_IN_FLIGHT" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        regenerate = await client.post(f"/chat/sessions/{sid}/process-llm", headers=alice)
        assert regenerate.status_code == 429
        # Another user is not held back by alice.
        assert (await client.post(f"/chat/sessions/{bob_sid}/messages", headers=bob, json=slow)).status_code == 202

        # On a socket the same refusal is a `rate_limited` error frame, and the socket stays open.
        path = f"{API}/chat/websocket/{sid}"
        async with websockets.connect(ws_url(url, path), additional_headers=alice) as ws:
            await ws.send(json.dumps({"type": "send", "content": "hi", "client_message_id": "c1"}))
            error = await until(ws, lambda f: f["type"] == "error")
            assert error["data"]["code"] == "rate_limited" and error["data"]["client_message_id"] == "c1"
            # Sockets per user: a second is fine, a third is closed with 4429; bob's is not.
            async with websockets.connect(ws_url(url, path), additional_headers=alice) as second:
                await until(second, lambda f: f["data"].get("status") == "live")
                async with websockets.connect(ws_url(url, path), additional_headers=alice) as third_socket:
                    assert await closed_with(third_socket) == 4429
                bob_path = f"{API}/chat/websocket/{bob_sid}"
                async with websockets.connect(ws_url(url, bob_path), additional_headers=bob) as bobs:
                    await until(bobs, lambda f: f["data"].get("status") == "live")
            await ws.send(json.dumps({"type": "ping"}))
            await until(ws, lambda f: f["data"].get("status") == "pong")

        # Ending the answers frees the in-flight slots; then the per-minute count (5) is what stops her.
        for answer in answers:
            await client.post(f"/chat/sessions/{sid}/messages/{answer}/cancel", headers=alice)
        for _ in range(100):  # the cancelled answers end within moments
            sent = await client.post(f"/chat/sessions/{sid}/messages", headers=alice, json={"content": "x"})
            if sent.status_code == 202:
                break
            await asyncio.sleep(0.2)
        assert sent.status_code == 202, sent.text
        # Refused sends never count; accepted ones do, until the minute's 5 are used up.
        accepted = 1
        for _ in range(200):
            sent = await client.post(f"/chat/sessions/{sid}/messages", headers=alice, json={"content": "[[tokens:1]]"})
            if sent.status_code == 202:
                accepted += 1
            elif "PARLEY_SENDS_PER_MINUTE" in sent.json()["detail"]:
                break
            else:  # an answer still in flight: wait for it to end
                assert "PARLEY_ANSWERS_IN_FLIGHT" in sent.json()["detail"], sent.text
                await asyncio.sleep(0.2)
        assert sent.status_code == 429 and "PARLEY_SENDS_PER_MINUTE" in sent.json()["detail"], sent.text
        assert 1 <= int(sent.headers["retry-after"]) <= 60
        assert accepted <= 5
