"""The chat projection's pure core: rows of ``chat_sessions`` and ``messages``, and ``evolve``,
which maps one stored event (with its stream sequence) to the rows it changes. No I/O here: the
worker loads the rows a batch touches, evolves them in memory, and writes each changed row once
(so the chunks of a batch coalesce into one write per message).

Every value comes from the events, never from the clock, so a rebuild yields identical rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

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
    SessionUpdated,
)
from projections import projection
from projections.errors import Unappliable
from projections.projection import Projection, Table

Status = Literal["pending", "streaming", "complete", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"complete", "failed", "cancelled"})


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    user_id: str
    title: str | None
    llm_provider: str
    llm_model: str
    created_at: datetime
    updated_at: datetime
    is_active: bool = True
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    message_count: int = 0
    last_activity_at: datetime
    deleted_at: datetime | None = None
    created_seq: int
    last_seq: int


class MessageRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    session_id: str
    role: Literal["user", "assistant", "system"]
    content: str = ""
    llm_response_time_ms: int | None = None
    tokens_used: int | None = 0
    error_message: str | None = None
    created_at: datetime
    status: Status = "complete"
    reply_to: str | None = None
    client_message_id: str | None = None
    llm_provider: str | None = None
    llm_model: str | None = None
    time_to_first_token_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempt: int = 1
    chunk_count: int = 0
    error_kind: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    updated_at: datetime
    created_seq: int
    last_seq: int


Row = SessionRow | MessageRow


class Rows(projection.Rows):
    """The chat rows one batch reads and changes, keyed by canonical UUID string."""

    def __init__(self, sessions: dict[str, SessionRow] | None = None, messages: dict[str, MessageRow] | None = None):
        super().__init__({SESSIONS.name: sessions or {}, MESSAGES.name: messages or {}}, _TYPES)

    @property
    def sessions(self) -> dict[str, SessionRow]:
        return self.tables[SESSIONS.name]

    @property
    def messages(self) -> dict[str, MessageRow]:
        return self.tables[MESSAGES.name]

    def session(self, session_id: str) -> SessionRow | None:
        return self.sessions.get(session_id)

    def message(self, message_id: str) -> MessageRow | None:
        return self.messages.get(message_id)


SESSIONS = Table(
    "chat_sessions",
    SessionRow,
    key_type="uuid",
    uuid_fields=frozenset({"id"}),
    json_fields=frozenset({"settings"}),
    text_fields=frozenset({"title"}),
)
MESSAGES = Table(
    "messages",
    MessageRow,
    key_type="uuid",
    uuid_fields=frozenset({"id", "session_id", "reply_to"}),
    json_fields=frozenset({"metadata"}),
    text_fields=frozenset({"content", "error_message"}),
)
_TYPES: dict[type, str] = {SessionRow: SESSIONS.name, MessageRow: MESSAGES.name}


def canonical_id(value: str, what: str) -> str:
    """``value`` as a canonical UUID string; anything else cannot become a row key."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise Unappliable(f"{what} is not a UUID: {value!r}") from None


def keys(event: ChatEvent) -> dict[str, set[str]]:
    """The rows ``event`` reads: its session and its message (ids that are not UUIDs load nothing)."""
    sid, mid = ids_of(event)
    return {SESSIONS.name: {sid} if sid else set(), MESSAGES.name: {mid} if mid else set()}


def ids_of(event: ChatEvent) -> tuple[str | None, str | None]:
    """The (session id, message id) whose rows ``event`` reads, canonical; None where not a UUID."""

    def safe(value: str | None) -> str | None:
        try:
            return str(uuid.UUID(value)) if value is not None else None
        except (ValueError, TypeError, AttributeError):
            return None

    return safe(event.session_id), safe(getattr(event, "message_id", None))


