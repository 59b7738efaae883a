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

from collections.abc import Callable, Iterable
from operator import itemgetter

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


def matcher(filters: Iterable[str]) -> Callable[[str], bool]:
    """Whether a subject matches any of ``filters``, by NATS's rules (``*``: one token; ``>``: one
    or more, at the end). Compiled once: filters with wildcards in the same places share one set
    lookup, so a subject costs a split and a lookup however many filters there are (a replay asks
    this of every event of the stream, and the chat projection has eleven filters)."""
    shapes: dict[tuple[int, tuple[int, ...], bool], set[tuple[str, ...]]] = {}
    for text in filters:
        tokens = text.split(".")
        tail = tokens[-1] == ">"
        if tail:
            tokens.pop()
        kept = tuple(i for i, t in enumerate(tokens) if t != "*")
        shapes.setdefault((len(tokens), kept, tail), set()).add(tuple(tokens[i] for i in kept))
    compiled = [(length, tail, _picker(kept), literals) for (length, kept, tail), literals in shapes.items()]

    def matches(subject: str) -> bool:
        tokens = subject.split(".")
        n = len(tokens)
        for length, tail, pick, literals in compiled:
            if (n > length if tail else n == length) and pick(tokens) in literals:
                return True
        return False

    return matches


def _picker(kept: tuple[int, ...]) -> Callable[[list[str]], tuple[str, ...]]:
    """The tokens at ``kept``, as a tuple (``itemgetter`` gives a bare item for one index)."""
    if len(kept) > 1:
        return itemgetter(*kept)
    if kept:
        (i,) = kept
        return lambda tokens: (tokens[i],)
    return lambda tokens: ()
