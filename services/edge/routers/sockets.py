"""The two WebSocket endpoints. Authentication: ``?token=<JWT>``, an ``Authorization: Bearer``
header, or a first frame ``{"type": "auth", "token": ...}`` within 5 s. Close codes: see
``services.edge.connection`` and docs/protocol.md.

They are not FastAPI routes: ``app.Edge`` hands a socket to its endpoint (``find``) before
FastAPI's middleware stack, since a socket would hold every layer of it for its whole life."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import msgspec
from fastapi import WebSocket

from services import logs
from services.edge import inbound, inputs, metrics
from services.edge.auth import Authenticator, Identity, bearer
from services.edge.chat import Chat
from services.edge.connection import (
    CLOSE_BAD_REQUEST,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
    Connection,
    close,
)
from services.edge.errors import BadFrame, NotFound, RateLimited, Unauthorized, Unavailable
from services.edge.sender import CLOSE_INTERNAL, CLOSE_TRY_AGAIN

log = logs.get("edge.socket")

AUTH_FRAME_TIMEOUT_S = 5.0


async def _user(ws: WebSocket, auth: Authenticator) -> Identity:
    """The caller, from the URL, the handshake header or a first ``auth`` frame."""
    token = ws.query_params.get("token") or bearer(ws.headers.get("authorization"))
    if token is None and auth.enabled:
        try:
            message = await asyncio.wait_for(ws.receive(), AUTH_FRAME_TIMEOUT_S)
        except TimeoutError:
            raise Unauthorized("no token: send ?token= or a first frame {type: auth}") from None
        raw = message.get("text") or message.get("bytes")
        if message["type"] == "websocket.disconnect" or raw is None:
            raise Unauthorized("no token")
        try:
            frame = inbound.parse(raw)
        except BadFrame as exc:
            raise Unauthorized(f"the first frame must be an auth frame: {exc.detail}") from None
        if not isinstance(frame, inbound.Auth):
            raise Unauthorized("the first frame must be {type: auth, token}")
        token = frame.token
    return auth.identity(token)


async def _internal(ws: WebSocket) -> None:
    """A bug while opening a socket: logged with its traceback, the client told to retry."""
    metrics.ERRORS.labels("socket_open").inc()
    log.exception("socket open failed", path=ws.url.path)
    await close(ws, CLOSE_INTERNAL, "internal error; reconnect with after_seq")


# Why a socket is refused while it opens, and the close code that tells the client so.
_REFUSALS = (
    (Unauthorized, CLOSE_UNAUTHORIZED),
    (BadFrame, CLOSE_BAD_REQUEST),
    (NotFound, CLOSE_NOT_FOUND),
    (Unavailable, CLOSE_TRY_AGAIN),
    (RateLimited, CLOSE_TOO_MANY),
)


async def _refuse(ws: WebSocket, exc: Exception) -> None:
    """Close a socket that could not open; anything unexpected is a bug (logged, 1011)."""
    for kind, code in _REFUSALS:
        if isinstance(exc, kind):
            return await close(ws, code, exc.detail)
    return await _internal(ws)


def _open_socket(ws: WebSocket, user: str) -> None:
    """Count the socket against its user's limit, or ``RateLimited`` (close 4429)."""
    refusal = ws.app.state.quota.open_socket(user)
    if refusal is not None:
        raise RateLimited(refusal.reason)


@asynccontextmanager
async def _counted(ws: WebSocket, user: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        ws.app.state.quota.close_socket(user)


def _after_seq(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("after_seq")
    if raw is None or raw == "":
        return None
    try:
        value = msgspec.json.decode(raw, type=int)
    except msgspec.DecodeError:
        raise BadFrame("invalid_frame", f"after_seq must be a non-negative integer, got {raw!r}") from None
    if not 0 <= value <= inputs.MAX_INT:  # a stream sequence is a 64-bit number
        raise BadFrame("invalid_frame", f"after_seq must be a non-negative 64-bit integer, got {raw!r}")
    return value


async def session_socket(ws: WebSocket, session_id: str) -> None:
    """Every event of one session: replay after ``after_seq``, then live. Client frames: send,
    cancel, regenerate, typing, ping."""
    state = ws.app.state
    chat: Chat = state.chat
    await ws.accept()
    try:
        identity = await _user(ws, state.auth)
        user = identity.user_id
        after_seq = _after_seq(ws)
        session_id = (await chat.access.session(user, session_id)).session_id  # canonical form
        _open_socket(ws, user)
    except Exception as exc:
        return await _refuse(ws, exc)
    async with _counted(ws, user):
        await Connection(
            ws,
            chat=chat,
            bridge=state.bridge,
            user_id=user,
            auth=state.auth,
            expires_at=identity.expires_at,
            session_id=session_id,
            after_seq=after_seq,
            queue_size=state.settings.ws_queue_size,
        ).run()


# How long an answer socket waits for an answer id it does not know yet (sent a moment ago
# through another edge, not yet seen here nor in the projection).
ANSWER_WAIT_S = 2.0


async def answer_socket(ws: WebSocket, message_id: str) -> None:
    """One answer from its request: replay, then live, closed with 1000 after its end."""
    state = ws.app.state
    chat: Chat = state.chat
    await ws.accept()
    try:
        identity = await _user(ws, state.auth)
        user = identity.user_id
        _, ref = await chat.access.answer(user, message_id, wait=ANSWER_WAIT_S)
        _open_socket(ws, user)
    except Exception as exc:
        return await _refuse(ws, exc)
    # From the request on (its sequence when this edge saw it; else the session's start).
    after_seq = ref.seq - 1 if ref.seq is not None else 0
    async with _counted(ws, user):
        await Connection(
            ws,
            chat=chat,
            bridge=state.bridge,
            user_id=user,
            auth=state.auth,
            expires_at=identity.expires_at,
            session_id=ref.session_id,
            after_seq=after_seq,
            queue_size=state.settings.ws_queue_size,
            message_id=ref.message_id,  # canonical form: frames carry only that
        ).run()


Endpoint = Callable[[WebSocket, str], Awaitable[None]]

# Path (below the API prefix) up to the one parameter, which is a whole path segment.
ENDPOINTS: dict[str, Endpoint] = {"/chat/websocket/": session_socket, "/chat/llm-stream/": answer_socket}


def find(path: str) -> tuple[Endpoint, str] | None:
    """The endpoint of a socket path below the API prefix, with its parameter; None if none."""
    for prefix, endpoint in ENDPOINTS.items():
        if path.startswith(prefix):
            value = path[len(prefix) :]
            return (endpoint, value) if value and "/" not in value else None
    return None