def evolve(rows: Rows, seq: int, event: ChatEvent) -> list[Row]:
    """The rows ``event`` (stored at stream sequence ``seq``) changes, as new row values.

    Returns [] when the event changes nothing (a duplicate, a late chunk of an older attempt,
    anything after the answer ended). Raises ``Unappliable`` when the event cannot apply
    (unknown session or message, ids that are not UUIDs); ``rows`` is never modified.
    """
    at = getattr(event, "occurred_at", None)  # anything else ends in ``case _`` below
    match event:
        case SessionCreated():
            sid = canonical_id(event.session_id, "session_id")
            if rows.session(sid) is not None:
                raise Unappliable(f"session {sid} already exists")
            return [
                SessionRow(
                    id=sid,
                    user_id=event.user_id,
                    title=event.title,
                    llm_provider=event.llm_provider,
                    llm_model=event.llm_model,
                    created_at=at,
                    updated_at=at,
                    settings=msgspec.to_builtins(event.settings),
                    last_activity_at=at,
                    created_seq=seq,
                    last_seq=seq,
                )
            ]
        case SessionUpdated():
            session = _session(rows, event.session_id)
            # ``settings`` is replaced whole: inside it None means "provider default", not "unchanged".
            return [
                msgspec.structs.replace(
                    session,
                    title=event.title if event.title is not None else session.title,
                    llm_provider=event.llm_provider if event.llm_provider is not None else session.llm_provider,
                    llm_model=event.llm_model if event.llm_model is not None else session.llm_model,
                    settings=msgspec.to_builtins(event.settings) if event.settings is not None else session.settings,
                    updated_at=at,
                    last_seq=seq,
                )
            ]
        case SessionDeleted():
            session = _session(rows, event.session_id)
            if not session.is_active:
                return []
            return [msgspec.structs.replace(session, is_active=False, deleted_at=at, updated_at=at, last_seq=seq)]
        case MessageSubmitted():
            session = _session(rows, event.session_id)
            mid = canonical_id(event.message_id, "message_id")
            if rows.message(mid) is not None:
                return []  # the same message stored twice (a retried send outside the dedup window)
            message = MessageRow(
                id=mid,
                session_id=session.id,
                role="user",
                content=event.content,
                created_at=at,
                status="complete",
                client_message_id=event.client_message_id,
                updated_at=at,
                created_seq=seq,
                last_seq=seq,
            )
            return [_count(session, seq, at), message]
        case GenerationRequested():
            session = _session(rows, event.session_id)
            mid = canonical_id(event.message_id, "message_id")
            reply_to = canonical_id(event.prompt_message_id, "prompt_message_id")
            if rows.message(mid) is not None:
                return []
            answer = MessageRow(
                id=mid,
                session_id=session.id,
                role="assistant",
                created_at=at,
                status="pending",
                reply_to=reply_to,
                llm_provider=event.llm_provider or session.llm_provider,
                llm_model=event.llm_model or session.llm_model,
                metadata={"regenerate": True} if event.regenerate else {},
                updated_at=at,
                created_seq=seq,
                last_seq=seq,
            )
            return [_count(session, seq, at), answer]
        case GenerationStarted():
            answer = _answer(rows, event.session_id, event.message_id)
            if answer.status in TERMINAL or event.attempt < answer.attempt:
                return []
            fresh = event.attempt > answer.attempt  # a new attempt's text starts from nothing
            return [
                msgspec.structs.replace(
                    answer,
                    status="streaming",
                    llm_provider=event.llm_provider,
                    llm_model=event.llm_model,
                    attempt=event.attempt,
                    content="" if fresh else answer.content,
                    chunk_count=0 if fresh else answer.chunk_count,
                    updated_at=at,
                    last_seq=seq,
                )
            ]
        case GenerationRestarted():
            answer = _answer(rows, event.session_id, event.message_id)
            if answer.status in TERMINAL or event.attempt <= answer.attempt:
                return []
            return [
                msgspec.structs.replace(
                    answer,
                    status="streaming",
                    attempt=event.attempt,
                    content="",
                    chunk_count=0,
                    updated_at=at,
                    last_seq=seq,
                )
            ]
        case GenerationChunk():
            answer = _answer(rows, event.session_id, event.message_id)
            if answer.status in TERMINAL or event.attempt < answer.attempt:
                return []  # late chunk of an ended answer or of an attempt another worker took over
            content, chunks = answer.content, answer.chunk_count
            if event.attempt > answer.attempt:
                content, chunks = "", 0
            elif event.index < chunks:
                return []  # a chunk already applied
            return [
                msgspec.structs.replace(
                    answer,
                    status="streaming",
                    attempt=event.attempt,
                    content=content + event.delta,
                    chunk_count=event.index + 1,
                    updated_at=at,
                    last_seq=seq,
                )
            ]
        case GenerationCompleted():
            answer = _answer(rows, event.session_id, event.message_id)
            if answer.status in TERMINAL:
                return []  # the first end wins (e.g. completed just before a cancel took effect)
            metadata = {**answer.metadata, "usage_reported": event.usage.reported}
            if event.finish_reason is not None:
                metadata["finish_reason"] = event.finish_reason
            if event.context_dropped:
                metadata["context_dropped"] = event.context_dropped
            done = msgspec.structs.replace(
                answer,
                status="complete",
                content=event.content,
                llm_provider=event.llm_provider,
                llm_model=event.llm_model,
                attempt=max(answer.attempt, event.attempt),
                chunk_count=event.chunk_count or answer.chunk_count,
                prompt_tokens=event.usage.prompt_tokens,
                completion_tokens=event.usage.completion_tokens,
                tokens_used=event.usage.total_tokens,
                llm_response_time_ms=event.timings.total_ms,
                time_to_first_token_ms=event.timings.time_to_first_token_ms,
                metadata=metadata,
                updated_at=at,
                last_seq=seq,
            )
            return [*_touch(rows, answer.session_id, seq, at), done]
        case GenerationFailed() | GenerationCancelled():
            answer = _answer(rows, event.session_id, event.message_id)
            if answer.status in TERMINAL:
                return []
            failed = isinstance(event, GenerationFailed)
            dropped = {"context_dropped": event.context_dropped} if event.context_dropped else {}
            ended = msgspec.structs.replace(
                answer,
                metadata={**answer.metadata, **dropped},
                status="failed" if failed else "cancelled",
                # The partial answer is kept: the event's copy, else what the chunks built.
                content=event.partial_content or answer.content,
                error_kind=event.error_kind if failed else None,
                error_message=event.error_message if failed else None,
                llm_provider=event.llm_provider or answer.llm_provider,
                llm_model=event.llm_model or answer.llm_model,
                attempt=max(answer.attempt, event.attempt),
                llm_response_time_ms=event.timings.total_ms or answer.llm_response_time_ms,
                time_to_first_token_ms=event.timings.time_to_first_token_ms,
                # Tokens spent on a partial answer are billed too (older events carry zero: keep the row's).
                completion_tokens=event.usage.completion_tokens or answer.completion_tokens,
                tokens_used=event.usage.total_tokens or answer.tokens_used,
                updated_at=at,
                last_seq=seq,
            )
            return [*_touch(rows, answer.session_id, seq, at), ended]
        case GenerationCancelRequested():
            return []  # the answer changes when generation.cancelled arrives; the checkpoint still moves
        case _:
            raise TypeError(f"not a chat event: {event!r}")


