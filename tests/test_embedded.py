"""The embedded servers (and so the test fixtures) really start, stop, die and come back."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
import pytest

from events import codec, streams
from events.schema import MessageSubmitted, SessionCreated
from events.streams import CHAT_STREAM
from services import bus
from services.embedded import EmbeddedLlama, EmbeddedNats, EmbeddedPostgres, port_open
from services.errors import StartupError
from services.generation.llama import MODEL_ALIAS


async def test_nats_fixture_is_a_real_server_that_keeps_events_across_a_kill(nats, js):
    event = codec.make(MessageSubmitted, session_id="s", user_id="u", message_id="m", content="kept")
    ack = await bus.publish(js, event)
    nats.kill()
    assert not port_open("127.0.0.1", nats.embedded.port)
    nats.start()
    assert port_open("127.0.0.1", nats.embedded.port)
    client = await bus.connect(nats.url, "after-restart")
    try:
        msg = await client.jetstream().get_msg(CHAT_STREAM, ack.seq)
        assert codec.decode(msg.data, msg.subject) == event
    finally:
        await client.close()


async def test_database_fixture_is_a_fresh_migrated_database(db):
    tables = {r["tablename"] for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert {
        "chat_sessions",
        "messages",
        "projection_checkpoints",
        "projection_dead_letters",
        "schema_migrations",
    } <= tables
    assert await db.fetchval("SELECT count(*) FROM chat_sessions") == 0


async def test_embedded_postgres_keeps_data_across_restart_and_kill(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg").start()
    try:
        conn = await asyncpg.connect(server.dsn)
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        await conn.close()
        server.stop()
        assert not port_open("127.0.0.1", server.port)
        server.start()
        server.kill()  # a crash leaves postmaster.pid behind; the next start must cope
        server.start()
        conn = await asyncpg.connect(server.dsn)
        assert await conn.fetchval("SELECT x FROM kept") == 42
        await conn.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_embedded_llama_serves_the_shipped_model():
    llama = EmbeddedLlama(parallel=1).start()
    try:
        models = httpx.get(f"{llama.base_url}/models", timeout=10).json()
        assert models["data"][0]["id"] == MODEL_ALIAS
    finally:
        llama.stop()
    assert llama.proc.poll() is not None


def test_a_data_dir_postgres_cannot_use_fails_with_a_clear_startup_error(tmp_path):
    # Not empty and no PG_VERSION: initdb refuses, and says why in one StartupError.
    data = tmp_path / "pg"
    data.mkdir()
    (data / "somebody-elses-file").write_text("x")
    with pytest.raises(StartupError, match="initdb failed"):
        EmbeddedPostgres(data).start()


def test_the_go_runtime_of_the_embedded_nats_server_gets_the_cores_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("GOMAXPROCS", "7")  # a stray one in our environment must not decide it
    one = EmbeddedNats(tmp_path / "one", procs=1).start()
    every = EmbeddedNats(tmp_path / "every").start()
    try:
        environ = {s: Path(f"/proc/{s.proc.pid}/environ").read_bytes().split(b"\0") for s in (one, every)}
    finally:
        one.stop()
        every.stop()
    assert b"GOMAXPROCS=1" in environ[one]
    assert not any(v.startswith(b"GOMAXPROCS=") for v in environ[every])  # 0: Go's own choice


async def test_the_fsync_policy_reaches_the_embedded_server(tmp_path):
    server = EmbeddedNats(tmp_path / "nats", sync="always").start()
    try:
        assert 'sync_interval: "always"' in (tmp_path / "nats" / "nats-server.conf").read_text()
        nc = await bus.connect(server.url, "t")
        js = nc.jetstream()
        await streams.ensure(js, streams.StreamSettings())
        event = codec.make(SessionCreated, session_id="s", user_id="u", title="t", llm_provider="p", llm_model="m")
        assert (await bus.publish(js, event)).seq == 1
        await nc.close()
    finally:
        server.stop()
    assert "sync_interval" not in EmbeddedNats(tmp_path / "other").config()  # unset: nats-server's own
