"""Sessions: create, list, read, change, delete (only the caller's own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.edge.deps import CaughtUp, ChatDep, User
from services.edge.inputs import MAX_PAGE
from services.edge.route import CheckedRoute
from services.edge.schemas import ChatSession, SessionBody

router = APIRouter(prefix="/chat/sessions", tags=["sessions"], route_class=CheckedRoute)


@router.post("", status_code=201, response_model=ChatSession)
async def create_session(chat: ChatDep, user: User, body: SessionBody | None = None) -> dict:
    """Create a session (every field optional). Answers once the read model has it (up to ~2 s)."""
    return await chat.create_session(user, **(body or SessionBody()).command_fields())


@router.get("", response_model=list[ChatSession])
async def list_sessions(
    chat: ChatDep,
    user: User,
    _seen: CaughtUp,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    q: Annotated[str | None, Query(max_length=255, description="filter titles (case-insensitive)")] = None,
) -> list[dict]:
    """The caller's sessions, most recent activity first."""
    return await chat.list_sessions(user, page=page, page_size=page_size, q=q)


@router.get("/{session_id}", response_model=ChatSession)
async def get_session(session_id: str, chat: ChatDep, user: User, _seen: CaughtUp) -> dict:
    return await chat.get_session(user, session_id)


@router.patch("/{session_id}", response_model=ChatSession)
async def update_session(session_id: str, body: SessionBody, chat: ChatDep, user: User) -> dict:
    """Rename, or change provider, model or settings; fields left out stay as they are."""
    return await chat.update_session(user, session_id, **body.command_fields())


@router.delete("/{session_id}", status_code=204)
async def delete_session(session_id: str, chat: ChatDep, user: User) -> Response:
    await chat.delete_session(user, session_id)
    return Response(status_code=204)
