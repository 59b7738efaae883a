"""A conversation rebuilt from its events alone: the pure fold behind ``parley replay`` and export.

The messages come from the chat projection's own ``evolve`` (so a replayed message equals the
REST one, field for field); beside them this keeps what the read model folds away: every
attempt of an answer, with its worker, provider, model and chunks (each with its time offset
from the request), restarts, cancel requests and how the answer ended.

No I/O: ``fold`` takes ``StoredEvent``s (stream sequence, subject, time, decoded event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from events import tokens
from events.errors import EventDecodeError
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
    SessionCreated,
    SessionDeleted,
    type_tag,
)
from projections import branches, chat, queries
from projections.errors import Unappliable


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored message of the stream; ``event`` is None when it does not decode."""

    seq: int
    subject: str
    data: bytes
    stored_at: datetime | None = None
    event: ChatEvent | None = None


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    index: int
    token_index: int
    token_count: int
    offset_ms: int  # since the answer was requested
    delta: str


class TokenTiming(msgspec.Struct, frozen=True, kw_only=True):
    """One token as the terminal event's ``tokens`` recorded it (events/tokens.py)."""

    offset_ms: int  # since the answer was requested
    text: str
    chunk: int  # which chunk event carried it


class Attempt(msgspec.Struct, kw_only=True):
    attempt: int
    started_at: datetime | None = None
    started_seq: int | None = None
    worker_id: str = ""
    llm_provider: str | None = None
    llm_model: str | None = None
    restart_reason: str | None = None  # set when a restart opened this attempt
    chunks: list[Chunk] = msgspec.field(default_factory=list)  # chunk events still in the log
    # Every token with its own time, from the terminal event: what the permanent log keeps once
    # the short-lived deltas are gone (and exact per token while they are there).
    tokens: list[TokenTiming] = msgspec.field(default_factory=list)

    def timing(self) -> list[tuple[int, str]]:
        """(offset ms, text) to replay this attempt: per token when recorded, else per chunk."""
        if self.tokens:
            return [(t.offset_ms, t.text) for t in self.tokens]
        return [(c.offset_ms, c.delta) for c in self.chunks]


class Lifecycle(msgspec.Struct, kw_only=True):
    """Everything that happened to one answer, in stream order."""

    message_id: str
    requested_at: datetime
    requested_seq: int
    regenerate: bool = False
    attempts: list[Attempt] = msgspec.field(default_factory=list)
    cancel_requested_at: datetime | None = None
    ended: str | None = None  # the terminal event's type
    ended_at: datetime | None = None
    ended_seq: int | None = None
    error_kind: str | None = None
    error_message: str | None = None

    def attempt(self, number: int) -> Attempt:
        for a in self.attempts:
            if a.attempt == number:
                return a
        made = Attempt(attempt=number)
        self.attempts.append(made)
        return made


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    type: str
    occurred_at: datetime | None
    message_id: str | None = None
    attempt: int | None = None
    worker_id: str | None = None
    note: str | None = None  # why an event changed nothing (unappliable, undecodable)


@dataclass
class Conversation:
    session_id: str
    rows: chat.Rows = field(default_factory=chat.Rows)
    answers: dict[str, Lifecycle] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    imported_from: str | None = None
    last_seq: int = 0

    @property
    def session(self) -> chat.SessionRow | None:
        return self.rows.session(self.session_id)

    @property
    def known(self) -> bool:
        return bool(self.timeline)

    def messages(self) -> list[dict[str, Any]]:
        """The messages as REST renders them (``queries.message_dict``), in stream order."""
        rows = sorted(self.rows.messages.values(), key=lambda m: m.created_seq)
        return branches.with_siblings([queries.message_dict(msgspec.structs.asdict(m)) for m in rows])

    def session_dict(self) -> dict[str, Any] | None:
        s = self.session
        return queries.session_dict(msgspec.structs.asdict(s)) if s is not None else None


