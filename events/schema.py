"""Every event Parley stores, as msgspec Structs.

Rules (see docs/events.md):
- one frozen, kw_only Struct per event; the ``type`` tag doubles as the subject tail, so
  ``GenerationCompleted`` (type ``generation.completed``) of session S is stored on
  ``parley.chat.S.generation.completed``;
- evolve by adding fields with defaults; never change a field's type; a breaking change is a
  new tag;
- every event carries ``event_id``, ``occurred_at``, ``session_id`` and ``user_id``; events about
  one message also carry ``message_id`` (the assistant answer for generation events);
- the wire is lean (``events/codec.py``): fields at their default are left out, ``session_id`` is
  named by the subject only, and an ``event_id`` derivable from the event is left out too (it is
  the ``Nats-Msg-Id`` header). Decoding fills them in, so in Python every event has them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

ErrorKind = Literal[
    "provider_unavailable",  # connect errors, 5xx, every provider in the failover list down
    "rate_limited",  # 429 after retries
    "timeout",  # no token / no progress within the request timeout
    "provider_error",  # the provider answered with an error (bad model, 4xx, error mid-stream)
    "bad_request",  # the request itself cannot be answered (unknown session, context too long)
    "internal",  # a bug on our side; logged with a traceback
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Generation settings a user picks per session; ``None`` means the provider's default."""

    system_prompt: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # True when the provider reported the numbers, False when we counted them ourselves.
    reported: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Timings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    time_to_first_token_ms: int | None = None
    total_ms: int = 0


_EVENT_ID = msgspec.Meta(
    description="Left out when the event determines it (lean events): then the message's Nats-Msg-Id header"
)
_SESSION_ID = msgspec.Meta(description="Left out of lean events: the subject parley.chat.<session_id>.<type> names it")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    # "" only on the wire (see the module's doc): ``codec.decode`` fills both in.
    event_id: Annotated[str, _EVENT_ID] = ""
    occurred_at: datetime
    session_id: Annotated[str, _SESSION_ID] = ""
    user_id: str


# -- sessions -------------------------------------------------------------------------------------


class SessionCreated(Event, tag="session.created"):
    title: str
    llm_provider: str
    llm_model: str
    settings: SessionSettings = SessionSettings()
    imported_from: str | None = None  # set by an import: the exported session's id


class SessionUpdated(Event, tag="session.updated"):
    """Only the fields that changed are set; ``None`` means unchanged."""

    title: str | None = None
    llm_provider: str | None = None
    llm_model: str | None = None
    settings: SessionSettings | None = None


class SessionDeleted(Event, tag="session.deleted"):
    pass


# -- messages -------------------------------------------------------------------------------------


class MessageSubmitted(Event, tag="message.submitted"):
    """A user's message, stored as it was sent.

    Branches (``events/tree.py``): ``parent_id`` is the message it follows (the answer it replies
    to); ``edit_of`` makes it an edited copy of an earlier message, a sibling on a new branch.
    Both unset: it follows the session's newest message (how every older event reads).
    """

    message_id: str
    content: str
    client_message_id: str | None = None
    parent_id: str | None = None
    edit_of: str | None = None


# -- generation -----------------------------------------------------------------------------------


class GenerationRequested(Event, tag="generation.requested"):
    """Ask for an answer (``message_id``) to the user message ``prompt_message_id`` (its parent
    in the conversation's tree: answers to one prompt are siblings).

    A regeneration is a new request with a new ``message_id`` for the same prompt message.
    ``llm_provider``/``llm_model`` override the session's choice for this answer only.
    """

    message_id: str
    prompt_message_id: str
    llm_provider: str | None = None
    llm_model: str | None = None
    regenerate: bool = False
    imported: bool = False  # an imported answer: its end follows at once, nothing is generated


class GenerationStarted(Event, tag="generation.started"):
    message_id: str
    llm_provider: str
    llm_model: str
    attempt: int = 1
    worker_id: str = ""


class GenerationRestarted(Event, tag="generation.restarted"):
    """A worker took an unfinished answer over: the partial text of earlier attempts is void."""

    message_id: str
    attempt: int
    reason: str = ""


# Wire keys of a delta (one is stored per token or so, so every byte repeats).
_DELTA_KEYS = {
    "message_id": "m",
    "attempt": "a",
    "index": "i",
    "token_index": "t",
    "token_count": "n",
    "delta": "d",
    "occurred_at": "at",
}


class GenerationChunk(Event, tag="generation.chunk"):
    """One or more tokens, coalesced.

    ``index`` counts chunks of one attempt from 0; ``token_index`` is the index of the chunk's
    first token and ``token_count`` how many it holds, so a consumer can detect a gap or a
    duplicate by either counter.
    """

    message_id: str
    attempt: int
    index: int
    token_index: int
    token_count: int
    delta: str
    # The model's reasoning ("thinking"), streamed apart from the answer by reasoning models:
    # shown and stored with the answer, never part of its content nor of the context sent back.
    reasoning: bool = False


