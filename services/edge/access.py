"""Who may touch what: a user sees only their own sessions, and another user's session is
indistinguishable from a missing one (``NotFound`` either way).

Owners come from, in order: a small cache of owners this edge already looked up (the bridge
drops a session from it when it sees the session deleted), the projection, and for a session
created a moment ago through another edge, the stream itself (a direct get of the session's
``session.created`` event). Messages come from the projection, else (sent a moment ago) from the
stream: the session's newest message and request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError as NatsNotFound

from events import codec, subjects
from events.errors import EventDecodeError, InvalidSubjectToken
from events.schema import GenerationRequested, MessageSubmitted, SessionCreated, SessionDeleted
from events.streams import CHAT_STREAM
from projections import queries
from services.edge import metrics
from services.edge.errors import NotFound, Unavailable
from services.edge.inputs import canonical_id

T = TypeVar("T")

# Every way a projection read can fail while PostgreSQL restarts: refused (OSError), shutting
# down (PostgresError), a connection gone (InterfaceError), or a pooled connection caught
# mid-operation when its server went away (InternalClientError, e.g. "cannot switch to state").
POSTGRES_TROUBLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError)

NO_SESSION = "no such session"
NO_MESSAGE = "no such message in this session"
OWNERS_CACHED = 100_000


class Pooled(asyncpg.Connection):
    """The edge's pooled connection: released without asyncpg's reset query (advisory unlock,
    CLOSE ALL, UNLISTEN *, RESET ALL: a second round trip for every read) unless it listened.
    The edge's reads set no session setting, take no advisory lock and hold no cursor; asyncpg
    still rolls back an open transaction and drops the listeners' callbacks on release."""

    _listened = False

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._listened = True  # UNLISTEN on release, even if remove_listener never ran
        await super().add_listener(channel, callback)

    def get_reset_query(self) -> str:
        if not self._listened:
            return ""
        self._listened = False
        return super().get_reset_query()


async def open_pool(url: str, *, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=1, max_size=max_size, command_timeout=10, connection_class=Pooled)


async def db(awaitable: Awaitable[T]) -> T:
    """Await a projection read; PostgreSQL trouble becomes ``Unavailable`` (503, error frame
    ``unavailable``), never a 500 or a silent socket."""
    try:
        return await awaitable
    except POSTGRES_TROUBLE as exc:
        metrics.ERRORS.labels("postgres").inc()
        raise Unavailable(f"PostgreSQL: {exc}") from None


@dataclass(frozen=True, slots=True)
class SessionRef:
    session_id: str
    user_id: str
    deleted: bool = False
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class MessageRef:
    message_id: str
    session_id: str
    role: str  # "user" | "assistant"
    prompt_message_id: str | None = None  # answers: the user message answered
    seq: int | None = None  # stream sequence that created it, when known


class Access:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext) -> None:
        self.pool = pool
        self.js = js
        self._owners: dict[str, SessionRef] = {}

    def remember(self, ref: SessionRef) -> None:
        if len(self._owners) >= OWNERS_CACHED:
            self._owners.clear()  # cheap to refill: one projection read per session
        self._owners[ref.session_id] = ref

    def forget(self, session_id: str) -> None:
        self._owners.pop(session_id, None)

    async def session(self, user_id: str, session_id: str) -> SessionRef:
        """The caller's live session, or ``NotFound``. Use the ref's ``session_id``: it is the
        canonical form of the id asked for (events and subjects carry only that form)."""
        # Sessions are created by the edge with UUID ids: anything else cannot exist.
        session_id = canonical_id(session_id)
        if session_id is None:
            raise NotFound(NO_SESSION)
        ref = self._owners.get(session_id)
        if ref is None:
            ref = await self._lookup(session_id)
            if ref is not None and not ref.deleted:
                self.remember(ref)
        if ref is None or ref.deleted or ref.user_id != user_id:
            raise NotFound(NO_SESSION)
        return ref

    async def _lookup(self, session_id: str) -> SessionRef | None:
        row = await db(queries.get_session(self.pool, session_id))
        if row is not None:
            return SessionRef(session_id, row["user_id"], not row["is_active"], row["last_seq"])
        created = await self.last_event(subjects.of_type(SessionCreated, session_id))
        if created is None:
            return None
        deleted = await self.last_event(subjects.of_type(SessionDeleted, session_id))
        if not isinstance(created, SessionCreated):
            return None
        return SessionRef(session_id, created.user_id, deleted is not None)

    async def last_event(self, subject: str):
        """The last stored event on ``subject``, or None."""
        try:
            msg = await self.js.get_last_msg(CHAT_STREAM, subject, direct=True)
        except NatsNotFound:
            return None
        except InvalidSubjectToken:
            return None
        except (NatsError, TimeoutError) as exc:  # timeouts, no JetStream, connection closed
            raise Unavailable(f"NATS did not answer: {exc or type(exc).__name__}") from None
        try:
            return codec.decode(msg.data, msg.subject)
        except EventDecodeError:
            return None

    async def last_seq(self, session_id: str) -> int | None:
        """The stream sequence of the session's newest event."""
        try:
            msg = await self.js.get_last_msg(CHAT_STREAM, subjects.session(session_id), direct=True)
        except NatsNotFound:
            return None
        except (NatsError, TimeoutError) as exc:
            raise Unavailable(f"NATS did not answer: {exc or type(exc).__name__}") from None
        return msg.seq

    async def last_seq_of_stream(self) -> int:
        try:
            return (await self.js.stream_info(CHAT_STREAM)).state.last_seq
        except (NatsError, TimeoutError) as exc:
            raise Unavailable(f"NATS did not answer: {exc or type(exc).__name__}") from None

    async def last_user_message(self, session_id: str) -> str | None:
        """Id of the session's newest user message (the default prompt to regenerate)."""
        event = await self.last_event(subjects.of_type(MessageSubmitted, session_id))
        return event.message_id if isinstance(event, MessageSubmitted) else None

    async def _find(self, message_id: str, session_id: str | None, wait: float) -> MessageRef | None:
        message_id = canonical_id(message_id)
        if message_id is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            row = await self._row(message_id)
            if row is not None:
                return MessageRef(row["id"], row["session_id"], row["role"], row["reply_to"])
            if session_id is not None:
                # Sent a moment ago (through any edge), not yet projected: the newest request or
                # message of the session, straight from the stream.
                for kind in (GenerationRequested, MessageSubmitted):
                    event = await self.last_event(subjects.of_type(kind, session_id))
                    if event is not None and event.message_id == message_id:
                        return MessageRef(
                            message_id,
                            session_id,
                            "assistant" if isinstance(event, GenerationRequested) else "user",
                            getattr(event, "prompt_message_id", None),
                        )
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def _row(self, message_id: str):
        return await db(queries.get_message(self.pool, message_id))

    async def message(self, session: SessionRef, message_id: str, *, wait: float = 0.0) -> MessageRef:
        """A message of ``session`` (already access-checked), or ``NotFound``."""
        ref = await self._find(message_id, session.session_id, wait)
        if ref is None or ref.session_id != session.session_id:
            raise NotFound(NO_MESSAGE)
        return ref

    async def answer(self, user_id: str, message_id: str, *, wait: float = 0.0) -> tuple[SessionRef, MessageRef]:
        """An answer in one of the caller's sessions, with its session, or ``NotFound``."""
        ref = await self._find(message_id, None, wait)
        if ref is None or ref.role != "assistant":
            raise NotFound("no such answer")
        return await self.session(user_id, ref.session_id), ref
