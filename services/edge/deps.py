"""FastAPI dependencies as ``Annotated`` aliases: ``def route(chat: ChatDep, user: User)``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
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
