"""Reading the conversation tree (events/tree.py) out of ``messages.parent_id``.

A branch is the path from the root to a leaf. The one a client sees by default ends at the
session's newest message (``chat_sessions.head_id``, always a leaf); ``branch=X`` asks for the
branch through message X that ends at X's most recent descendant (the continuation last worked
on). Both are plain recursive CTEs over the ``(parent_id, created_seq)`` index.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import asyncpg

_NEWEST_BELOW = """
WITH RECURSIVE below AS (
    SELECT id, created_seq FROM messages WHERE id = $2 AND session_id = $1
    UNION ALL
    SELECT m.id, m.created_seq FROM messages m JOIN below b ON m.parent_id = b.id WHERE m.session_id = $1
)
SELECT id FROM below ORDER BY created_seq DESC LIMIT 1
"""

_PATH_TO = """
WITH RECURSIVE path AS (
    SELECT id, parent_id, 0 AS depth FROM messages WHERE id = $2 AND session_id = $1
    UNION ALL
    SELECT m.id, m.parent_id, p.depth + 1 FROM messages m JOIN path p ON m.id = p.parent_id
     WHERE m.session_id = $1 AND p.depth < 100000
)
SELECT array_agg(id) FROM path
"""


async def path(conn: asyncpg.Connection, session_id: uuid.UUID, through: uuid.UUID | None) -> list[uuid.UUID] | None:
    """The ids on the branch through ``through`` (default: the newest message), or None when the
    session has no such message."""
    if through is None:
        leaf = await conn.fetchval("SELECT head_id FROM chat_sessions WHERE id = $1", session_id)
    else:
        leaf = await conn.fetchval(_NEWEST_BELOW, session_id, through)
    if leaf is None:
        return None
    return list(await conn.fetchval(_PATH_TO, session_id, leaf) or [])


async def siblings(
    conn: asyncpg.Connection, session_id: uuid.UUID, parents: set[uuid.UUID | None]
) -> dict[uuid.UUID | None, list[str]]:
    """For each parent, its children's ids in creation order (the "‹ 2 / 3 ›" of a switcher)."""
    if not parents:
        return {}
    rows = await conn.fetch(
        "SELECT parent_id, id FROM messages WHERE session_id = $1"
        " AND (parent_id = ANY($2::uuid[]) OR (parent_id IS NULL AND $3)) ORDER BY created_seq",
        session_id,
        [p for p in parents if p is not None],
        None in parents,
    )
    found: dict[uuid.UUID | None, list[str]] = defaultdict(list)
    for row in rows:
        found[row["parent_id"]].append(str(row["id"]))
    return found


def with_siblings(messages: list[dict]) -> list[dict]:
    """``messages`` (every branch, in stream order, as ``queries.message_dict`` renders them) with
    their ``sibling_ids`` filled in, as a REST read with ``branches=all`` gives them."""
    groups: dict[str | None, list[str]] = defaultdict(list)
    for message in messages:
        groups[message["parent_id"]].append(message["id"])
    return [{**message, "sibling_ids": list(groups[message["parent_id"]])} for message in messages]
