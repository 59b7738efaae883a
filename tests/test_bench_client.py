"""The benchmark's (and the chaos run's) WebSocket client against the real system."""

from __future__ import annotations

import time

import httpx

from services import bus
from services.bench.client import Client, Tally, _encode, prompt
from services.bench.plan import Answer, Plan
from services.edge.commands import Limits, SendMessage, decide


class DropsAfterTheFirstMessage(Client):
    """Its connection drops right after the first message frame (the socket's far end died)."""

    dropped = False

    async def _receive(self):
        frame, at = await super()._receive()
        if frame["type"] == "newMessage" and not self.dropped:
            self.dropped = True
            assert self.ws is not None
            self.ws.transport.abort()  # the client resumes with after_seq
        return frame, at


async def test_a_prompt_an_edge_stored_without_its_request_is_sent_again_until_its_answer_is_seen(make_system, js):
    """An edge killed between its two writes leaves the user's message stored and no answer
    requested. The client saw its message stored, then lost its socket: it must send again
    (the same client_message_id), and the answer must come, once."""
    system = make_system()
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        session = (await http.post("/api/v1/chat/sessions")).json()
    plan = Plan(kind="chat", base_url=url, run="half", clients=1, tokens=5, rate=200, answer_timeout_s=30)
    client = DropsAfterTheFirstMessage(plan, 0, session["id"], Tally())
    await client.open(0)
    nonce = "half.0.0"
    content = prompt(nonce, plan.tokens, plan.rate)
    limits = Limits(max_message_bytes=100_000, default_provider="local", default_models={})
    submitted, _requested = decide(
        SendMessage(session_id=session["id"], content=content, client_message_id=nonce), session["user_id"], limits
    )
    await bus.publish(js, submitted)  # the dead edge's first write; its second never happened

    send = _encode({"type": "send", "content": content, "client_message_id": nonce}).decode()
    answer = await client.follow(Answer(nonce=nonce, sent_at=time.time()), send)
    await client.close()
    assert answer.outcome == "completed", client.tally.errors
    assert answer.resent == 1
    assert sum(count for _, count, _, _ in answer.tokens) == plan.tokens
    assert client.tally.checker.anomalies == []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        messages = (await http.get(f"/api/v1/chat/sessions/{session['id']}/messages")).json()
    assert [m["role"] for m in messages] == ["user", "assistant"]  # the message is stored once
