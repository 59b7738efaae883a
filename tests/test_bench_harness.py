"""The benchmark's own NATS and PostgreSQL (services/bench/harness.py ``Infra``): started embedded
with durable settings, migrated, the stream in place; stopped cleanly."""

from __future__ import annotations

import asyncpg

from events.streams import CHAT_STREAM
from projections import migrate
from services import bus
from services.bench.harness import Infra
from services.embedded import port_open


async def test_infra_starts_migrated_durable_servers_and_stops_them(tmp_path):
    infra = await Infra(tmp_path / "infra").start()
    try:
        nc = await bus.connect(infra.nats_url, "test")
        try:
            info = await nc.jetstream().stream_info(CHAT_STREAM)
            assert info.config.storage == "file"
        finally:
            await nc.close()
        conn = await asyncpg.connect(infra.database_url)
        try:
            applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            assert applied == {m.version for m in migrate.available()}
            assert await conn.fetchval("SHOW fsync") == "on"  # like production, unlike the tests' server
        finally:
            await conn.close()
    finally:
        infra.stop()
    assert not port_open("127.0.0.1", infra.nats.port)
    assert not port_open("127.0.0.1", infra.postgres.port)
