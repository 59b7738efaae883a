"""Full-text search over one user's conversations: session titles and message content.

PostgreSQL full text (migrations 070, 180): each row carries a generated ``search_vector`` with
both English stems and the plain words, so "running" finds "run" and a word of any language still
matches itself. A message's vector is computed once it has ended (NULL while pending or
streaming: a streaming answer's rewrites stay cheap), so an answer is found once it ends. Queries use ``websearch_to_tsquery`` (quotes, ``or``, ``-word``, never a syntax
error), ranked by ``ts_rank``; snippets come from ``ts_headline`` on the page's rows only.

A snippet is a list of segments, ``(text, matched)``: no markup to sanitize and no character
offsets to disagree about (Python counts code points, JavaScript UTF-16 units).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

# Plain dataclasses: FastAPI renders and documents them as the REST response as they are.
# Private-use characters mark the matches in ts_headline's output; stripped from the text first,
# so content can never forge a highlight.
_START, _STOP = "\ue000", "\ue001"
_MARKS = f'StartSel="{_START}", StopSel="{_STOP}"'
# Short texts are shown whole; long ones as up to two fragments around the matches.
_SHORT = 240
_WHOLE = f"{_MARKS}, HighlightAll=true"
_FRAGMENTS = f'{_MARKS}, MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "'

_QUERY = """
WITH q AS (SELECT websearch_to_tsquery('english', $2) || websearch_to_tsquery('simple', $2) AS query),
hits AS (
    SELECT 'title' AS kind, s.id AS session_id, s.title AS session_title, NULL::uuid AS message_id,
           NULL::text AS role, coalesce(s.title, '') AS body, ts_rank(s.search_vector, q.query) AS rank,
           s.last_activity_at AS at, s.last_seq AS seq
      FROM chat_sessions s, q
     WHERE s.user_id = $1 AND s.is_active AND s.search_vector @@ q.query
    UNION ALL
    SELECT 'message', m.session_id, s.title, m.id, m.role, m.content, ts_rank(m.search_vector, q.query),
           m.created_at, m.created_seq
      FROM messages m JOIN chat_sessions s ON s.id = m.session_id, q
     WHERE s.user_id = $1 AND s.is_active AND m.search_vector @@ q.query
     ORDER BY 7 DESC, 8 DESC, 9 DESC
     LIMIT $3 OFFSET $4
)
SELECT hits.kind, hits.session_id, hits.session_title, hits.message_id, hits.role, hits.rank, hits.at,
       ts_headline('english', clean.body, q.query, CASE WHEN length(clean.body) <= $8 THEN $7 ELSE $9 END)
           AS headline
  FROM hits, q, LATERAL (SELECT replace(replace(hits.body, $5, ''), $6, '') AS body) clean
 ORDER BY hits.rank DESC, hits.at DESC, hits.seq DESC
"""


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    match: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    """One match: a session's title (``message_id`` None) or one of its messages."""

    kind: Literal["title", "message"]
    session_id: str
    session_title: str | None
    message_id: str | None
    role: str | None
    rank: float
    created_at: datetime
    snippet: list[Segment]


def segments(headline: str) -> list[Segment]:
    """Split ts_headline's output at the match markers into plain and matched segments."""
    out: list[Segment] = []
    rest = headline
    while rest:
        start = rest.find(_START)
        if start < 0:
            out.append(Segment(rest))
            break
        if start:
            out.append(Segment(rest[:start]))
        stop = rest.find(_STOP, start + 1)
        if stop < 0:  # unbalanced (cannot happen with ts_headline): keep the text, unmarked
            out.append(Segment(rest[start + 1 :]))
            break
        out.append(Segment(rest[start + 1 : stop], match=True))
        rest = rest[stop + 1 :]
    return _merged(out)


def _merged(parts: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for part in parts:
        if not part.text:
            continue
        if merged and merged[-1].match == part.match:
            merged[-1] = Segment(merged[-1].text + part.text, part.match)
        else:
            merged.append(part)
    return merged


async def search(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: str, q: str, *, page: int = 1, page_size: int = 20
) -> list[SearchHit]:
    """The best matches of ``q`` among ``user_id``'s live sessions, best first."""
    if page < 1 or page_size < 1:
        raise ValueError(f"page and page_size must be >= 1, got {page}, {page_size}")
    rows = await conn.fetch(
        _QUERY, user_id, q, page_size, (page - 1) * page_size, _START, _STOP, _WHOLE, _SHORT, _FRAGMENTS
    )
    return [
        SearchHit(
            kind=row["kind"],
            session_id=str(row["session_id"]),
            session_title=row["session_title"],
            message_id=str(row["message_id"]) if row["message_id"] is not None else None,
            role=row["role"],
            rank=float(row["rank"]),
            created_at=row["at"],
            snippet=segments(row["headline"]),
        )
        for row in rows
    ]
