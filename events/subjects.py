"""The subject taxonomy. Stored events live under ``parley.chat.<session_id>.<type>``, where
``<type>`` is the event's tag (``session.created``, ``generation.chunk``, ...). So:

======================================  =============================================
filter                                  selects
======================================  =============================================
``parley.chat.>``                       every stored event (the whole stream)
``parley.chat.<session_id>.>``          everything of one session, in order
``parley.chat.*.generation.requested``  every prompt (the generation work queue)
``parley.chat.*.generation.completed``  every completed answer
``parley.chat.*.generation.failed``     every error
``parley.chat.*.generation.*``          every generation event
``parley.chat.*.generation.delta``      every token delta (short-lived: see streams.py)
``parley.chat.*.session.*``             every session lifecycle event
======================================  =============================================

Typing indicators are ephemeral: core NATS on ``parley.typing.<session_id>``, outside the stream.
"""

from __future__ import annotations

from events.errors import InvalidSubjectToken
from events.schema import (
    Event,
    GenerationCancelRequested,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    GenerationRequested,
    type_tag,
)

ROOT = "parley.chat"
ALL = f"{ROOT}.>"
TYPING_ROOT = "parley.typing"

_FORBIDDEN = frozenset(".*> \t\r\n")


def token(value: str) -> str:
    """Check that ``value`` can stand as one subject token (session ids are client-chosen)."""
    if not value or not _FORBIDDEN.isdisjoint(value):  # in C: this runs for every event published
        raise InvalidSubjectToken(f"not usable as a subject token: {value!r}")
    return value


def for_event(event: Event) -> str:
    return f"{ROOT}.{token(event.session_id)}.{type_tag(type(event))}"


def session(session_id: str) -> str:
    """Everything of one session."""
    return f"{ROOT}.{token(session_id)}.>"


def of_type(event_type: type[Event], session_id: str = "*") -> str:
    """Every event of one type, of one session or (default) of all sessions."""
    sid = session_id if session_id == "*" else token(session_id)
    return f"{ROOT}.{sid}.{type_tag(event_type)}"


PROMPTS = of_type(GenerationRequested)
COMPLETED = of_type(GenerationCompleted)
ERRORS = of_type(GenerationFailed)
CANCELS = of_type(GenerationCancelRequested)
DELTAS = of_type(GenerationDelta)
GENERATION = f"{ROOT}.*.generation.*"
SESSIONS = f"{ROOT}.*.session.*"


def typing(session_id: str) -> str:
    return f"{TYPING_ROOT}.{token(session_id)}"


def session_of(subject: str) -> str:
    """The session id of a stored event's subject."""
    parts = subject.split(".", 3)
    if len(parts) < 4 or f"{parts[0]}.{parts[1]}" != ROOT:
        raise InvalidSubjectToken(f"not a Parley event subject: {subject!r}")
    return parts[2]
