"""Authentication and per-user access, end to end (JWT HS256, two users, two edges): a user
sees, changes, streams and resumes only their own sessions; another user's session is a 404 /
close 4404, exactly like a missing one."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import httpx
import jwt
import pytest
import websockets

from services.edge.access import db, open_pool
from services.edge.errors import Unavailable
from services.embedded import EmbeddedPostgres
from tests.support.sockets import closed_with, until, ws_url

API = "/api/v1"
SECRET = "test-secret-that-is-long-enough-for-hs256"


def token(sub: str, secret: str = SECRET, **claims) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256")


async def test_two_users_on_every_endpoint_and_socket(make_system):
    system = make_system(edges=2, env_extra={"PARLEY_JWT_SECRET": SECRET})
    a, b = system.edge_urls
    alice = {"Authorization": f"Bearer {token('alice')}"}
    bob = {"Authorization": f"Bearer {token('bob')}"}
    async with httpx.AsyncClient(base_url=a, timeout=30) as ca, httpx.AsyncClient(base_url=b, timeout=30) as cb:
        session = (await ca.post(f"{API}/chat/sessions", json={"title": "alice's"}, headers=alice)).json()
        sid = session["id"]
        assert session["user_id"] == "alice"
        sent = (
            await ca.post(
                f"{API}/chat/sessions/{sid}/messages", json={"content": "[[tokens:20]] [[rate:0]]"}, headers=alice
            )
        ).json()
        answer_id, message_id = sent["answer_message_id"], sent["message"]["id"]
        bob_sid = (await cb.post(f"{API}/chat/sessions", json={"title": "bob's"}, headers=bob)).json()["id"]

        # Every REST route: bob gets exactly what an unknown session gets, on either edge.
        unknown = "00000000-0000-4000-8000-000000000000"
        routes = [
            ("GET", "/chat/sessions/{s}", None),
            ("PATCH", "/chat/sessions/{s}", {"title": "mine now"}),
            ("POST", "/chat/sessions/{s}/messages", {"content": "hi"}),
            ("GET", "/chat/sessions/{s}/messages", None),
            ("POST", "/chat/sessions/{s}/process-llm", {}),
            ("POST", "/chat/sessions/{s}/process-llm", {"message_id": message_id}),
            ("POST", "/chat/sessions/{s}/messages/" + answer_id + "/cancel", None),
            ("DELETE", "/chat/sessions/{s}", None),
        ]
        for client in (ca, cb):
            for method, path, body in routes:
                theirs = await client.request(method, API + path.format(s=sid), json=body, headers=bob)
                missing = await client.request(method, API + path.format(s=unknown), json=body, headers=bob)
                assert theirs.status_code == missing.status_code == 404, (method, path, theirs.text)
                assert theirs.json() == missing.json(), "no difference between theirs and missing"
            # Bob's answer ids in his own session do not reach alice's answer either.
            cross = await client.post(f"{API}/chat/sessions/{bob_sid}/messages/{answer_id}/cancel", headers=bob)
            assert cross.status_code == 404
            regen = await client.post(
                f"{API}/chat/sessions/{bob_sid}/process-llm", json={"message_id": message_id}, headers=bob
            )
            assert regen.status_code == 404
        assert [s["id"] for s in (await cb.get(f"{API}/chat/sessions", headers=bob)).json()] == [bob_sid]
        assert [s["id"] for s in (await ca.get(f"{API}/chat/sessions", headers=alice)).json()] == [sid]

        # Sockets: bob is refused (4404) on alice's session and answer, by URL token, header or first frame.
        for url in (a, b):
            for path in (f"{API}/chat/websocket/{sid}?after_seq=0", f"{API}/chat/llm-stream/{answer_id}"):
                sep = "&" if "?" in path else "?"
                async with websockets.connect(ws_url(url, f"{path}{sep}token={token('bob')}")) as ws:
                    assert await closed_with(ws) == 4404, path
                async with websockets.connect(ws_url(url, path), additional_headers=bob) as ws:
                    assert await closed_with(ws) == 4404, path
                async with websockets.connect(ws_url(url, path)) as ws:
                    await ws.send(json.dumps({"type": "auth", "token": token("bob")}))
                    assert await closed_with(ws) == 4404, path

        # Alice can, through every way of passing the token, and her events carry her id.
        async with websockets.connect(ws_url(b, f"{API}/chat/websocket/{sid}?after_seq=0")) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token("alice")}))
            hello = await until(ws, lambda f: f["data"].get("status") == "connected")
            assert hello["data"]["user_id"] == "alice"
            await until(ws, lambda f: f["message_id"] == message_id)
        slow = await ca.post(
            f"{API}/chat/sessions/{sid}/messages", json={"content": "[[tokens:1000]] [[rate:50]]"}, headers=alice
        )
        slow_id = slow.json()["answer_message_id"]
        async with websockets.connect(ws_url(a, f"{API}/chat/llm-stream/{slow_id}?token={token('alice')}")) as ws:
            await until(ws, lambda f: f["data"].get("event") == "token")
            await ws.send(json.dumps({"type": "cancel"}))
            end = await until(ws, lambda f: f["data"].get("event") in ("completed", "cancelled", "failed"))
            assert end["data"]["event"] == "cancelled"
            assert await closed_with(ws) == 1000
        records = (await ca.get(f"{system.llm_url}/_record")).json()
        assert len(records) == 2, "alice's two messages; bob's attempts above started no generation"
        deleted = await ca.delete(f"{API}/chat/sessions/{sid}", headers=alice)
        assert deleted.status_code == 204


async def test_missing_or_bad_tokens_are_refused(make_system):
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET})
    url = system.edge_urls[0]
    bad_tokens = {
        "missing": None,
        "garbage": "not.a.jwt",
        "wrong secret": token("alice", secret="another-secret-another-secret-another"),
        # Past the default 30 s leeway (PARLEY_JWT_LEEWAY_S).
        "expired": jwt.encode({"sub": "alice", "exp": int(time.time()) - 120}, SECRET, algorithm="HS256"),
        "no expiry": jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),
        "no subject": jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
        "alg none": jwt.encode({"sub": "alice"}, None, algorithm="none"),
    }
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions", headers={"Authorization": f"Bearer {token('alice')}"})).json()[
            "id"
        ]
        for name, bad in bad_tokens.items():
            headers = {"Authorization": f"Bearer {bad}"} if bad else {}
            for method, path in [
                ("GET", "/chat/sessions"),
                ("POST", "/chat/sessions"),
                ("GET", f"/chat/sessions/{sid}"),
                ("GET", f"/chat/sessions/{sid}/messages"),
                ("POST", f"/chat/sessions/{sid}/messages"),
                ("GET", "/llm/providers"),
                ("GET", "/llm/config"),
                ("PUT", "/llm/config"),
            ]:
                response = await client.request(method, API + path, headers=headers, json={"content": "x"})
                assert response.status_code == 401, (name, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
            query = f"?token={bad}" if bad else ""
            async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{sid}{query}")) as ws:
                if not bad:
                    await ws.send(json.dumps({"type": "ping"}))  # not an auth frame
                assert await closed_with(ws) == 4401, name
        # Probes need no token.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        # Nothing was stored for the refused calls.
        listed = (
            await client.get(f"{API}/chat/sessions", headers={"Authorization": f"Bearer {token('alice')}"})
        ).json()
        assert len(listed) == 1 and listed[0]["message_count"] == 0


async def test_socket_without_token_times_out_with_4401(make_system):
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET})
    async with websockets.connect(ws_url(system.edge_urls[0], f"{API}/chat/websocket/{'0' * 8}")) as ws:
        started = time.monotonic()
        assert await closed_with(ws, 10) == 4401
        assert 4.0 < time.monotonic() - started < 8.0


async def test_only_admins_change_the_llm_configuration(make_system):
    # The configuration applies to every user's answers: reading it is for everyone, changing it is not.
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET, "PARLEY_ADMIN_USERS": "root-user"})
    body = {"default_provider": "local", "limits": {"max_tokens": 77}}
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        alice = {"Authorization": f"Bearer {token('alice')}"}
        admin = {"Authorization": f"Bearer {token('root-user')}"}
        refused = await client.put(f"{API}/llm/config", json=body, headers=alice)
        assert refused.status_code == 403 and "PARLEY_ADMIN_USERS" in refused.json()["detail"]
        assert (await client.get(f"{API}/llm/config", headers=alice)).json()["limits"]["max_tokens"] != 77
        accepted = await client.put(f"{API}/llm/config", json=body, headers=admin)
        assert accepted.status_code == 200, accepted.text
        assert (await client.get(f"{API}/llm/config", headers=alice)).json()["limits"]["max_tokens"] == 77


async def test_a_socket_closes_4401_when_its_token_expires_unless_renewed_by_a_frame(make_system):
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET, "PARLEY_JWT_LEEWAY_S": "0"})
    url = system.edge_urls[0]

    def short(sub: str, seconds: float) -> str:
        return jwt.encode({"sub": sub, "exp": int(time.time() + seconds)}, SECRET, algorithm="HS256")

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions", headers={"Authorization": f"Bearer {token('alice')}"})).json()[
            "id"
        ]
    path = f"{API}/chat/websocket/{sid}"
    async with (
        websockets.connect(ws_url(url, path)) as lapsing,
        websockets.connect(ws_url(url, path)) as renewed,
    ):
        for ws in (lapsing, renewed):
            await ws.send(json.dumps({"type": "auth", "token": short("alice", 3)}))
            await until(ws, lambda f: f["data"].get("status") == "live")
        # A token for someone else, or an expired one, is refused with an error frame; the socket stays.
        for bad in (short("mallory", 60), short("alice", -5)):
            await renewed.send(json.dumps({"type": "auth", "token": bad}))
            refused = await until(renewed, lambda f: f["type"] == "error")
            assert refused["data"]["code"] == "unauthorized", refused
        await renewed.send(json.dumps({"type": "auth", "token": short("alice", 60)}))
        assert await closed_with(lapsing, wait=15) == 4401
        await renewed.send(json.dumps({"type": "ping"}))
        pong = await until(renewed, lambda f: f["data"].get("status") == "pong", wait=5)
        assert pong["session_id"] == sid  # still open, well past the first token's expiry


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
    ],
    ids=type,
)
async def test_every_way_a_projection_read_fails_is_unavailable(failure):
    # Seen in the chaos run: a pooled connection caught mid-operation by a PostgreSQL restart
    # raised InternalClientError, which became a silent socket instead of an error frame.
    async def read():
        raise failure

    with pytest.raises(Unavailable, match="PostgreSQL"):
        await db(read())


async def test_a_stopped_postgresql_is_unavailable_then_back(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg", durable=False).start()
    try:
        pool = await asyncpg.create_pool(server.dsn, min_size=1, max_size=2, command_timeout=5)
        try:
            assert await db(pool.fetchval("SELECT 1")) == 1
            server.stop()
            with pytest.raises(Unavailable):
                await db(pool.fetchval("SELECT 1"))
            server.start()
            for _ in range(50):  # the pool reconnects on its next acquire
                try:
                    assert await db(pool.fetchval("SELECT 1")) == 1
                    break
                except Unavailable:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the pool never came back")
        finally:
            pool.terminate()
    finally:
        server.stop()


async def test_the_pool_skips_asyncpg_s_reset_query_unless_the_connection_listened(database_url):
    """Released, a connection runs no reset query (a second round trip per read); one that listened
    still gets it, so it stops listening even when its listener was never removed."""
    pool = await open_pool(database_url, max_size=1)  # one connection: every acquire gets it
    ran: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda q: ran.append(q.query))
            pid = conn.get_server_pid()
            await conn.fetchval("SELECT 1")
        assert ran == ["SELECT 1"], "released without a reset query"
        with pytest.warns(asyncpg.InterfaceWarning, match="notification listener"):  # asyncpg's own
            async with pool.acquire() as conn:
                assert conn.get_server_pid() == pid
                await conn.add_listener("parley_test_channel", lambda *_: None)  # never removed
        assert any("UNLISTEN *" in q for q in ran), ran
        ran.clear()
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid
            assert await conn.fetch("SELECT pg_listening_channels()") == []
        assert ran == ["SELECT pg_listening_channels()"], "no reset once it listens no more"
    finally:
        await pool.close()
