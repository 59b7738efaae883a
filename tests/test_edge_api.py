"""The REST API and sockets end to end: real NATS, real PostgreSQL, the scripted LLM, and
`parley projections`, `parley generation`, `parley edge` as real processes (make_system)."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.support.sockets import closed_with, until, ws_url

API = "/api/v1"


async def answer_of(ws, answer_id: str, wait: float = 30.0) -> tuple[list[dict], dict]:
    """Token frames and the terminal frame of one answer, read from an open socket."""
    tokens = []
    async with asyncio.timeout(wait):
        while True:
            frame = json.loads(await ws.recv())
            if frame["message_id"] != answer_id or frame["type"] != "messageUpdate":
                continue
            event = frame["data"]["event"]
            if event == "token":
                tokens.append(frame["data"])
            elif event in ("completed", "failed", "cancelled"):
                return tokens, frame["data"]


async def wait_for_message(
    client: httpx.AsyncClient, sid: str, message_id: str, status: str, wait: float = 15.0
) -> dict:
    """Poll the read model until the message has ``status``."""
    async with asyncio.timeout(wait):
        while True:
            response = await client.get(f"{API}/chat/sessions/{sid}/messages", params={"page_size": 200})
            assert response.status_code == 200, response.text
            for message in response.json():
                if message["id"] == message_id and message["status"] == status:
                    return message
            await asyncio.sleep(0.1)


async def test_rest_flow_end_to_end(make_system):
    system = make_system()
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        created = await client.post(f"{API}/chat/sessions", json={"title": "first", "settings": {"temperature": 0.2}})
        assert created.status_code == 201, created.text
        session = created.json()
        sid = session["id"]
        assert session["title"] == "first" and session["user_id"] == "local" and session["llm_provider"] == "local"
        assert session["settings"]["temperature"] == 0.2
        # Read-your-writes: the new session is in the list at once.
        listed = (await client.get(f"{API}/chat/sessions")).json()
        assert [s["id"] for s in listed] == [sid]

        sent = await client.post(
            f"{API}/chat/sessions/{sid}/messages", json={"content": "hello [[tokens:25]] [[rate:0]]"}
        )
        assert sent.status_code == 202, sent.text
        body = sent.json()
        answer_id = body["answer_message_id"]
        assert body["message"]["content"] == "hello [[tokens:25]] [[rate:0]]" and body["message"]["role"] == "user"
        async with websockets.connect(ws_url(url, f"{API}/chat/llm-stream/{answer_id}")) as ws:
            tokens, end = await answer_of(ws, answer_id)
            assert await closed_with(ws) == 1000
        assert end["event"] == "completed"
        assert sum(t["token_count"] for t in tokens) == 25
        assert "".join(t["delta"] for t in tokens) == end["message"]["content"]
        stored = await wait_for_message(client, sid, answer_id, "complete")
        assert stored["content"] == end["message"]["content"]
        assert stored["reply_to"] == body["message"]["id"]
        page = await client.get(f"{API}/chat/sessions/{sid}/messages")
        assert int(page.headers["X-Parley-Seq"]) >= end["message"]["last_seq"]
        assert [m["role"] for m in page.json()] == ["user", "assistant"]


async def test_session_lifecycle_regenerate_and_cancel(make_system):
    system = make_system()
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions")).json()["id"]
        session = (await client.get(f"{API}/chat/sessions/{sid}")).json()
        assert session["title"] == "New chat" and session["llm_model"]

        patched = await client.patch(
            f"{API}/chat/sessions/{sid}", json={"title": "renamed", "settings": {"top_p": 0.5}}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["title"] == "renamed" and patched.json()["settings"]["top_p"] == 0.5
        assert (await client.get(f"{API}/chat/sessions/{sid}")).json()["title"] == "renamed"
        unchanged = await client.patch(f"{API}/chat/sessions/{sid}", json={})
        assert unchanged.status_code == 200 and unchanged.json()["title"] == "renamed"

        async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}?after_seq=0")) as ws:
            renamed = await until(
                ws,
                lambda f: (
                    f["data"].get("status") == "session_updated"
                    and "title" in f["data"]["session"]
                    and f["data"]["session"]["title"] == "renamed"
                ),
            )
            assert renamed["seq"] > 0
            first = (
                await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "q [[tokens:5]] [[rate:0]]"})
            ).json()
            _, done = await answer_of(ws, first["answer_message_id"])
            assert done["event"] == "completed"

            # Regenerate: by default the newest user message; a new answer id.
            again = await client.post(f"{API}/chat/sessions/{sid}/process-llm", json={})
            assert again.status_code == 202, again.text
            regen = again.json()
            assert regen["prompt_message_id"] == first["message"]["id"]
            assert regen["answer_message_id"] != first["answer_message_id"]
            pending = await until(
                ws, lambda f: f["type"] == "newMessage" and f["message_id"] == regen["answer_message_id"]
            )
            assert pending["data"]["status"] == "pending" and pending["data"]["metadata"]["regenerate"] is True
            _, done = await answer_of(ws, regen["answer_message_id"])
            assert done["event"] == "completed"
            # An answer's id stands for the message it answers.
            by_answer = await client.post(
                f"{API}/chat/sessions/{sid}/process-llm", json={"message_id": first["answer_message_id"]}
            )
            assert by_answer.json()["prompt_message_id"] == first["message"]["id"]
            await answer_of(ws, by_answer.json()["answer_message_id"])

            # Cancel a slow answer: it stops with the partial text kept.
            slow = (
                await client.post(
                    f"{API}/chat/sessions/{sid}/messages", json={"content": "long [[tokens:500]] [[rate:40]]"}
                )
            ).json()
            aid = slow["answer_message_id"]
            first_token = await until(ws, lambda f: f["message_id"] == aid and f["data"].get("event") == "token")
            cancel = await client.post(f"{API}/chat/sessions/{sid}/messages/{aid}/cancel")
            assert cancel.status_code == 202 and cancel.json()["message_id"] == aid
            tokens, end = await answer_of(ws, aid)
            tokens.insert(0, first_token["data"])
            assert end["event"] == "cancelled"
            assert end["partial_content"] == "".join(t["delta"] for t in tokens)
            assert 0 < sum(t["token_count"] for t in tokens) < 500

            deleted = await client.delete(f"{API}/chat/sessions/{sid}")
            assert deleted.status_code == 204
            gone = await until(ws, lambda f: f["data"].get("status") == "session_deleted")
            assert gone["seq"] > 0
            assert await closed_with(ws) == 4410
        assert (await client.get(f"{API}/chat/sessions/{sid}")).status_code == 404
        assert (await client.get(f"{API}/chat/sessions/{sid}/messages")).status_code == 404
        assert sid not in [s["id"] for s in (await client.get(f"{API}/chat/sessions")).json()]
        assert (await client.delete(f"{API}/chat/sessions/{sid}")).status_code == 404


async def test_idempotent_send_stores_one_message(make_system):
    system = make_system(edges=2)
    a, b = system.edge_urls
    async with httpx.AsyncClient(base_url=a, timeout=30) as ca, httpx.AsyncClient(base_url=b, timeout=30) as cb:
        sid = (await ca.post(f"{API}/chat/sessions")).json()["id"]
        body = {"content": "once [[tokens:3]] [[rate:0]]", "client_message_id": "retry-1"}
        first = await ca.post(f"{API}/chat/sessions/{sid}/messages", json=body)
        # The retry goes to the other edge, as after a reconnect behind a load balancer.
        second = await cb.post(f"{API}/chat/sessions/{sid}/messages", json=body)
        third = await ca.post(f"{API}/chat/sessions/{sid}/messages", json={**body, "content": "changed"})
        assert first.status_code == second.status_code == third.status_code == 202
        one, two, three = first.json(), second.json(), third.json()
        assert one["message"]["id"] == two["message"]["id"] == three["message"]["id"]
        assert one["answer_message_id"] == two["answer_message_id"] == three["answer_message_id"]
        assert three["message"]["content"] == "once [[tokens:3]] [[rate:0]]", "the stored message, not the retry's"
        # Over the socket too, with the same key.
        async with websockets.connect(ws_url(b, f"{API}/chat/websocket/{sid}")) as ws:
            await until(ws, lambda f: f["data"].get("status") == "live")
            await ws.send(json.dumps({"type": "send", **body}))
            await ws.send(json.dumps({"type": "ping"}))
            await until(ws, lambda f: f["data"].get("status") == "pong")
        await wait_for_message(ca, sid, one["answer_message_id"], "complete")
        messages = (await ca.get(f"{API}/chat/sessions/{sid}/messages")).json()
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["client_message_id"] == "retry-1"
        # Beyond JetStream's dedup window the read model still answers with the stored ids.
        fourth = await cb.post(f"{API}/chat/sessions/{sid}/messages", json=body)
        assert fourth.json()["message"]["id"] == one["message"]["id"]
        records = (await ca.get(f"{system.llm_url}/_record")).json()
        assert len(records) == 1, "one message, one answer: the model was asked once"


async def test_bad_rest_input_gets_clear_errors(make_system):
    system = make_system(env_extra={"PARLEY_MAX_MESSAGE_BYTES": "1000"})
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions")).json()["id"]
        unknown = "00000000-0000-4000-8000-000000000000"

        def field_of(response) -> list[str]:
            return [".".join(str(p) for p in e["loc"]) for e in response.json()["detail"]]

        # Unknown sessions and messages: 404 on every route.
        for method, path in [
            ("GET", f"/chat/sessions/{unknown}"),
            ("GET", "/chat/sessions/not-a-uuid"),
            ("PATCH", f"/chat/sessions/{unknown}"),
            ("DELETE", f"/chat/sessions/{unknown}"),
            ("POST", f"/chat/sessions/{unknown}/messages"),
            ("GET", f"/chat/sessions/{unknown}/messages"),
            ("POST", f"/chat/sessions/{unknown}/process-llm"),
            ("POST", f"/chat/sessions/{unknown}/messages/{unknown}/cancel"),
            ("POST", f"/chat/sessions/{sid}/messages/{unknown}/cancel"),
            ("POST", f"/chat/sessions/{sid}/process-llm"),  # no user message yet
        ]:
            body = {"content": "x"} if path.endswith("/messages") and method == "POST" else {}
            response = await client.request(method, API + path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert isinstance(response.json()["detail"], str)

        too_big = await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "é" * 501})
        assert too_big.status_code == 413 and "1000" in too_big.json()["detail"]
        huge = await client.post(
            f"{API}/chat/sessions/{sid}/messages",
            content=b'{"content": "' + b"a" * 400_000 + b'"}',
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413
        prompt_too_big = await client.post(f"{API}/chat/sessions", json={"settings": {"system_prompt": "p" * 1001}})
        assert prompt_too_big.status_code == 413

        cases = [
            ("POST", f"/chat/sessions/{sid}/messages", {"content": 5}, "body.content"),
            ("POST", f"/chat/sessions/{sid}/messages", {}, "body.content"),
            (
                "POST",
                f"/chat/sessions/{sid}/messages",
                {"content": "x", "client_message_id": 3},
                "body.client_message_id",
            ),
            ("POST", f"/chat/sessions/{sid}/messages", {"content": "   "}, "body.content"),
            ("POST", "/chat/sessions", {"title": 7}, "body.title"),
            ("POST", "/chat/sessions", {"title": "t" * 256}, "body.title"),
            ("POST", "/chat/sessions", {"llm_provider": "nope"}, "body.llm_provider"),
            ("POST", "/chat/sessions", {"settings": {"temperature": "hot"}}, "body.settings.temperature"),
            ("POST", "/chat/sessions", {"settings": {"temperature": 9}}, "body.settings.temperature"),
            ("PATCH", f"/chat/sessions/{sid}", {"llm_model": ""}, "body.llm_model"),
            ("POST", f"/chat/sessions/{sid}/process-llm", {"llm_provider": 1}, "body.llm_provider"),
        ]
        for method, path, body, field in cases:
            response = await client.request(method, API + path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert field in field_of(response), (body, response.json())
        for params, field in [
            ({"page": 0}, "query.page"),
            ({"page_size": 201}, "query.page_size"),
            ({"page": "x"}, "query.page"),
            ({"before": "yesterday"}, "query.before"),
            ({"before": unknown}, "query.before"),
        ]:
            response = await client.get(f"{API}/chat/sessions/{sid}/messages", params=params)
            assert response.status_code == 422, (params, response.text)
            assert field in field_of(response)
        malformed = await client.post(
            f"{API}/chat/sessions/{sid}/messages", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        # Nothing of the above was stored: the session has no message.
        assert (await client.get(f"{API}/chat/sessions/{sid}/messages")).json() == []
        unknown_api = await client.get(f"{API}/nothing-here")
        assert unknown_api.status_code == 404


async def test_health_readiness_metrics_and_llm_management(make_system):
    system = make_system()
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["nats"] is True and ready.json()["checks"]["postgres"] is True
        assert (await client.get(f"{API}/readyz")).status_code == 200

        providers = (await client.get(f"{API}/llm/providers")).json()
        local = next(p for p in providers if p["name"] == "local")
        assert local["configured"] and local["health"]["ok"] is True
        assert next(p for p in providers if p["name"] == "openrouter")["configured"] is False
        models = (await client.get(f"{API}/llm/models")).json()
        assert models[0]["provider"] == "local" and models[0]["models"]
        health = (await client.get(f"{API}/llm/health")).json()
        assert health["ok"] is True and health["default_provider"] == "local"

        cfg = (await client.get(f"{API}/llm/config")).json()
        assert cfg["default_provider"] == "local" and cfg["stored"] is False
        put = await client.put(
            f"{API}/llm/config",
            json={
                "default_provider": "local",
                "default_model": "scripted-x",
                "failover": [],
                "limits": {"max_tokens": 50},
            },
        )
        assert put.status_code == 200, put.text
        assert put.json()["revision"] >= 1
        got = (await client.get(f"{API}/llm/config")).json()
        assert got["default_model"] == "scripted-x" and got["limits"]["max_tokens"] == 50 and got["stored"]
        # New sessions take the live default.
        await asyncio.sleep(0.5)
        assert (await client.post(f"{API}/chat/sessions")).json()["llm_model"] == "scripted-x"
        bad = await client.put(f"{API}/llm/config", json={"default_provider": "local", "limits": {"max_tokens": 0}})
        assert bad.status_code == 422 and "limits.max_tokens" in json.dumps(bad.json())
        bad = await client.put(f"{API}/llm/config", json={"failover": ["nowhere"]})
        assert bad.status_code == 422

        metrics = (await client.get("/metrics")).text
        for name in [
            "parley_edge_ws_connections",
            "parley_edge_events_total",
            "parley_edge_http_requests_total",
            "parley_edge_publish_seconds",
            "parley_edge_event_delivery_seconds",
        ]:
            assert name in metrics, name


async def test_a_read_given_the_socket_seq_waits_for_the_projection(make_system):
    # A slow projection (it writes every 1.5 s): a read right after the socket's `completed`
    # would still see the answer streaming, unless it says which sequence it has seen.
    system = make_system(env_extra={"PARLEY_PROJECTION_FLUSH_MS": "1500"})
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions", json={})).json()["id"]
        for seen in ("header", "query"):
            sent = (
                await client.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "hi [[tokens:5]] [[rate:0]]"})
            ).json()
            async with websockets.connect(ws_url(url, f"{API}/chat/llm-stream/{sent['answer_message_id']}")) as ws:
                end = await until(ws, lambda f: f["data"].get("event") == "completed")
            seq = end["seq"]
            if seen == "header":
                page = await client.get(f"{API}/chat/sessions/{sid}/messages", headers={"X-Parley-Seq": str(seq)})
            else:
                page = await client.get(f"{API}/chat/sessions/{sid}/messages", params={"min_seq": seq})
            assert page.status_code == 200, page.text
            assert int(page.headers["X-Parley-Seq"]) >= seq
            answer = next(m for m in page.json() if m["id"] == sent["answer_message_id"])
            assert (answer["status"], answer["content"]) == ("complete", end["data"]["message"]["content"]), seen
        session = await client.get(f"{API}/chat/sessions/{sid}", headers={"X-Parley-Seq": str(seq)})
        assert session.json()["message_count"] == 4
        for bad in ("-1", "x", "99999999999999999999"):
            assert (await client.get(f"{API}/chat/sessions", headers={"X-Parley-Seq": bad})).status_code == 422, bad
            assert (await client.get(f"{API}/chat/sessions", params={"min_seq": bad})).status_code == 422, bad
