"""The read model every reader shares: ``ChatSession`` and ``ChatMessage``, defined once.

The projection stores them (its rows add bookkeeping columns), REST returns them, socket frames
carry them, generation folds its context into them, and the UI's TypeScript types are generated
from their JSON Schema. ``events.lifecycle`` is the one fold that builds them from events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from events.schema import SessionSettings

Role = Literal["user", "assistant", "system"]
# One status vocabulary for a message, from request to end.
Status = Literal["pending", "streaming", "complete", "failed", "cancelled"]
LIVE: frozenset[str] = frozenset({"pending", "streaming"})
TERMINAL: frozenset[str] = frozenset({"complete", "failed", "cancelled"})


class Settings(SessionSettings, omit_defaults=False):
    """A session's generation settings as readers see them: every key present, ``None`` = default."""


class ChatSession(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    title: str
    user_id: str
    llm_provider: str
    llm_model: str
    created_at: datetime
    updated_at: datetime
    is_active: bool = True
    message_count: int = 0
    settings: Settings = Settings()
    last_activity_at: datetime
    last_seq: int | None = None


class ChatMessage(msgspec.Struct, kw_only=True, frozen=True):
    """The plan's ChatMessage plus the extensions of docs/protocol.md."""

    id: str
    session_id: str
    role: Role
    content: str = ""
    created_at: datetime
    updated_at: datetime
    is_streaming: bool = False  # status is pending or streaming (kept in step by events.lifecycle)
    llm_provider: str | None = None
    llm_model: str | None = None
    response_time_ms: int | None = None
    tokens_used: int | None = 0
    error_message: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    status: Status = "complete"
    reply_to: str | None = None  # answers: the user message answered
    client_message_id: str | None = None  # user messages: the client's idempotency key
    time_to_first_token_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_kind: str | None = None
    attempt: int = 1
    last_seq: int | None = None
    # Branches (events/tree.py): the message this one follows (None: a root). In socket frames a
    # user message's parent is as sent (None: after the newest message; ``metadata.edit_of``: a
    # sibling of that message); REST resolves it and lists ``sibling_ids`` (itself included).
    parent_id: str | None = None
    sibling_ids: list[str] = msgspec.field(default_factory=list)
    # A reasoning model's thinking, streamed apart from the answer: shown and exported with it,
    # never part of ``content`` (so never in the context sent back to the model).
    reasoning: str = ""