def _session(rows: Rows, session_id: str) -> SessionRow:
    sid = canonical_id(session_id, "session_id")
    session = rows.session(sid)
    if session is None:
        raise Unappliable(f"unknown session {sid}")
    return session


def _answer(rows: Rows, session_id: str, message_id: str) -> MessageRow:
    mid = canonical_id(message_id, "message_id")
    answer = rows.message(mid)
    if answer is None:
        raise Unappliable(f"unknown message {mid}")
    if answer.session_id != canonical_id(session_id, "session_id"):
        raise Unappliable(f"message {mid} belongs to session {answer.session_id}, not {session_id}")
    if answer.role != "assistant":
        raise Unappliable(f"message {mid} is a {answer.role} message, not an answer")
    return answer


def _count(session: SessionRow, seq: int, at: datetime) -> SessionRow:
    """A session with one message more and its activity moved to ``at``."""
    return msgspec.structs.replace(
        session,
        message_count=session.message_count + 1,
        last_activity_at=max(session.last_activity_at, at),
        last_seq=seq,
    )


def _touch(rows: Rows, session_id: str, seq: int, at: datetime) -> list[SessionRow]:
    """An answer ended: the session's activity moves (so lists show it on top)."""
    session = rows.session(session_id)
    if session is None:
        return []
    return [msgspec.structs.replace(session, last_activity_at=max(session.last_activity_at, at), last_seq=seq)]


CHAT = Projection("chat", (SESSIONS, MESSAGES), keys, evolve, rows=Rows)
