"""Search across the caller's own conversations (titles and message content)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from projections import search as fulltext
from services.edge.access import db
from services.edge.deps import ChatDep, User
from services.edge.errors import Invalid
from services.edge.route import CheckedRoute

router = APIRouter(prefix="/chat", tags=["search"], route_class=CheckedRoute)


@router.get("/search", response_model=list[fulltext.SearchHit])
async def search(
    chat: ChatDep,
    user: User,
    q: Annotated[str, Query(min_length=1, max_length=255, description='words, "a phrase", or, -word')],
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[fulltext.SearchHit]:
    """The caller's sessions and messages matching ``q``, best first, each with a snippet whose
    matched words are marked (``snippet[].match``). Deleted sessions are never searched."""
    if "\x00" in q or any("\ud800" <= ch <= "\udfff" for ch in q):
        raise Invalid("q: NUL and lone surrogates cannot be searched for", field="q")
    if not q.strip():
        raise Invalid("q: give at least one word", field="q")
    return await db(fulltext.search(chat.pool, user, q, page=page, page_size=page_size))
