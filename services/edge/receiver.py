"""A socket's client frames: parsed (``inbound``), applied through ``Chat``, and answered with an
error frame when refused. A bad frame, a refused one or a bug in handling it never closes the
socket: the client hears why on the same queue as every other frame (``control``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from starlette.websockets import WebSocket

from services.edge import frames, inbound, metrics
from services.edge.auth import Authenticator
from services.edge.chat import Chat
from services.edge.errors import BadFrame, EdgeError, Unauthorized


class Receiver:
    __slots__ = (
        "auth",
        "chat",
        "connection_id",
        "control",
        "log",
        "message_id",
        "renew",
        "session_id",
        "user_id",
        "ws",
    )

    def __init__(
        self,
        ws: WebSocket,
        *,
        chat: Chat,
        user_id: str,
        session_id: str,
        message_id: str | None,
        connection_id: str,
        auth: Authenticator | None,
        control: Callable[[dict[str, Any]], None],
        renew: Callable[[float | None], None],
        log: Callable[[], structlog.stdlib.BoundLogger],
    ) -> None:
        self.ws = ws
        self.chat = chat
        self.user_id = user_id
        self.session_id = session_id
        self.message_id = message_id  # set: an answer socket (llm-stream)
        self.connection_id = connection_id
        self.auth = auth
        self.control = control  # queue a frame with no event behind it (pong, error)
        self.renew = renew  # a fresh token's expiry
        self.log = log  # the socket's logger, bound when something is logged

    async def run(self, stopped: Callable[[], bool] = lambda: False) -> None:
        """Apply the client's frames until it disconnects (or ``stopped``: the socket is ending)."""
        while not stopped():
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes")
            if raw is None:
                continue
            try:
                await self.handle(raw)
            except Exception:  # a parser bug must not kill the socket either
                self._internal_error(None)

    async def handle(self, raw: str | bytes) -> None:
        try:
            frame = inbound.parse(raw)
        except BadFrame as exc:
            metrics.count_received("invalid")
            metrics.FRAME_ERRORS.labels(exc.code).inc()
            cmid = inbound.client_message_id_of(raw) if exc.code != "bad_json" else None
            self.control(frames.error(self.session_id, exc.code, exc.detail, client_message_id=cmid))
            return
        metrics.count_received(type(frame).__struct_config__.tag)
        cmid = frame.client_message_id if isinstance(frame, inbound.Send) else None
        try:
            await self._apply(frame)
        except EdgeError as exc:
            metrics.FRAME_ERRORS.labels(exc.code).inc()
            self.control(frames.error(self.session_id, exc.code, exc.detail, client_message_id=cmid))
        except Exception:  # a bug must not kill the socket, nor leave a send without an answer
            self._internal_error(cmid)

    def _internal_error(self, cmid: str | None) -> None:
        """Report a bug in handling a frame (called from an ``except``) and tell the client."""
        metrics.ERRORS.labels("socket_handler").inc()
        self.log().exception("client frame handler failed")
        detail = "internal error; the frame was not applied"
        self.control(frames.error(self.session_id, "internal", detail, client_message_id=cmid))

    async def _apply(self, frame: inbound.ClientFrame) -> None:
        answer_socket = self.message_id is not None
        match frame:
            case inbound.Ping():
                self.control(frames.pong(self.session_id, datetime.now(UTC), self.message_id or ""))
            case inbound.Auth():
                # A fresh token for the same user keeps the socket open past the old one's expiry.
                if self.auth is None:
                    return
                identity = self.auth.identity(frame.token)
                if identity.user_id != self.user_id:
                    raise Unauthorized("the token names another user; open a new socket for them")
                self.renew(identity.expires_at)
            case inbound.Cancel():
                target = frame.message_id or self.message_id
                if target is None:
                    raise BadFrame("invalid_frame", "cancel needs `message_id` on a session socket")
                await self.chat.cancel(self.user_id, self.session_id, target)
            case inbound.Send() | inbound.Regenerate() | inbound.Typing() if answer_socket:
                raise BadFrame("invalid_frame", "an llm-stream socket accepts only `cancel` and `ping`")
            case inbound.Send():
                await self.chat.send(
                    self.user_id,
                    self.session_id,
                    frame.content,
                    frame.client_message_id,
                    parent_id=frame.parent_id,
                    edit_of=frame.edit_of,
                )
            case inbound.Regenerate():
                await self.chat.regenerate(
                    self.user_id, self.session_id, frame.message_id, frame.llm_provider, frame.llm_model
                )
            case inbound.Typing():
                await self.chat.typing(self.user_id, self.session_id, frame.typing, self.connection_id)
            case _:
                raise TypeError(f"unhandled frame {type(frame).__name__}")
