"""Events to client frames (docs/protocol.md). The ChatSession/ChatMessage a frame carries come
from ``events.lifecycle`` (the one fold). Pure: the same event always yields the same frame.

A frame is the original plan's ``WebSocketMessage`` plus ``seq``:
``{"session_id", "message_id", "type", "data", "seq"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from events import lifecycle
from events.schema import (
    ChatEvent,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    SessionUpdated,
)

NEW_MESSAGE = "newMessage"
MESSAGE_UPDATE = "messageUpdate"
TYPING = "typing"
ERROR = "error"
CONNECTION_STATUS = "connectionStatus"

_encoder = msgspec.json.Encoder()


def frame(type_: str, session_id: str, data: dict[str, Any], *, message_id: str = "", seq: int | None = None) -> dict:
    return {"session_id": session_id, "message_id": message_id, "type": type_, "data": data, "seq": seq}


def encode(value: Any) -> str:
    return _encoder.encode(value).decode()


def plain(value: Any) -> Any:
    """A read-model Struct as the plain dict a frame carries (datetimes kept for the encoder)."""
    return msgspec.to_builtins(value, builtin_types=(datetime,))


def session_from_created(event: SessionCreated, seq: int | None) -> dict[str, Any]:
    """The ChatSession a ``session.created`` event describes (before any message)."""
    return plain(lifecycle.session(event, seq))


def user_message(event: MessageSubmitted, seq: int | None) -> dict[str, Any]:
    return plain(lifecycle.user_message(event, seq))


def message_id_of(event: ChatEvent) -> str:
    return getattr(event, "message_id", "")


def for_event(event: ChatEvent, seq: int) -> dict[str, Any]:
    """The frame a stored event becomes: the same for every reader, live or replayed."""
    sid = event.session_id
    match event:
        case SessionCreated():
            data = {"status": "session_updated", "session": session_from_created(event, seq)}
            return frame(CONNECTION_STATUS, sid, data, seq=seq)
        case SessionUpdated():
            # A patch (the fields that changed): readers merge it into the session they hold.
            data = {"status": "session_updated", "session": plain(lifecycle.session_changes(event, seq))}
            return frame(CONNECTION_STATUS, sid, data, seq=seq)
        case SessionDeleted():
            return frame(CONNECTION_STATUS, sid, {"status": "session_deleted"}, seq=seq)
        case MessageSubmitted():
            return frame(NEW_MESSAGE, sid, user_message(event, seq), message_id=event.message_id, seq=seq)
        case GenerationRequested():
            return frame(NEW_MESSAGE, sid, plain(lifecycle.answer(event, seq)), message_id=event.message_id, seq=seq)
        case GenerationStarted():
            data = {
                "event": "started",
                "attempt": event.attempt,
                "llm_provider": event.llm_provider,
                "llm_model": event.llm_model,
            }
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationChunk():
            data = {
                "event": "token",
                "delta": event.delta,
                "index": event.index,
                "token_index": event.token_index,
                "token_count": event.token_count,
                "attempt": event.attempt,
            }
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationRestarted():
            data = {"event": "restarted", "attempt": event.attempt, "reason": event.reason}
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationCompleted():
            data = {"event": "completed", "message": plain(lifecycle.ended(event, seq))}
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationFailed():
            data = {
                "event": "failed",
                "error_kind": event.error_kind,
                "error_message": event.error_message,
                "partial_content": event.partial_content,
                "message": plain(lifecycle.ended(event, seq)),
            }
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationCancelRequested():
            data = {"event": "cancel_requested"}
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationCancelled():
            data = {
                "event": "cancelled",
                "partial_content": event.partial_content,
                "message": plain(lifecycle.ended(event, seq)),
            }
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case _:
            raise TypeError(f"no frame for {type(event).__name__}")


def is_terminal(event: ChatEvent) -> bool:
    return isinstance(event, GenerationCompleted | GenerationFailed | GenerationCancelled)


def connected(
    session_id: str, connection_id: str, user_id: str, after_seq: int | None, last_seq: int | None, message_id: str = ""
) -> dict:
    data = {
        "status": "connected",
        "connection_id": connection_id,
        "user_id": user_id,
        "after_seq": after_seq,
        "last_seq": last_seq,
    }
    return frame(CONNECTION_STATUS, session_id, data, message_id=message_id)


def live(session_id: str, last_seq: int | None, message_id: str = "") -> dict:
    return frame(CONNECTION_STATUS, session_id, {"status": "live", "last_seq": last_seq}, message_id=message_id)


def pong(session_id: str, server_time: datetime, message_id: str = "") -> dict:
    return frame(CONNECTION_STATUS, session_id, {"status": "pong", "server_time": server_time}, message_id=message_id)


def typing(session_id: str, user_id: str, typing_: bool, connection_id: str) -> dict:
    return frame(TYPING, session_id, {"user_id": user_id, "typing": typing_, "connection_id": connection_id})


def error(
    session_id: str, code: str, message: str, *, client_message_id: str | None = None, message_id: str = ""
) -> dict:
    data: dict[str, Any] = {"code": code, "message": message}
    if client_message_id is not None:
        data["client_message_id"] = client_message_id
    return frame(ERROR, session_id, data, message_id=message_id)
