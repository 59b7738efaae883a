"""Events to client frames (docs/protocol.md), and the ChatSession/ChatMessage objects built from
events. Pure: no I/O, so the same event always yields the same frame, live or replayed.

A frame is the original plan's ``WebSocketMessage`` plus ``seq``:
``{"session_id", "message_id", "type", "data", "seq"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

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
    SessionSettings,
    SessionUpdated,
)
from services.edge.index import MessageRef

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


def settings_dict(settings: SessionSettings | None) -> dict[str, Any]:
    s = settings or SessionSettings()
    return {
        "system_prompt": s.system_prompt,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_tokens,
    }


def chat_message(**fields: Any) -> dict[str, Any]:
    """A ChatMessage with every protocol field present; ``fields`` override the defaults."""
    message = {
        "id": "",
        "session_id": "",
        "role": "assistant",
        "content": "",
        "created_at": None,
        "updated_at": None,
        "is_streaming": False,
        "llm_provider": None,
        "llm_model": None,
        "response_time_ms": None,
        "tokens_used": None,
        "error_message": None,
        "metadata": {},
        "status": "complete",
        "reply_to": None,
        "client_message_id": None,
        "time_to_first_token_ms": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "error_kind": None,
        "attempt": 1,
        "last_seq": None,
    }
    unknown = fields.keys() - message.keys()
    if unknown:
        raise TypeError(f"not ChatMessage fields: {sorted(unknown)}")
    message.update(fields)
    return message


def session_from_created(event: SessionCreated, seq: int | None) -> dict[str, Any]:
    """The ChatSession a ``session.created`` event describes (before any message)."""
    return {
        "id": event.session_id,
        "title": event.title,
        "user_id": event.user_id,
        "llm_provider": event.llm_provider,
        "llm_model": event.llm_model,
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "is_active": True,
        "message_count": 0,
        "settings": settings_dict(event.settings),
        "last_activity_at": event.occurred_at,
        "last_seq": seq,
    }


def session_changes(event: SessionUpdated, seq: int | None) -> dict[str, Any]:
    """The fields a ``session.updated`` event changed, with ``id``, ``updated_at``, ``last_seq``."""
    changes: dict[str, Any] = {"id": event.session_id, "updated_at": event.occurred_at, "last_seq": seq}
    for name in ("title", "llm_provider", "llm_model"):
        if (value := getattr(event, name)) is not None:
            changes[name] = value
    if event.settings is not None:
        changes["settings"] = settings_dict(event.settings)
    return changes


def user_message(event: MessageSubmitted, seq: int | None) -> dict[str, Any]:
    return chat_message(
        id=event.message_id,
        session_id=event.session_id,
        role="user",
        content=event.content,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        status="complete",
        client_message_id=event.client_message_id,
        last_seq=seq,
    )


def pending_answer(event: GenerationRequested, seq: int | None) -> dict[str, Any]:
    return chat_message(
        id=event.message_id,
        session_id=event.session_id,
        role="assistant",
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        is_streaming=True,
        status="pending",
        reply_to=event.prompt_message_id,
        llm_provider=event.llm_provider,
        llm_model=event.llm_model,
        metadata={"regenerate": event.regenerate},
        last_seq=seq,
    )


def _answer_base(event: Any, seq: int | None, answer: MessageRef | None) -> dict[str, Any]:
    """Fields of a finished answer; ``answer`` is its request as the edge saw it, if it did."""
    # Without the request (an answer asked for before this edge started) the creation time is
    # unknown here; the terminal event's time stands in. The projection has the exact one.
    return {
        "id": event.message_id,
        "session_id": event.session_id,
        "role": "assistant",
        "created_at": answer.created_at if answer else event.occurred_at,
        "updated_at": event.occurred_at,
        "reply_to": answer.prompt_message_id if answer else None,
        "is_streaming": False,
        "attempt": event.attempt,
        "last_seq": seq,
    }


def final_message(
    event: GenerationCompleted | GenerationFailed | GenerationCancelled, seq: int | None, answer: MessageRef | None
) -> dict[str, Any]:
    """The finished answer a terminal event describes."""
    base = _answer_base(event, seq, answer) | {
        "llm_provider": event.llm_provider,
        "llm_model": event.llm_model,
        "response_time_ms": event.timings.total_ms,
        "time_to_first_token_ms": event.timings.time_to_first_token_ms,
        "tokens_used": event.usage.total_tokens,
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
    }
    match event:
        case GenerationCompleted():
            metadata = {
                "finish_reason": event.finish_reason,
                "chunk_count": event.chunk_count,
                "usage_reported": event.usage.reported,
            }
            return chat_message(**base, content=event.content, status="complete", metadata=metadata)
        case GenerationFailed():
            return chat_message(
                **base,
                content=event.partial_content,
                status="failed",
                error_message=event.error_message,
                error_kind=event.error_kind,
            )
        case GenerationCancelled():
            return chat_message(**base, content=event.partial_content, status="cancelled")
        case _:
            raise TypeError(f"not a terminal event: {type(event).__name__}")


def message_id_of(event: ChatEvent) -> str:
    return getattr(event, "message_id", "")


def for_event(event: ChatEvent, seq: int, answer: MessageRef | None = None) -> dict[str, Any]:
    """The frame a stored event becomes. ``answer`` is the request of the answer the event is
    about, when known (it fills the final message's creation time and prompt)."""
    sid = event.session_id
    match event:
        case SessionCreated():
            data = {"status": "session_updated", "session": session_from_created(event, seq)}
            return frame(CONNECTION_STATUS, sid, data, seq=seq)
        case SessionUpdated():
            data = {"status": "session_updated", "session": session_changes(event, seq)}
            return frame(CONNECTION_STATUS, sid, data, seq=seq)
        case SessionDeleted():
            return frame(CONNECTION_STATUS, sid, {"status": "session_deleted"}, seq=seq)
        case MessageSubmitted():
            return frame(NEW_MESSAGE, sid, user_message(event, seq), message_id=event.message_id, seq=seq)
        case GenerationRequested():
            return frame(NEW_MESSAGE, sid, pending_answer(event, seq), message_id=event.message_id, seq=seq)
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
            data = {"event": "completed", "message": final_message(event, seq, answer)}
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationFailed():
            data = {
                "event": "failed",
                "error_kind": event.error_kind,
                "error_message": event.error_message,
                "partial_content": event.partial_content,
                "message": final_message(event, seq, answer),
            }
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationCancelRequested():
            data = {"event": "cancel_requested"}
            return frame(MESSAGE_UPDATE, sid, data, message_id=event.message_id, seq=seq)
        case GenerationCancelled():
            data = {
                "event": "cancelled",
                "partial_content": event.partial_content,
                "message": final_message(event, seq, answer),
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