class GenerationDelta(GenerationChunk, tag="generation.delta", kw_only=True, rename=_DELTA_KEYS, omit_defaults=True):
    """A chunk as generation writes it now: short-lived, lean on the wire.

    The same fields as ``GenerationChunk`` (a subclass: code matching chunks matches deltas), but
    one is written per token or so, so the wire drops what repeats: short keys, no ``event_id``
    (derivable from answer, attempt and index), no ``user_id`` (the session's owner), no
    ``session_id`` (the subject names it: ``codec.decode(data, subject)`` fills it in). Deltas are
    removed after ``PARLEY_DELTA_RETENTION_S``; the terminal event keeps the text and each token's
    timing (``tokens``), so the permanent log alone replays the answer.
    """

    message_id: str
    attempt: int = 1
    index: int
    token_index: int
    token_count: int = 1
    delta: str
    occurred_at: datetime
    event_id: str = ""
    session_id: str = ""
    user_id: str = ""


class GenerationCompleted(Event, tag="generation.completed"):
    message_id: str
    content: str
    llm_provider: str
    llm_model: str
    attempt: int = 1
    usage: Usage = Usage()
    timings: Timings = Timings()
    finish_reason: str | None = None
    chunk_count: int = 0
    context_dropped: int = 0  # oldest messages left out to fit the model's context window
    # What a reader of the end alone needs (events stored before these were added carry None):
    created_at: datetime | None = None  # when the answer was requested
    reply_to: str | None = None  # the user message answered (the request's prompt_message_id)
    tokens: str = ""  # every token's length and time: events.tokens (empty on older events)
    reasoning: str = ""  # the reasoning chunks joined


class GenerationFailed(Event, tag="generation.failed"):
    """The answer ended in an error. ``partial_content`` keeps whatever had streamed."""

    message_id: str
    error_kind: ErrorKind
    error_message: str
    partial_content: str = ""
    attempt: int = 1
    llm_provider: str | None = None
    llm_model: str | None = None
    timings: Timings = Timings()
    usage: Usage = Usage()  # tokens spent on the partial answer (still billed)
    context_dropped: int = 0  # oldest messages left out to fit the model's context window
    # What a reader of the end alone needs (events stored before these were added carry None):
    created_at: datetime | None = None  # when the answer was requested
    reply_to: str | None = None  # the user message answered (the request's prompt_message_id)
    chunk_count: int = 0
    tokens: str = ""  # every streamed token's length and time: events.tokens
    reasoning: str = ""  # the reasoning chunks joined


class GenerationCancelRequested(Event, tag="generation.cancel_requested"):
    message_id: str


class GenerationCancelled(Event, tag="generation.cancelled"):
    message_id: str
    partial_content: str = ""
    attempt: int = 1
    llm_provider: str | None = None
    llm_model: str | None = None
    timings: Timings = Timings()
    usage: Usage = Usage()  # tokens spent before the stop (still billed)
    context_dropped: int = 0  # oldest messages left out to fit the model's context window
    # What a reader of the end alone needs (events stored before these were added carry None):
    created_at: datetime | None = None  # when the answer was requested
    reply_to: str | None = None  # the user message answered (the request's prompt_message_id)
    chunk_count: int = 0
    tokens: str = ""  # every streamed token's length and time: events.tokens
    reasoning: str = ""  # the reasoning chunks joined


ChatEvent = (
    SessionCreated
    | SessionUpdated
    | SessionDeleted
    | MessageSubmitted
    | GenerationRequested
    | GenerationStarted
    | GenerationRestarted
    | GenerationChunk
    | GenerationDelta
    | GenerationCompleted
    | GenerationFailed
    | GenerationCancelRequested
    | GenerationCancelled
)

EVENT_TYPES: tuple[type[Event], ...] = ChatEvent.__args__  # type: ignore[attr-defined]

# Events that end an answer: after one of these no more chunks of that message follow.
TERMINAL_TYPES = (GenerationCompleted, GenerationFailed, GenerationCancelled)


def type_tag(event_type: type[Event]) -> str:
    return event_type.__struct_config__.tag  # type: ignore[return-value]


class TypingIndicator(msgspec.Struct, frozen=True, kw_only=True):
    """Ephemeral (core NATS, never stored): someone in the session is typing."""

    session_id: str
    user_id: str
    typing: bool = True
    connection_id: str = ""
    occurred_at: datetime = msgspec.field(default_factory=utcnow)
