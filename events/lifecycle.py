"""The one fold from events to the read model (``events.model``): sessions, user messages, and an
answer's lifecycle pending → streaming → complete | failed | cancelled (the first end wins).

Pure and clock-free: every value comes from the events, so the projection, a socket frame and
generation's context agree, live or replayed. Constructors take ``cls`` so the projection can
build its row types (``ChatMessage`` plus bookkeeping columns) with the same code.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from events.model import LIVE, TERMINAL, ChatMessage, ChatSession, Settings, Status
from events.schema import (
    ChatEvent,
    GenerationCancelled,
    GenerationChunk,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
    MessageSubmitted,
    SessionCreated,
    SessionSettings,
    SessionUpdated,
)

M = TypeVar("M", bound=ChatMessage)
S = TypeVar("S", bound=ChatSession)
Ended = GenerationCompleted | GenerationFailed | GenerationCancelled


def settings(value: SessionSettings | None) -> Settings:
    return Settings(**msgspec.structs.asdict(value)) if value is not None else Settings()


# -- sessions -----------------------------------------------------------------------------------------


def session(event: SessionCreated, seq: int | None, cls: type[S] = ChatSession, **extra: Any) -> S:
    at = event.occurred_at
    return cls(
        id=event.session_id,
        user_id=event.user_id,
        title=event.title,
        llm_provider=event.llm_provider,
        llm_model=event.llm_model,
        created_at=at,
        updated_at=at,
        settings=settings(event.settings),
        last_activity_at=at,
        last_seq=seq,
        **extra,
    )


def session_updated(current: S, seq: int, event: SessionUpdated) -> S:
    # ``settings`` is replaced whole: inside it None means "provider default", not "unchanged".
    return msgspec.structs.replace(
        current,
        title=event.title if event.title is not None else current.title,
        llm_provider=event.llm_provider if event.llm_provider is not None else current.llm_provider,
        llm_model=event.llm_model if event.llm_model is not None else current.llm_model,
        settings=settings(event.settings) if event.settings is not None else current.settings,
        updated_at=event.occurred_at,
        last_seq=seq,
    )


def session_changes(event: SessionUpdated, seq: int | None) -> dict[str, Any]:
    """What a ``session.updated`` changed (a patch: ``id``, ``updated_at``, ``last_seq`` and the
    fields that are set); readers merge it into the session they hold."""
    changes: dict[str, Any] = {"id": event.session_id, "updated_at": event.occurred_at, "last_seq": seq}
    for name in ("title", "llm_provider", "llm_model"):
        if (value := getattr(event, name)) is not None:
            changes[name] = value
    if event.settings is not None:
        changes["settings"] = settings(event.settings)
    return changes


# -- messages -----------------------------------------------------------------------------------------


def user_message(event: MessageSubmitted, seq: int | None, cls: type[M] = ChatMessage, **extra: Any) -> M:
    at = event.occurred_at
    return cls(
        id=event.message_id,
        session_id=event.session_id,
        role="user",
        content=event.content,
        created_at=at,
        updated_at=at,
        client_message_id=event.client_message_id,
        last_seq=seq,
        parent_id=event.parent_id,
        metadata={"edit_of": event.edit_of} if event.edit_of else {},
        **extra,
    )


def answer(
    event: GenerationRequested, seq: int | None, held: ChatSession | None = None, cls: type[M] = ChatMessage, **extra
) -> M:
    """A requested answer, pending. ``held``: its session, for the provider and model it inherits."""
    at = event.occurred_at
    return cls(
        id=event.message_id,
        session_id=event.session_id,
        role="assistant",
        created_at=at,
        updated_at=at,
        is_streaming=True,
        status="pending",
        reply_to=event.prompt_message_id,
        parent_id=event.prompt_message_id,
        llm_provider=event.llm_provider or (held.llm_provider if held else None),
        llm_model=event.llm_model or (held.llm_model if held else None),
        metadata={"regenerate": True} if event.regenerate else {},
        last_seq=seq,
        **extra,
    )


def ended(event: Ended, seq: int | None) -> ChatMessage:
    """A finished answer from its terminal event alone (the event carries ``created_at`` and
    ``reply_to``; events stored before they did fall back to the end time and no prompt)."""
    start = ChatMessage(
        id=event.message_id,
        session_id=event.session_id,
        role="assistant",
        created_at=event.created_at or event.occurred_at,
        updated_at=event.occurred_at,
        reply_to=event.reply_to,
        parent_id=event.reply_to,
        status="pending",
        is_streaming=True,
    )
    done = evolve(start, seq, event)
    assert done is not None
    return done


def _status(message: M, status: Status, seq: int | None, event: ChatEvent, **changes: Any) -> M:
    return msgspec.structs.replace(
        message, status=status, is_streaming=status in LIVE, updated_at=event.occurred_at, last_seq=seq, **changes
    )


def evolve(message: M, seq: int | None, event: ChatEvent) -> M | None:
    """The answer after ``event``; None when it changes nothing (after the end, an older attempt)."""
    if message.status in TERMINAL:
        return None  # the first end wins (e.g. completed just before a cancel took effect)
    match event:
        case GenerationStarted():
            if event.attempt < message.attempt:
                return None
            fresh = event.attempt > message.attempt  # a new attempt's text starts from nothing
            return _status(
                message,
                "streaming",
                seq,
                event,
                llm_provider=event.llm_provider,
                llm_model=event.llm_model,
                attempt=event.attempt,
                content="" if fresh else message.content,
                reasoning="" if fresh else message.reasoning,
                completion_tokens=None if fresh else message.completion_tokens,
            )
        case GenerationRestarted():
            if event.attempt <= message.attempt:
                return None
            return _status(
                message,
                "streaming",
                seq,
                event,
                attempt=event.attempt,
                content="",
                reasoning="",
                completion_tokens=None,
            )
        case GenerationChunk():
            if event.attempt < message.attempt:
                return None  # a late chunk of an attempt another worker took over
            fresh = event.attempt > message.attempt
            content = "" if fresh else message.content
            reasoning = "" if fresh else message.reasoning
            if event.reasoning:
                reasoning += event.delta
            else:
                content += event.delta
            # Tokens streamed so far, so an open answer read mid-stream shows its real count (the
            # provider's usage replaces it at the end).
            streamed = (0 if fresh else message.completion_tokens or 0) + event.token_count
            return _status(
                message,
                "streaming",
                seq,
                event,
                attempt=event.attempt,
                content=content,
                reasoning=reasoning,
                completion_tokens=streamed,
            )
        case GenerationCompleted():
            metadata = {**message.metadata, "usage_reported": event.usage.reported}
            if event.finish_reason is not None:
                metadata["finish_reason"] = event.finish_reason
            if event.context_dropped:
                metadata["context_dropped"] = event.context_dropped
            return _status(
                message,
                "complete",
                seq,
                event,
                content=event.content,
                reasoning=event.reasoning or message.reasoning,
                llm_provider=event.llm_provider,
                llm_model=event.llm_model,
                attempt=max(message.attempt, event.attempt),
                prompt_tokens=event.usage.prompt_tokens,
                completion_tokens=event.usage.completion_tokens,
                tokens_used=event.usage.total_tokens,
                response_time_ms=event.timings.total_ms,
                time_to_first_token_ms=event.timings.time_to_first_token_ms,
                metadata=metadata,
            )
        case GenerationFailed() | GenerationCancelled():
            failed = isinstance(event, GenerationFailed)
            dropped = {"context_dropped": event.context_dropped} if event.context_dropped else {}
            return _status(
                message,
                "failed" if failed else "cancelled",
                seq,
                event,
                metadata={**message.metadata, **dropped},
                # The partial answer is kept: the event's copy, else what the chunks built.
                content=event.partial_content or message.content,
                reasoning=event.reasoning or message.reasoning,
                error_kind=event.error_kind if failed else None,
                error_message=event.error_message if failed else None,
                llm_provider=event.llm_provider or message.llm_provider,
                llm_model=event.llm_model or message.llm_model,
                attempt=max(message.attempt, event.attempt),
                response_time_ms=event.timings.total_ms or message.response_time_ms,
                time_to_first_token_ms=event.timings.time_to_first_token_ms,
                # Tokens spent on a partial answer are billed too (older events carry zero: keep the message's).
                completion_tokens=event.usage.completion_tokens or message.completion_tokens,
                tokens_used=event.usage.total_tokens or message.tokens_used,
            )
        case _:
            raise TypeError(f"not an answer event: {event!r}")
