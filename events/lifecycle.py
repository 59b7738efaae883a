"""The one fold from events to the read model (``events.model``): sessions, user messages, and an
answer's lifecycle pending → streaming → complete | failed | cancelled (the first end wins).

Pure and clock-free: every value comes from the events, so the projection, a socket frame and
generation's context agree, live or replayed. Constructors take ``cls`` so the projection can
build its row types (``ChatMessage`` plus bookkeeping columns) with the same code.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from events import compiler
from events.compiler import Field, Rule
from events.model import ChatMessage, ChatSession, Settings
from events.schema import (
    ChatEvent,
    GenerationCancelled,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
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
    # The patch a frame carries (``session_changes``), merged as the UI merges it; the held id stays
    # (the projection's canonical form).
    changes = session_changes(event, seq)
    del changes["id"]
    return msgspec.structs.replace(current, **changes)


def session_changes(event: SessionUpdated, seq: int | None) -> dict[str, Any]:
    """What a ``session.updated`` changed (a patch: ``id``, ``updated_at``, ``last_seq`` and the
    fields that are set; ``settings`` whole: inside it None means "provider default", not
    "unchanged"); readers merge it into the session they hold."""
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


# -- answers: the rules (compiled to Python here and to TypeScript for the UI: events/compiler.py) --------

_streaming = (Field("attempt"),)
# An end's given values are the message ``ended`` builds from the event alone.
_cut = (  # failed or cancelled: the partial answer is kept, the event's copy else what the chunks built
    Field("content", "or"),
    Field("reasoning", "or"),
    Field("error_kind"),
    Field("error_message"),
    Field("llm_provider", "or"),
    Field("llm_model", "or"),
    Field("attempt", "max"),
    Field("response_time_ms", "or"),
    Field("time_to_first_token_ms"),
    # Tokens spent on a partial answer are billed too (older events carry zero: keep the message's).
    Field("completion_tokens", "or"),
    Field("tokens_used", "or"),
    Field("metadata", "merge"),
)
RULES: dict[str, Rule] = {
    "started": Rule(
        "Started", "streaming", (*_streaming, Field("llm_provider"), Field("llm_model")), "older", fresh=True
    ),
    "restarted": Rule("Restarted", "streaming", _streaming, "not newer", fresh=True),
    "token": Rule(
        "Token",
        "streaming",
        (
            *_streaming,
            Field("content", "append", "delta", when="!reasoning"),
            Field("reasoning", "append", "delta", when="reasoning"),
            # Tokens streamed so far, so an answer read mid-stream shows its real count (usage replaces it at the end).
            Field("completion_tokens", "add", "token_count"),
        ),
        "older",  # a late chunk of an attempt another worker took over
        fresh=True,
    ),
    "completed": Rule(
        "Completed",
        "complete",
        (
            Field("content"),
            Field("reasoning", "or"),
            Field("llm_provider"),
            Field("llm_model"),
            Field("attempt", "max"),
            Field("prompt_tokens"),
            Field("completion_tokens"),
            Field("tokens_used"),
            Field("response_time_ms"),
            Field("time_to_first_token_ms"),
            Field("metadata", "merge"),
        ),
        ended=True,
    ),
    "failed": Rule("Failed", "failed", _cut, ended=True),
    "cancelled": Rule("Cancelled", "cancelled", _cut, ended=True),
}
_FOLDS = compiler.python(RULES)
_FOLD_OF: dict[type, tuple[compiler.Fold, bool]] = {  # the event's rule, and whether it is an end
    event: (_FOLDS[kind], RULES[kind].ended)
    for event, kind in (
        (GenerationStarted, "started"),
        (GenerationRestarted, "restarted"),
        (GenerationChunk, "token"),
        (GenerationDelta, "token"),
        (GenerationCompleted, "completed"),
        (GenerationFailed, "failed"),
        (GenerationCancelled, "cancelled"),
    )
}


def ended(event: Ended, seq: int | None) -> ChatMessage:
    """A finished answer from its terminal event alone, as its frame carries it (the event carries
    ``created_at`` and ``reply_to``; events stored before they did fall back to the end time and no
    prompt). Folded onto the message held by ``RULES``, it is what the end changes."""
    at = event.occurred_at
    usage, timings = event.usage, event.timings
    common = dict(
        id=event.message_id,
        session_id=event.session_id,
        role="assistant",
        created_at=event.created_at or at,
        updated_at=at,
        reply_to=event.reply_to,
        parent_id=event.reply_to,
        attempt=max(1, event.attempt),
        time_to_first_token_ms=timings.time_to_first_token_ms,
        last_seq=seq,
    )
    dropped = {"context_dropped": event.context_dropped} if event.context_dropped else {}
    if isinstance(event, GenerationCompleted):
        finish = {"finish_reason": event.finish_reason} if event.finish_reason is not None else {}
        return ChatMessage(
            **common,
            status="complete",
            content=event.content,
            reasoning=event.reasoning,
            llm_provider=event.llm_provider,
            llm_model=event.llm_model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            tokens_used=usage.total_tokens,
            response_time_ms=timings.total_ms,
            metadata={"usage_reported": usage.reported, **finish, **dropped},
        )
    failed = isinstance(event, GenerationFailed)
    return ChatMessage(
        **common,
        status="failed" if failed else "cancelled",
        content=event.partial_content,
        reasoning=event.reasoning,
        error_kind=event.error_kind if failed else None,
        error_message=event.error_message if failed else None,
        llm_provider=event.llm_provider or None,
        llm_model=event.llm_model or None,
        response_time_ms=timings.total_ms or None,
        completion_tokens=usage.completion_tokens or None,
        tokens_used=usage.total_tokens,
        metadata=dropped,
    )


def evolve(message: M, seq: int | None, event: ChatEvent) -> M | None:
    """The answer after ``event``; None when it changes nothing (after the end: the first end wins,
    e.g. completed just before a cancel took effect; an older attempt)."""
    rule = _FOLD_OF.get(type(event))
    if rule is None:
        raise TypeError(f"not an answer event: {event!r}")
    fold, end = rule
    return fold(message, ended(event, seq) if end else event, seq, event.occurred_at)  # type: ignore[arg-type]
