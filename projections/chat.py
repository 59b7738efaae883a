"""The chat projection's pure core: rows of ``chat_sessions`` and ``messages``, and ``evolve``,
which maps one stored event (with its stream sequence) to the rows it changes. No I/O here: the
worker loads the rows a batch touches, evolves them in memory, and writes each changed row once
(so the chunks of a batch coalesce into one write per message).

Every value comes from the events, never from the clock, so a rebuild yields identical rows.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import lru_cache

import msgspec

from events import lifecycle, subjects, tree
from events.model import LIVE, ChatMessage, ChatSession
from events.schema import (
    EVENT_TYPES,
    ChatEvent,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
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


class SessionRow(ChatSession, frozen=True, kw_only=True):
    """A ``chat_sessions`` row: the ChatSession readers see, plus bookkeeping columns."""

    deleted_at: datetime | None = None
    created_seq: int
    last_seq: int
    head_id: str | None = None  # the newest message: where a message without a parent goes (events/tree.py)


class MessageRow(ChatMessage, frozen=True, kw_only=True):
    """A ``messages`` row: the ChatMessage readers see, plus bookkeeping columns."""

    chunk_count: int = 0  # chunks of the current attempt applied (a redelivered chunk is skipped)
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
    uuid_fields=frozenset({"id", "head_id"}),
    json_fields=frozenset({"settings"}),
    text_fields=frozenset({"title"}),
)
MESSAGES = Table(
    "messages",
    MessageRow,
    key_type="uuid",
    uuid_fields=frozenset({"id", "session_id", "reply_to", "parent_id"}),
    json_fields=frozenset({"metadata"}),
    text_fields=frozenset({"content", "error_message", "reasoning"}),
    columns={"response_time_ms": "llm_response_time_ms"},
    derived=frozenset({"is_streaming", "sibling_ids"}),
    on_load=lambda values: {**values, "is_streaming": values["status"] in LIVE},
)
_TYPES: dict[type, str] = {SessionRow: SESSIONS.name, MessageRow: MESSAGES.name}


# The stored form: an id already in it is its own canonical form (what uuid.UUID would print).
_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_id(value: str, what: str) -> str:
    """``value`` as a canonical UUID string; anything else cannot become a row key."""
    found = _safe_id(value)
    if found is None:
        raise Unappliable(f"{what} is not a UUID: {value!r}")
    return found


def keys(event: ChatEvent) -> dict[str, set[str]]:
    """The rows ``event`` reads: its session and its message (ids that are not UUIDs load nothing)."""
    sid, mid = ids_of(event)
    messages = {mid} if mid else set()
    if isinstance(event, MessageSubmitted):  # the messages it may hang from
        messages |= {ref for ref in (_safe_id(event.parent_id), _safe_id(event.edit_of)) if ref}
    return {SESSIONS.name: {sid} if sid else set(), MESSAGES.name: messages}


@lru_cache(maxsize=16384)  # an answer's ids come with each of its tokens, a few times per event
def _safe_id(value: str | None) -> str | None:
    """The canonical form of a UUID (any form ``uuid.UUID`` reads), or None. Every event carries
    ids in the canonical form already: they skip the parse (a tenth of a rebuild's time)."""
    if type(value) is str and _CANONICAL.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value)) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def ids_of(event: ChatEvent) -> tuple[str | None, str | None]:
    """The (session id, message id) whose rows ``event`` reads, canonical; None where not a UUID."""

    return _safe_id(event.session_id), _safe_id(getattr(event, "message_id", None))


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
            return [msgspec.structs.replace(lifecycle.session(event, seq, SessionRow, created_seq=seq), id=sid)]
        case SessionUpdated():
            return [lifecycle.session_updated(_session(rows, event.session_id), seq, event)]
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
            message = lifecycle.user_message(event, seq, MessageRow, created_seq=seq)
            placed = msgspec.structs.replace(
                message, id=mid, session_id=session.id, parent_id=_parent(rows, session, event)
            )
            return [msgspec.structs.replace(_count(session, seq, at), head_id=mid), placed]
        case GenerationRequested():
            session = _session(rows, event.session_id)
            mid = canonical_id(event.message_id, "message_id")
            reply_to = canonical_id(event.prompt_message_id, "prompt_message_id")
            if rows.message(mid) is not None:
                return []
            answer = lifecycle.answer(event, seq, session, MessageRow, created_seq=seq)
            return [
                msgspec.structs.replace(_count(session, seq, at), head_id=mid),
                # Answers to one prompt are siblings: their parent is the prompt.
                msgspec.structs.replace(answer, id=mid, session_id=session.id, reply_to=reply_to, parent_id=reply_to),
            ]
        case GenerationStarted() | GenerationRestarted() | GenerationChunk():
            answer = _answer(rows, event.session_id, event.message_id)
            fresh = event.attempt > answer.attempt  # a new attempt counts its chunks from 0
            if isinstance(event, GenerationChunk) and not fresh and event.index < answer.chunk_count:
                return []  # a chunk already applied
            changed = lifecycle.evolve(answer, seq, event)
            if changed is None:
                return []
            if isinstance(event, GenerationChunk):
                return [msgspec.structs.replace(changed, chunk_count=event.index + 1)]
            return [msgspec.structs.replace(changed, chunk_count=0) if fresh else changed]
        case GenerationCompleted() | GenerationFailed() | GenerationCancelled():
            answer = _answer(rows, event.session_id, event.message_id)
            ended = lifecycle.evolve(answer, seq, event)
            if ended is None:
                return []
            # Every end counts its chunks (failed/cancelled since deltas), so a rebuild after the
            # deltas expired agrees; older events carry 0: keep what the chunks counted.
            ended = msgspec.structs.replace(ended, chunk_count=event.chunk_count or answer.chunk_count)
            return [*_touch(rows, answer.session_id, seq, at), ended]
        case GenerationCancelRequested():
            return []  # the answer changes when generation.cancelled arrives; the checkpoint still moves
        case _:
            raise TypeError(f"not a chat event: {event!r}")


def _parent(rows: Rows, session: SessionRow, event: MessageSubmitted) -> str | None:
    """Where a new user message hangs (``events.tree.parent_of``), from the rows ``keys`` loaded."""
    refs = (_safe_id(event.parent_id), _safe_id(event.edit_of))
    known = {ref: row.parent_id for ref in refs if ref and (row := rows.message(ref)) and row.session_id == session.id}
    canonical = msgspec.structs.replace(event, parent_id=refs[0], edit_of=refs[1])
    return tree.parent_of(canonical, known, session.head_id)


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


# What the live worker is delivered: every event but token deltas, most of the stream while answers
# stream. An open answer's text reaches readers over the socket, and REST reads fold its stored
# deltas onto the row (services/edge/streaming.py); the answer's end carries the text whole. A
# rebuild reads the stream unfiltered (replay.py: a filtered consumer is far slower to drain) and
# skips what this projection does not read, so the rows agree either way.
READS = tuple(t for t in EVENT_TYPES if t is not GenerationDelta)
CHAT = Projection(
    "chat", (SESSIONS, MESSAGES), keys, evolve, rows=Rows, filter_subjects=tuple(subjects.of_type(t) for t in READS)
)
