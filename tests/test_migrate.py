"""Versioned SQL migrations apply once, in order, and the schema has what reads need."""

from __future__ import annotations

import asyncio

import asyncpg

from projections import migrate


async def test_migrations_apply_once(database_url):
    # The fixture already migrated: running again applies nothing, even from two processes at once.
    again = await asyncio.gather(migrate.migrate(database_url), migrate.migrate(database_url))
    assert again == [[], []]
    conn = await asyncpg.connect(database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in migrate.available()]
    finally:
        await conn.close()


async def test_role_check_matches_the_plan(db):
    await db.execute(
        "INSERT INTO chat_sessions (id, user_id, llm_provider, llm_model, created_at, updated_at, last_activity_at,"
        " created_seq, last_seq) VALUES (gen_random_uuid(), 'u', 'local', 'm', now(), now(), now(), 1, 1)"
    )
    sid = await db.fetchval("SELECT id FROM chat_sessions")
    try:
        await db.execute(
            "INSERT INTO messages (id, session_id, role, content, created_at, updated_at, created_seq, last_seq)"
            " VALUES (gen_random_uuid(), $1, 'robot', 'x', now(), now(), 1, 1)",
            sid,
        )
    except asyncpg.CheckViolationError:
        pass
    else:
        raise AssertionError("role 'robot' was accepted")


async def test_reads_are_index_scans(db):
    # Planner choices depend on statistics; with sequential scans off, a missing index shows as Seq Scan.
    async with db.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT * FROM messages WHERE session_id = gen_random_uuid() AND created_seq < 100"
                " ORDER BY created_seq DESC LIMIT 50"
            )
        )
        assert "Index Scan" in plan and "Seq Scan" not in plan, plan
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT * FROM chat_sessions WHERE user_id = 'u' AND is_active"
                " ORDER BY last_activity_at DESC, id DESC LIMIT 20"
            )
        )
        assert "Index Scan" in plan and "Seq Scan" not in plan, plan


async def test_a_database_from_before_search_on_end_keeps_its_search_results(postgres):
    # Migration 180 computes a message's search vector at its end: an older database's ended
    # messages keep the vector (and search results) they had; a streaming answer has none yet.
    from projections import batch, search
    from projections.chat import CHAT
    from tests.conftest import _create_database, _drop_database
    from tests.test_batch import envelopes
    from tests.test_chat import Conversation

    name = await _create_database(postgres)
    conn = await asyncpg.connect(postgres.dsn_for(name))
    try:
        await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        for m in migrate.available():
            if m.version < 180:
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", m.version, m.name)
        c = Conversation("erin")
        events, _, answer = c.exchange("How do zebras sleep?", ["Standing ", "up, ", "mostly."])
        q = c.submitted("And giraffes?")
        open_ = c.requested(q.message_id)
        events += [q, open_, c.started(open_.message_id), *c.chunks(open_.message_id, ["Giraffes ", "nap"])]
        await batch.apply(conn, CHAT, envelopes([c.created(title="Sleep"), *events]))
        vectors = "SELECT id, search_vector::text FROM messages ORDER BY id"
        before = {r["id"]: r["search_vector"] for r in await conn.fetch(vectors)}
        found = {q: await search.search(conn, "erin", q) for q in ("zebras", "standing", "sleep", "giraffes")}
        assert [h.message_id for h in found["standing"]] == [answer]

        assert [m.version for m in await migrate.apply(conn)] == [
            m.version for m in migrate.available() if m.version >= 180
        ]
        after = {r["id"]: r["search_vector"] for r in await conn.fetch(vectors)}
        streaming = await conn.fetchval("SELECT id FROM messages WHERE status = 'streaming'")
        assert after.pop(streaming) is None and before.pop(streaming) is not None
        assert after == before
        # Search finds what it found before but the streaming answer (until it ends).
        assert open_.message_id in {h.message_id for h in found["giraffes"]}
        for q, hits in found.items():
            assert await search.search(conn, "erin", q) == [h for h in hits if h.message_id != open_.message_id]
    finally:
        await conn.close()
        await _drop_database(postgres.admin_dsn, name)
