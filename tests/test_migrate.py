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
