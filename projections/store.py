"""Postgres side of the chat projection: load the rows a batch touches, write the changed ones
(one upsert per row, however many events changed it), checkpoints, dead letters, reset.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from projections.chat import MessageRow, Rows, SessionRow

CHANNEL = "parley_projection"  # NOTIFY channel; payload "<projection>:<last applied seq>"

_SESSION_FIELDS = tuple(SessionRow.__struct_fields__)
_MESSAGE_FIELDS = tuple(MessageRow.__struct_fields__)
_UUID_FIELDS = frozenset({"id", "session_id", "reply_to"})
_JSON_FIELDS = frozenset({"settings", "metadata"})
_TEXT_FIELDS = frozenset({"title", "content", "error_message"})


def _upsert(table: str, fields: tuple[str, ...]) -> str:
    params = ", ".join(f"${i}::jsonb" if f in _JSON_FIELDS else f"${i}" for i, f in enumerate(fields, 1))
    updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in fields if f != "id")
    return f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({params}) ON CONFLICT (id) DO UPDATE SET {updates}"


_UPSERT_SESSION = _upsert("chat_sessions", _SESSION_FIELDS)
_UPSERT_MESSAGE = _upsert("messages", _MESSAGE_FIELDS)


def _to_db(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in _UUID_FIELDS:
        return uuid.UUID(value)
    if field in _JSON_FIELDS:
        # sort_keys: the same dict is always the same text (rebuild compares whole tables).
        return json.dumps(value, sort_keys=True).replace("\\u0000", "\\ufffd")
    if field in _TEXT_FIELDS:
        # PostgreSQL text cannot hold NUL; a model can emit one. Stored as U+FFFD, never lost silently.
        return value.replace("\x00", "\ufffd")
    return value


def _params(row: SessionRow | MessageRow, fields: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(_to_db(f, getattr(row, f)) for f in fields)


def _from_db(record: asyncpg.Record, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {}
    for f in fields:
        value = record[f]
        if f in _UUID_FIELDS and value is not None:
            value = str(value)
        elif f in _JSON_FIELDS:
            value = json.loads(value) if isinstance(value, str) else (value or {})
        values[f] = value
    return values


async def load(conn: asyncpg.Connection, session_ids: Iterable[str], message_ids: Iterable[str]) -> Rows:
    """The rows with these ids (canonical UUID strings) that exist."""
    sids = [uuid.UUID(s) for s in set(session_ids)]
    mids = [uuid.UUID(m) for m in set(message_ids)]
    sessions = {}
    messages = {}
    if sids:
        for r in await conn.fetch(
            f"SELECT {', '.join(_SESSION_FIELDS)} FROM chat_sessions WHERE id = ANY($1::uuid[])", sids
        ):
            row = SessionRow(**_from_db(r, _SESSION_FIELDS))
            sessions[row.id] = row
    if mids:
        for r in await conn.fetch(
            f"SELECT {', '.join(_MESSAGE_FIELDS)} FROM messages WHERE id = ANY($1::uuid[])", mids
        ):
            row = MessageRow(**_from_db(r, _MESSAGE_FIELDS))
            messages[row.id] = row
    return Rows(sessions, messages)


async def write(
    conn: asyncpg.Connection, rows: Rows, sessions: Iterable[str] | None = None, messages: Iterable[str] | None = None
) -> None:
    """Upsert the changed rows (or just the ids given); sessions first, messages reference them."""
    sids = sorted(rows.changed_sessions if sessions is None else sessions)
    mids = sorted(rows.changed_messages if messages is None else messages)
    if sids:
        await conn.executemany(_UPSERT_SESSION, [_params(rows.sessions[s], _SESSION_FIELDS) for s in sids])
    if mids:
        await conn.executemany(_UPSERT_MESSAGE, [_params(rows.messages[m], _MESSAGE_FIELDS) for m in mids])


async def lock_checkpoint(conn: asyncpg.Connection, projection: str) -> int:
    """The checkpoint, row-locked for this transaction (created at 0 if missing)."""
    await conn.execute(
        "INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ($1, 0)"
        " ON CONFLICT (projection) DO NOTHING",
        projection,
    )
    return await conn.fetchval(
        "SELECT last_stream_seq FROM projection_checkpoints WHERE projection = $1 FOR UPDATE", projection
    )


async def read_checkpoint(conn: asyncpg.Connection | asyncpg.Pool, projection: str) -> int:
    seq = await conn.fetchval("SELECT last_stream_seq FROM projection_checkpoints WHERE projection = $1", projection)
    return seq or 0


async def save_checkpoint(conn: asyncpg.Connection, projection: str, seq: int, last_event_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE projection_checkpoints SET last_stream_seq = $2, last_event_at = COALESCE($3, last_event_at),"
        " updated_at = now() WHERE projection = $1",
        projection,
        seq,
        last_event_at,
    )
    # Delivered at commit, so a waiter that wakes up reads rows that include ``seq``.
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{projection}:{seq}")


async def record_dead_letters(
    conn: asyncpg.Connection, projection: str, letters: list[tuple[int, str, bytes, str]]
) -> None:
    """``letters``: (stream seq, subject, payload, reason)."""
    if letters:
        await conn.executemany(
            "INSERT INTO projection_dead_letters (projection, stream_seq, subject, payload, reason)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (projection, stream_seq) DO NOTHING",
            [(projection, seq, subject, payload, reason) for seq, subject, payload, reason in letters],
        )


async def reset(conn: asyncpg.Connection, projection: str) -> None:
    """Empty the read models, dead letters and checkpoint of ``projection`` (one transaction)."""
    async with conn.transaction():
        # TRUNCATE waits for a running batch to commit; the worker then sees its checkpoint moved.
        await conn.execute("TRUNCATE messages, chat_sessions")
        await conn.execute("DELETE FROM projection_dead_letters WHERE projection = $1", projection)
        await conn.execute(
            "INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ($1, 0)"
            " ON CONFLICT (projection) DO UPDATE SET last_stream_seq = 0, last_event_at = NULL, updated_at = now()",
            projection,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{projection}:0")
