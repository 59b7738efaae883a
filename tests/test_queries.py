"""The edge's read side on a real database: field names of docs/protocol.md, paging, snapshots."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from projections import batch, queries
from projections.chat import CHAT
from projections.errors import InvalidCursor
from tests.test_batch import envelopes
from tests.test_chat import Conversation

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

SESSION_FIELDS = {
    "id",
    "title",
    "user_id",
    "llm_provider",
    "llm_model",
    "created_at",
    "updated_at",
    "is_active",
    "message_count",
    "settings",
    "last_activity_at",
    "last_seq",
}
MESSAGE_FIELDS = {
    "id",
    "session_id",
    "role",
    "content",
    "created_at",
    "updated_at",
    "is_streaming",
    "llm_provider",
    "llm_model",
    "response_time_ms",
    "tokens_used",
    "error_message",
    "metadata",
    "status",
    "reply_to",
    "client_message_id",
    "time_to_first_token_ms",
    "prompt_tokens",
    "completion_tokens",
    "error_kind",
    "attempt",
    "last_seq",
    "parent_id",
    "sibling_ids",
    "reasoning",
}


async def insert_session(db, *, user="u1", title="t", seq=1, active=True, at=T0) -> str:
    sid = uuid.uuid4()
    await db.execute(
        "INSERT INTO chat_sessions (id, user_id, title, llm_provider, llm_model, created_at, updated_at, is_active,"
        " settings, last_activity_at, created_seq, last_seq)"
        " VALUES ($1, $2, $3, 'local', 'm', $4, $4, $5, '{\"temperature\": 0.5}', $4, $6, $6)",
        sid,
        user,
        title,
        at,
        active,
        seq,
    )
    return str(sid)


async def insert_message(db, sid: str, seq: int, *, status="complete", role="user", content=None) -> str:
    mid = uuid.uuid4()
    await db.execute(
        "INSERT INTO messages (id, session_id, role, content, created_at, updated_at, status, created_seq, last_seq)"
        " VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $7)",
        mid,
        uuid.UUID(sid),
        role,
        content if content is not None else f"m{seq}",
        T0 + timedelta(seconds=seq),
        status,
        seq,
    )
    return str(mid)


async def set_checkpoint(db, seq: int) -> None:
    await db.execute(
        "INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ('chat', $1)"
        " ON CONFLICT (projection) DO UPDATE SET last_stream_seq = $1",
        seq,
    )


async def test_sessions_have_the_protocol_fields_and_order(db):
    old = await insert_session(db, title="Old talk", at=T0)
    new = await insert_session(db, title="New talk", at=T0 + timedelta(hours=1))
    await insert_session(db, title="gone", active=False, at=T0 + timedelta(hours=2))
    await insert_session(db, user="someone else", at=T0 + timedelta(hours=3))

    listed = await queries.list_sessions(db, "u1")
    assert [s["id"] for s in listed] == [new, old]
    assert set(listed[0]) == SESSION_FIELDS
    assert listed[0]["settings"] == {"system_prompt": None, "temperature": 0.5, "top_p": None, "max_tokens": None}
    assert [s["id"] for s in await queries.list_sessions(db, "u1", page=2, page_size=1)] == [old]
    assert [s["id"] for s in await queries.list_sessions(db, "u1", q="OLD")] == [old]
    assert await queries.list_sessions(db, "u1", q="%") == []  # LIKE wildcards are literal
    with pytest.raises(ValueError, match="page"):
        await queries.list_sessions(db, "u1", page=0)


async def test_get_session_includes_deleted_and_tolerates_bad_ids(db):
    gone = await insert_session(db, active=False)
    async with db.acquire() as conn:  # a Connection works as well as a Pool
        found = await queries.get_session(conn, gone)
    assert found is not None and found["is_active"] is False
    assert await queries.get_session(db, str(uuid.uuid4())) is None
    assert await queries.get_session(db, "not-a-uuid") is None


async def test_messages_page_backwards_with_the_checkpoint(db):
    sid = await insert_session(db)
    ids = [await insert_message(db, sid, seq) for seq in range(10, 20)]
    await set_checkpoint(db, 19)

    page, seq = await queries.list_messages(db, sid, page_size=4)
    assert seq == 19
    assert [m["id"] for m in page] == ids[-4:]  # newest four, oldest first
    assert set(page[0]) == MESSAGE_FIELDS
    page2, _ = await queries.list_messages(db, sid, page=2, page_size=4)
    assert [m["id"] for m in page2] == ids[2:6]
    by_id, _ = await queries.list_messages(db, sid, page_size=3, before=ids[5])
    assert [m["id"] for m in by_id] == ids[2:5]
    by_time, _ = await queries.list_messages(db, sid, page_size=3, before=T0 + timedelta(seconds=15))
    assert [m["id"] for m in by_time] == ids[2:5]
    by_text, _ = await queries.list_messages(db, sid, page_size=3, before="2026-01-02T03:04:20Z")
    assert [m["id"] for m in by_text] == ids[2:5]


async def test_bad_cursors_are_refused_clearly(db):
    sid = await insert_session(db)
    await insert_message(db, sid, 3)
    with pytest.raises(InvalidCursor, match="message id or an ISO 8601 time"):
        await queries.list_messages(db, sid, before="yesterday")
    with pytest.raises(InvalidCursor, match="no message"):
        await queries.list_messages(db, sid, before=str(uuid.uuid4()))
    with pytest.raises(InvalidCursor, match="timezone"):
        await queries.list_messages(db, sid, before="2026-01-02T03:04:20")


async def test_deleted_unknown_and_malformed_sessions_have_no_messages(db):
    gone = await insert_session(db, active=False)
    mid = await insert_message(db, gone, 5)
    await set_checkpoint(db, 5)
    assert await queries.list_messages(db, gone) == ([], 5)
    assert await queries.list_messages(db, "../etc") == ([], 5)
    assert await queries.list_messages(db, str(uuid.uuid4())) == ([], 5)
    assert await queries.get_message(db, mid) is None
    assert await queries.get_message(db, "nope") is None


async def test_message_fields(db):
    sid = await insert_session(db)
    mid = await insert_message(db, sid, 7, status="streaming", role="assistant", content="so far")
    msg = await queries.get_message(db, mid)
    assert msg is not None
    assert (msg["status"], msg["is_streaming"], msg["content"], msg["metadata"]) == ("streaming", True, "so far", {})
    assert msg["session_id"] == sid and msg["last_seq"] == 7


async def test_checkpoint_and_wait_for_seq(db):
    assert await queries.checkpoint(db) == 0
    assert await queries.wait_for_seq(db, 0, 0.1) is True
    assert await queries.wait_for_seq(db, 3, 0.2) is False

    async def advance():
        await asyncio.sleep(0.2)
        async with db.acquire() as conn, conn.transaction():
            await set_checkpoint(conn, 3)
            await conn.execute("SELECT pg_notify($1, 'chat:3')", queries.CHANNEL)

    task = asyncio.create_task(advance())
    assert await queries.wait_for_seq(db, 3, 5.0) is True
    await task
    assert await queries.checkpoint(db) == 3


async def test_a_read_is_one_snapshot_of_rows_and_checkpoint(db):
    """While batches commit, every read's rows are exactly the events up to the seq it returns."""
    c = Conversation()
    events = [c.created()] + [c.submitted(f"m{i}") for i in range(120)]
    envs = envelopes(events)
    reads = []

    async def write():
        async with db.acquire() as conn:
            for start in range(0, len(envs), 3):
                await batch.apply(conn, CHAT, envs[start : start + 3])
                await asyncio.sleep(0)

    async def read():
        while len(reads) < 400:
            reads.append(await queries.list_messages(db, c.sid, page_size=500))
            await asyncio.sleep(0)

    writer = asyncio.create_task(write())
    await read()
    await writer
    for page, seq in reads:
        # seq 1 is session.created, then one message per seq: the page holds exactly seqs 2..seq.
        assert [m["content"] for m in page] == [f"m{i}" for i in range(max(seq - 1, 0))]
        assert all(m["last_seq"] <= seq for m in page)
    assert len({seq for _, seq in reads}) > 3  # the reads really interleaved with the writes


async def test_wait_for_seq_on_a_connection(db, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        waiter = asyncio.create_task(queries.wait_for_seq(conn, 2, 5.0))
        await asyncio.sleep(0.1)
        async with db.acquire() as other, other.transaction():
            await set_checkpoint(other, 2)
            await other.execute("SELECT pg_notify($1, 'chat:2')", queries.CHANNEL)
        assert await waiter is True
        assert await queries.checkpoint(conn) == 2
    finally:
        await conn.close()
