"""FastAPI dependencies as ``Annotated`` aliases: ``def route(chat: ChatDep, user: User)``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.edge.auth import Authenticator
from services.edge.bridge import Bridge
from services.edge.chat import Chat
from services.edge.errors import Forbidden
from services.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="JWT whose `sub` is the user id (HS256 or RS256)")


def get_chat(request: Request) -> Chat:
    return request.app.state.chat


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_bridge(request: Request) -> Bridge:
    return request.app.state.bridge


MAX_SEQ = 2**63 - 1
SeqHeader = Annotated[
    int | None, Header(alias="X-Parley-Seq", ge=0, le=MAX_SEQ, description="the newest stream sequence the client saw")
]
SeqQuery = Annotated[int | None, Query(ge=0, le=MAX_SEQ, description="same as the X-Parley-Seq header")]


async def read_after(
    chat: Annotated[Chat, Depends(get_chat)], header: SeqHeader = None, min_seq: SeqQuery = None
) -> int:
    """Read-your-writes across both doors: a read given the sequence the client last saw (a socket
    frame's ``seq``, a write's ``seq``) waits briefly until the projection has applied it."""
    seq = max(header or 0, min_seq or 0)
    if seq:
        await chat.caught_up(seq)
    return seq


def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    auth: Authenticator = request.app.state.auth
    return auth.user_of(credentials.credentials if credentials else None)


def admin_user(request: Request, user: Annotated[str, Depends(current_user)]) -> str:
    """The caller, if allowed to change what every user gets (the LLM configuration)."""
    settings: Settings = request.app.state.settings
    auth: Authenticator = request.app.state.auth
    if auth.enabled and user not in settings.admin_users:
        raise Forbidden("changing the LLM configuration needs an admin (PARLEY_ADMIN_USERS)")
    return user


ChatDep = Annotated[Chat, Depends(get_chat)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BridgeDep = Annotated[Bridge, Depends(get_bridge)]
User = Annotated[str, Depends(current_user)]
Admin = Annotated[str, Depends(admin_user)]
CaughtUp = Annotated[int, Depends(read_after)]
