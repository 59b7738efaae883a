"""Who may touch what: a user sees only their own sessions, and another user's session is
indistinguishable from a missing one (``NotFound`` either way).

Owners come from, in order: what this edge saw on the stream (``Index``), the projection, and
for a session created a moment ago through another edge, the stream itself (a direct get of
the session's ``session.created`` event).
"""

from __future__ import annotations

import asyncio

import asyncpg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError as NatsNotFound

from events import codec, subjects
from events.errors import EventDecodeError, InvalidSubjectToken
from events.schema import MessageSubmitted, SessionCreated, SessionDeleted
from events.streams import CHAT_STREAM
from projections import queries
from services.edge.errors import NotFound, Unavailable
from services.edge.index import Index, MessageRef, SessionRef
from services.edge.inputs import canonical_id

NO_SESSION = "no such session"
NO_MESSAGE = "no such message in this session"


class Access:
    def __init__(self, index: Index, pool: asyncpg.Pool, js: JetStreamContext) -> None:
        self.index = index
        self.pool = pool
        self.js = js

    async def session(self, user_id: str, session_id: str) -> SessionRef:
        """The caller's live session, or ``NotFound``. Use the ref's ``session_id``: it is the
        canonical form of the id asked for (events and subjects carry only that form)."""
        # Sessions are created by the edge with UUID ids: anything else cannot exist.
        session_id = canonical_id(session_id)
        if session_id is None:
            raise NotFound(NO_SESSION)
        ref = self.index.sessions.get(session_id)
        if ref is None:
            ref = await self._lookup(session_id)
            if ref is not None:
                self.index.sessions.put(session_id, ref)
        if ref is None or ref.deleted or ref.user_id != user_id:
            raise NotFound(NO_SESSION)
        return ref

    async def _lookup(self, session_id: str) -> SessionRef | None:
        try:
            row = await queries.get_session(self.pool, session_id)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise Unavailable(f"PostgreSQL: {exc}") from None
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
            return codec.decode(msg.data)
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

    async def last_user_message(self, session_id: str) -> str | None:
        """Id of the session's newest user message (the default prompt to regenerate)."""
        event = await self.last_event(subjects.of_type(MessageSubmitted, session_id))
        return event.message_id if isinstance(event, MessageSubmitted) else None

    async def _find(self, message_id: str, wait: float) -> MessageRef | None:
        message_id = canonical_id(message_id)
        if message_id is None:
            return None
        ref = self.index.messages.get(message_id)
        if ref is None:
            try:
                row = await queries.get_message(self.pool, message_id)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                raise Unavailable(f"PostgreSQL: {exc}") from None
            if row is not None:
                ref = MessageRef(
                    message_id=row["id"],
                    session_id=row["session_id"],
                    role=row["role"],
                    seq=None,
                    created_at=row["created_at"],
                    prompt_message_id=row["reply_to"],
                    llm_provider=row["llm_provider"],
                    llm_model=row["llm_model"],
                )
        # A message sent a moment ago through another edge may not have reached this edge's
        # bridge (nor the projection) yet: give it ``wait`` seconds before declaring it unknown.
        deadline = asyncio.get_running_loop().time() + wait
        while ref is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            ref = self.index.messages.get(message_id)
        return ref

    async def message(self, session: SessionRef, message_id: str, *, wait: float = 0.0) -> MessageRef:
        """A message of ``session`` (already access-checked), or ``NotFound``."""
        ref = await self._find(message_id, wait)
        if ref is None or ref.session_id != session.session_id:
            raise NotFound(NO_MESSAGE)
        return ref

    async def answer(self, user_id: str, message_id: str, *, wait: float = 0.0) -> tuple[SessionRef, MessageRef]:
        """An answer in one of the caller's sessions, with its session, or ``NotFound``."""
        ref = await self._find(message_id, wait)
        if ref is None or ref.role != "assistant":
            raise NotFound("no such answer")
        return await self.session(user_id, ref.session_id), ref
