"""The embedded servers' credentials and store key: generated once, 0600, and really required."""

from __future__ import annotations

import stat
import uuid

import asyncpg
import nats
import pytest

from events import codec
from events.schema import MessageSubmitted
from events.streams import CHAT_STREAM, StreamSettings, ensure
from services import bus, credentials
from services.embedded import EmbeddedNats, EmbeddedPostgres


def test_credentials_are_generated_once_readable_by_the_owner_only(tmp_path):
    first, created = credentials.load_or_create(tmp_path)
    assert created
    file = credentials.path(tmp_path)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    again, created = credentials.load_or_create(tmp_path)
    assert not created and again == first
    assert len({first.nats_store_key, first.nats_password, first.pg_password}) == 3

    file.chmod(0o644)  # widened by hand: narrowed again, the secrets kept
    assert credentials.load_or_create(tmp_path) == (first, False)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_a_damaged_credentials_file_is_one_clear_error(tmp_path):
    credentials.path(tmp_path).write_text("not json")
    with pytest.raises(Exception, match=r"credentials\.json is not a Parley credentials file"):
        credentials.load_or_create(tmp_path)


def test_urls_carry_credentials_and_logs_show_none():
    url = credentials.with_credentials("nats://127.0.0.1:4222,nats://h2:4223", "parley", "p@ss/word")
    assert url == "nats://parley:p%40ss%2Fword@127.0.0.1:4222,nats://parley:p%40ss%2Fword@h2:4223"
    assert credentials.redact(url) == "nats://parley:***@127.0.0.1:4222,nats://parley:***@h2:4223"
    dsn = credentials.with_credentials("postgresql://postgres@127.0.0.1:5433/postgres", "postgres", "secret")
    assert dsn == "postgresql://postgres:secret@127.0.0.1:5433/postgres"
    assert "secret" not in credentials.redact(dsn)
    assert credentials.redact("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


async def _write_conversation(url: str, marker: str) -> int:
    nc = await bus.connect(url, "test")
    try:
        js = nc.jetstream()
        await ensure(js, StreamSettings())
        for i in range(3):
            event = codec.make(
                MessageSubmitted, session_id="s", user_id="u", message_id=f"m{i}", content=f"say {marker} #{i}"
            )
            await bus.publish(js, event)
        return (await js.stream_info(CHAT_STREAM)).state.messages
    finally:
        await nc.close()


async def refused_connect(url: str) -> None:
    """Connect once without reconnects; the client is closed either way (a half-made one left to
    the garbage collector trips pytest's unraisable-exception check in a later test)."""
    client = nats.NATS()
    try:
        await client.connect(url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)
    finally:
        await client.close()


def _found_in_files(root, marker: str) -> list[str]:
    needle = marker.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_the_store_cipher_hides_a_conversation_from_the_store_files(tmp_path):
    keys = credentials.Credentials.generate()
    marker = f"marker-{uuid.uuid4().hex}"

    # Control: without the cipher the marker is in the files, so the search below can fail.
    plain = EmbeddedNats(tmp_path / "plain").start()
    try:
        assert await _write_conversation(plain.url, marker) == 3
    finally:
        plain.stop()
    assert _found_in_files(tmp_path / "plain", marker)

    server = EmbeddedNats(tmp_path / "enc", store_key=keys.nats_store_key, password=keys.nats_password).start()
    try:
        assert await _write_conversation(server.url, marker) == 3
        server.stop()  # flushed and closed: everything it will ever write is on disk
        assert _found_in_files(tmp_path / "enc", marker) == []
        assert stat.S_IMODE((tmp_path / "enc" / "nats-server.conf").stat().st_mode) == 0o600  # holds the key

        server.start()  # the same key opens the store again
        nc = await bus.connect(server.url, "test")
        try:
            msg = await nc.jetstream().get_msg(CHAT_STREAM, 1)
            assert marker in codec.decode(msg.data, msg.subject).content
        finally:
            await nc.close()
    finally:
        server.stop()


async def test_embedded_nats_with_a_password_refuses_anonymous_clients(tmp_path):
    server = EmbeddedNats(tmp_path / "nats", password="right-one").start()
    try:
        anonymous = f"nats://{server.host}:{server.port}"
        with pytest.raises(Exception, match=r"(?i)authoriz"):
            await refused_connect(anonymous)
        wrong = credentials.with_credentials(anonymous, "parley", "wrong")
        with pytest.raises(Exception, match=r"(?i)authoriz"):
            await refused_connect(wrong)
        nc = await bus.connect(server.url, "test")
        assert nc.is_connected
        await nc.close()
    finally:
        server.stop()


async def test_embedded_postgres_requires_the_password_also_on_a_folder_made_with_trust(tmp_path):
    old = EmbeddedPostgres(tmp_path / "pg", durable=False).start()  # as every folder before this change
    try:
        conn = await asyncpg.connect(old.dsn)
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
        await conn.close()
    finally:
        old.stop()

    server = EmbeddedPostgres(tmp_path / "pg", durable=False, password="s3cret-Pass").start()
    try:
        assert ":s3cret-Pass@" in server.dsn
        open_dsn = server.dsn.replace(":s3cret-Pass@", "@")
        with pytest.raises(asyncpg.PostgresError, match="password"):
            await asyncpg.connect(open_dsn)
        with pytest.raises(asyncpg.PostgresError, match="password"):
            await asyncpg.connect(open_dsn.replace("postgres@", "postgres:wrong@"))
        conn = await asyncpg.connect(server.dsn)
        assert await conn.fetchval("SELECT x FROM kept") == 7
        await conn.close()
    finally:
        server.stop()


def test_runtime_file_with_credentials_is_private(tmp_path):
    from services import runtime

    path = runtime.Runtime(nats_url="nats://parley:pw@127.0.0.1:1", database_url=None).write(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert runtime.read(tmp_path).nats_url == "nats://parley:pw@127.0.0.1:1"