def fold(session_id: str, stored: list[StoredEvent], as_of: datetime | None = None) -> Conversation:
    """The conversation after ``stored`` (one session's events in stream order), up to ``as_of``."""
    conv = Conversation(session_id=session_id)
    for item in stored:
        # The log's own store time orders like the stream; producers' clocks need not.
        at = item.stored_at or (item.event.occurred_at if item.event is not None else None)
        if as_of is not None and at is not None and at > as_of:
            break
        apply(conv, item)
    return conv


def apply(conv: Conversation, item: StoredEvent) -> None:
    """Fold one more stored event into ``conv`` (``--follow`` calls this per live event)."""
    conv.last_seq = max(conv.last_seq, item.seq)
    event = item.event
    if event is None:
        conv.timeline.append(TimelineEntry(seq=item.seq, type="?", occurred_at=item.stored_at, note="undecodable"))
        return
    note = None
    try:
        conv.rows.put(chat.evolve(conv.rows, item.seq, event))
    except Unappliable as exc:
        note = str(exc)
    _lifecycle(conv, item.seq, event)
    conv.timeline.append(
        TimelineEntry(
            seq=item.seq,
            type=type_tag(type(event)),
            occurred_at=event.occurred_at,
            message_id=getattr(event, "message_id", None),
            attempt=getattr(event, "attempt", None),
            worker_id=getattr(event, "worker_id", None) or None,
            note=note,
        )
    )


def _token_timing(life: Lifecycle, event: GenerationCompleted | GenerationFailed | GenerationCancelled) -> None:
    encoded = getattr(event, "tokens", "")
    if not encoded:
        return  # an older event: the chunks in the log carry the timing
    text = event.content if isinstance(event, GenerationCompleted) else event.partial_content
    # A reasoning model's thinking streamed first, as tokens too: the timing covers it, then the answer.
    text = getattr(event, "reasoning", "") + text
    try:
        decoded = tokens.decode(text, encoded)
    except EventDecodeError:
        return  # a damaged timing string: the text stays, the timing is not invented
    start = life.requested_at
    life.attempt(event.attempt).tokens = [
        TokenTiming(offset_ms=round((t.at - start).total_seconds() * 1000), text=t.text, chunk=t.chunk) for t in decoded
    ]


def _lifecycle(conv: Conversation, seq: int, event: ChatEvent) -> None:
    at = event.occurred_at
    match event:
        case SessionCreated():
            conv.imported_from = getattr(event, "imported_from", None) or conv.imported_from
        case GenerationRequested():
            conv.answers.setdefault(
                event.message_id,
                Lifecycle(message_id=event.message_id, requested_at=at, requested_seq=seq, regenerate=event.regenerate),
            )
        case GenerationStarted():
            if (life := conv.answers.get(event.message_id)) is not None:
                a = life.attempt(event.attempt)
                a.started_at, a.started_seq, a.worker_id = at, seq, event.worker_id
                a.llm_provider, a.llm_model = event.llm_provider, event.llm_model
        case GenerationRestarted():
            if (life := conv.answers.get(event.message_id)) is not None:
                life.attempt(event.attempt).restart_reason = event.reason or "restarted"
        case GenerationChunk():
            if (life := conv.answers.get(event.message_id)) is not None:
                offset = round((at - life.requested_at).total_seconds() * 1000)
                life.attempt(event.attempt).chunks.append(
                    Chunk(
                        seq=seq,
                        index=event.index,
                        token_index=event.token_index,
                        token_count=event.token_count,
                        offset_ms=offset,
                        delta=event.delta,
                    )
                )
        case GenerationCancelRequested():
            if (life := conv.answers.get(event.message_id)) is not None and life.cancel_requested_at is None:
                life.cancel_requested_at = at
        case GenerationCompleted() | GenerationFailed() | GenerationCancelled():
            life = conv.answers.get(event.message_id)
            if life is not None and life.ended is None:
                life.ended, life.ended_at, life.ended_seq = type_tag(type(event)), at, seq
                if isinstance(event, GenerationFailed):
                    life.error_kind, life.error_message = event.error_kind, event.error_message
                _token_timing(life, event)
        case SessionDeleted():
            pass
        case _:
            pass  # session.updated, message.submitted: the rows say it all
