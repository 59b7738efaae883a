"""The read side the edge calls: sessions and messages as plain dicts of ``events.model``'s
``ChatSession`` and ``ChatMessage`` (the one definition of both).

``conn`` may be an ``asyncpg`` Connection or Pool. Ids are UUID strings; an id that is not a
UUID (session ids come from clients) is simply not found. Times are timezone-aware ``datetime``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from events.model import ChatMessage, ChatSession
from projections import branches, store
from projections.chat import CHAT, MESSAGES, SESSIONS
from projections.errors import InvalidCursor
from projections.store import CHANNEL

PROJECTION = CHAT.name
# CHANNEL ("parley_projection") is NOTIFY'd in each batch transaction, payload "<projection>:<seq>".

_SESSION_COLUMNS = store.columns(SESSIONS, ChatSession)
_MESSAGE_COLUMNS = store.columns(MESSAGES, ChatMessage, alias="m.")
# The page's branch, as parameter $4 (None: every message of the session).
_ON = "($4::uuid[] IS NULL OR m.id = ANY($4::uuid[]))"


def as_uuid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (then nothing can match it)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def session_dict(row: asyncpg.Record) -> dict[str, Any]:
    return store.read(SESSIONS, row, ChatSession)


def message_dict(row: asyncpg.Record) -> dict[str, Any]:
    return store.read(MESSAGES, row, ChatMessage)


@asynccontextmanager
async def _connection(
    conn: asyncpg.Connection | asyncpg.Pool, acquire_timeout: float | None = None
) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire(timeout=acquire_timeout) as acquired:
            yield acquired
    else:
        yield conn


def _page(page: int, page_size: int) -> tuple[int, int]:
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    return page_size, (page - 1) * page_size


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_sessions(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: str, *, page: int = 1, page_size: int = 50, q: str | None = None
) -> list[dict[str, Any]]:
    """Active sessions of ``user_id``, most recent activity first; ``q`` filters titles (case-insensitive)."""
    limit, offset = _page(page, page_size)
    if q:
        rows = await conn.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM chat_sessions WHERE user_id = $1 AND is_active AND title ILIKE $4"
            " ORDER BY last_activity_at DESC, id DESC LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
            _like(q),
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM chat_sessions WHERE user_id = $1 AND is_active"
            " ORDER BY last_activity_at DESC, id DESC LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
    return [session_dict(r) for r in rows]


async def count_live_sessions(conn: asyncpg.Connection | asyncpg.Pool, user_id: str) -> int:
    """How many sessions ``user_id`` has not deleted (the sessions-per-user limit)."""
    return await conn.fetchval("SELECT count(*) FROM chat_sessions WHERE user_id = $1 AND is_active", user_id)


async def get_session(conn: asyncpg.Connection | asyncpg.Pool, session_id: str) -> dict[str, Any] | None:
    """One session, deleted ones included (``is_active`` false); None when unknown or not a UUID."""
    sid = as_uuid(session_id)
    if sid is None:
        return None
    row = await conn.fetchrow(f"SELECT {_SESSION_COLUMNS} FROM chat_sessions WHERE id = $1", sid)
    return session_dict(row) if row else None


def _cursor(before: datetime | str) -> datetime | uuid.UUID:
    if isinstance(before, datetime):
        if before.tzinfo is None:
            raise InvalidCursor(f"before: a time needs a timezone (e.g. Z), got {before.isoformat()!r}")
        return before
    text = before.strip()
    if (mid := as_uuid(text)) is not None:
        return mid
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidCursor(f"before: expected a message id or an ISO 8601 time, got {before!r}") from None
    if parsed.tzinfo is None:
        raise InvalidCursor(f"before: a time needs a timezone (e.g. Z), got {before!r}")
    return parsed


async def list_messages(
    conn: asyncpg.Connection | asyncpg.Pool,
    session_id: str,
    *,
    page: int = 1,
    page_size: int = 50,
    before: datetime | str | None = None,
    branch: str | None = None,
    all_branches: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """A page of a session's messages, oldest to newest, and the checkpoint the read reflects.

    Page 1 is the newest ``page_size`` messages; ``before`` (a time, or the id of a message of this
    session) pages further back. Rows and checkpoint come from one snapshot, so a client that
    resumes its socket with ``after_seq`` = the returned seq misses nothing and sees nothing twice.
    A deleted, unknown or non-UUID session yields no messages. Raises ``InvalidCursor`` for a
    ``before`` that is neither a time nor a message of this session.

    Branches (projections/branches.py): the page comes from the branch that ends at the newest
    message, or the one through ``branch`` (a message id); ``all_branches`` reads every message.
    Each message lists its ``sibling_ids`` (itself included) for a "‹ 2 / 3 ›" switcher.
    """
    limit, offset = _page(page, page_size)
    cursor = _cursor(before) if before is not None else None
    sid = as_uuid(session_id)
    async with _connection(conn) as c, c.transaction(isolation="repeatable_read", readonly=True):
        seq = await store.read_checkpoint(c, PROJECTION)
        if sid is None:
            return [], seq
        active = await c.fetchval("SELECT is_active FROM chat_sessions WHERE id = $1", sid)
        if not active:
            return [], seq
        on: list[uuid.UUID] | None = None  # None: every branch
        if not all_branches:
            through = as_uuid(branch) if branch is not None else None
            if branch is not None and through is None:
                raise InvalidCursor(f"branch: not a message id: {branch!r}")
            on = await branches.path(c, sid, through)
            if on is None and through is not None:
                raise InvalidCursor(f"branch: no message {branch} in this session")
            # No head (no messages yet, or rows not written by the projection): every message.
        match cursor:
            case None:
                rows = await c.fetch(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.session_id = $1 AND {_ON}"
                    " ORDER BY m.created_seq DESC LIMIT $2 OFFSET $3",
                    sid,
                    limit,
                    offset,
                    on,
                )
            case uuid.UUID():
                before_seq = await c.fetchval(
                    "SELECT created_seq FROM messages WHERE id = $1 AND session_id = $2", cursor, sid
                )
                if before_seq is None:
                    raise InvalidCursor(f"before: no message {before} in this session")
                rows = await c.fetch(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.session_id = $1 AND {_ON}"
                    " AND m.created_seq < $5 ORDER BY m.created_seq DESC LIMIT $2 OFFSET $3",
                    sid,
                    limit,
                    offset,
                    on,
                    before_seq,
                )
            case datetime():
                rows = await c.fetch(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.session_id = $1 AND {_ON}"
                    " AND m.created_at < $5 ORDER BY m.created_seq DESC LIMIT $2 OFFSET $3",
                    sid,
                    limit,
                    offset,
                    on,
                    cursor,
                )
            case _:
                raise TypeError(f"unexpected cursor {cursor!r}")
        groups = await branches.siblings(c, sid, {r["parent_id"] for r in rows})
    messages = [message_dict(r) for r in reversed(rows)]
    for message in messages:
        message["sibling_ids"] = groups.get(as_uuid(message["parent_id"]), [])
    return messages, seq


async def get_message(conn: asyncpg.Connection | asyncpg.Pool, message_id: str) -> dict[str, Any] | None:
    """One message; None when unknown, not a UUID, or its session was deleted."""
    mid = as_uuid(message_id)
    if mid is None:
        return None
    row = await conn.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages m JOIN chat_sessions s ON s.id = m.session_id"
        " WHERE m.id = $1 AND s.is_active",
        mid,
    )
    return message_dict(row) if row else None


async def checkpoint(conn: asyncpg.Connection | asyncpg.Pool, projection: str = PROJECTION) -> int:
    """The last stream sequence the projection has applied (0: none yet)."""
    return await store.read_checkpoint(conn, projection)


# The edge's interface wants a bool after ``timeout``, not a cancellation: hence the parameter.
async def wait_for_seq(
    pool: asyncpg.Pool | asyncpg.Connection,
    seq: int,
    timeout: float,  # noqa: ASYNC109
    *,
    projection: str = PROJECTION,
) -> bool:
    """Wait until ``projection`` has applied stream sequence ``seq``; False after ``timeout`` seconds.

    Read-your-writes for the edge: after publishing an event (its ack gives ``seq``), wait for
    this before reading. The worker NOTIFYs ``CHANNEL`` in each batch transaction; polling every
    half second backs that up (a notification can be missed across a reconnect).
    """
    if await checkpoint(pool, projection) >= seq:
        return True
    deadline = time.monotonic() + timeout
    woken = asyncio.Event()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        name, _, value = payload.rpartition(":")
        if name == projection and value.isdigit() and int(value) >= seq:
            woken.set()

    try:
        async with _connection(pool, acquire_timeout=timeout) as c:
            await c.add_listener(CHANNEL, on_notify)
            try:
                # Checked again after LISTEN: a commit between the first check and LISTEN is not missed.
                while True:
                    woken.clear()  # before the check, so a notification during it is kept
                    if await store.read_checkpoint(c, projection) >= seq:
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    try:
                        await asyncio.wait_for(woken.wait(), min(0.5, remaining))
                    except TimeoutError:
                        pass
            finally:
                await c.remove_listener(CHANNEL, on_notify)
    except TimeoutError:  # no pool connection free within the timeout
        return False
