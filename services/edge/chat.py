"""What the edge does for a client, shared by the REST routes and the sockets: check access,
decide the events (``commands.decide``), publish them (``journal``), and read from the projections.

Writes return as soon as JetStream has stored the events; the answer streams over sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from events import codec, subjects
from events.schema import GenerationRequested, MessageSubmitted, SessionCreated, TypingIndicator
from projections import queries
from projections.errors import InvalidCursor
from services import logs, tracing
from services.edge import frames, metrics, streaming
from services.edge.access import Access, db
from services.edge.commands import (
    Cancel,
    CreateSession,
    DeleteSession,
    Limits,
    Regenerate,
    SendMessage,
    UpdateSession,
    decide,
)
from services.edge.errors import Invalid, NotFound, RateLimited, Unavailable
from services.edge.journal import Journal
from services.edge.quota import Quota
from services.edge.witness import Witness

log = logs.get("edge.chat")

# Read-your-writes: how long a write (or a read given a sequence) waits for the projection
# before answering anyway.
READ_YOUR_WRITES_S = 2.0


class Chat:
    def __init__(
        self,
        *,
        nc: Client,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        limits: Callable[[], Limits],
        quota: Quota | None = None,
        sessions_per_user: int = 0,
    ) -> None:
        self.nc = nc
        self.js = js
        self.pool = pool
        self._limits = limits  # read per command: the default provider/model change live
        self.access = Access(pool, js)
        self.journal = Journal(nc, js, self.access, quota)
        self.quota = quota
        self.sessions_per_user = sessions_per_user
        self.witness = Witness()  # fed by the bridge: which sent messages are certainly not stored

    @property
    def limits(self) -> Limits:
        return self._limits()

    # -- reading ----------------------------------------------------------------------------------

    async def caught_up(self, seq: int) -> bool:
        """Wait (briefly) until the projection has applied stream sequence ``seq``."""
        if await db(queries.checkpoint(self.pool)) >= seq:
            return True
        # A number past the stream's end (a replaced stream, a stale client) must not stall every read.
        seq = min(seq, await self.access.last_seq_of_stream())
        return await db(queries.wait_for_seq(self.pool, seq, READ_YOUR_WRITES_S))

    # -- sessions ---------------------------------------------------------------------------------

    def _check_send(self, user_id: str) -> None:
        refusal = self.quota.check_send(user_id) if self.quota is not None else None
        if refusal is not None:
            metrics.ERRORS.labels("rate_limited").inc()
            raise RateLimited(f"{refusal.reason}; retry in {refusal.retry_after_s:.0f} s", refusal.retry_after_s)

    async def create_session(self, user_id: str, **fields: Any) -> dict[str, Any]:
        if self.sessions_per_user:
            count = await db(queries.count_live_sessions(self.pool, user_id))
            if count >= self.sessions_per_user:
                raise RateLimited(
                    f"at most {self.sessions_per_user} sessions per user (PARLEY_SESSIONS_PER_USER); delete one first"
                )
        (event,) = decide(CreateSession(session_id=codec.new_id(), **fields), user_id, self.limits)
        (ack,) = await self.journal.publish([event])
        log.info("session created", session_id=event.session_id, user_id=user_id, stream_seq=ack.seq)
        return await self._session_after(event.session_id, ack.seq, fallback=event)

    async def _session_after(self, session_id: str, seq: int, fallback: SessionCreated | None) -> dict[str, Any]:
        """The session as the projection has it once it applied ``seq`` (read-your-writes)."""
        await db(queries.wait_for_seq(self.pool, seq, READ_YOUR_WRITES_S))
        row = await db(queries.get_session(self.pool, session_id))
        if row is not None and row["is_active"]:
            return row
        if fallback is not None:  # projection lagging: the event says it all for a new session
            return frames.session_from_created(fallback, seq)
        raise Unavailable("the read model is behind; retry in a moment")

    async def get_session(self, user_id: str, session_id: str) -> dict[str, Any]:
        ref = await self.access.session(user_id, session_id)
        session_id = ref.session_id
        row = await db(queries.get_session(self.pool, session_id))
        if row is not None and row["is_active"]:
            return row
        seq = ref.last_seq or await self.access.last_seq(session_id) or 0
        created = await self.access.last_event(subjects.of_type(SessionCreated, session_id))
        return await self._session_after(session_id, seq, created if isinstance(created, SessionCreated) else None)

    async def list_sessions(self, user_id: str, *, page: int, page_size: int, q: str | None) -> list[dict[str, Any]]:
        return await db(queries.list_sessions(self.pool, user_id, page=page, page_size=page_size, q=q))

    async def update_session(self, user_id: str, session_id: str, **fields: Any) -> dict[str, Any]:
        session_id = (await self.access.session(user_id, session_id)).session_id
        if all(v is None for v in fields.values()):
            return await self.get_session(user_id, session_id)
        current = None
        if fields.get("llm_model") is not None and fields.get("llm_provider") is None:
            row = await db(queries.get_session(self.pool, session_id))
            current = row["llm_provider"] if row else None
        (event,) = decide(
            UpdateSession(session_id=session_id, current_provider=current, **fields), user_id, self.limits
        )
        (ack,) = await self.journal.publish([event])
        await db(queries.wait_for_seq(self.pool, ack.seq, READ_YOUR_WRITES_S))
        return await self.get_session(user_id, session_id)

    async def delete_session(self, user_id: str, session_id: str) -> int:
        session_id = (await self.access.session(user_id, session_id)).session_id
        (event,) = decide(DeleteSession(session_id=session_id), user_id, self.limits)
        (ack,) = await self.journal.publish([event])
        log.info("session deleted", session_id=session_id, user_id=user_id, stream_seq=ack.seq)
        await db(queries.wait_for_seq(self.pool, ack.seq, READ_YOUR_WRITES_S))
        return ack.seq

    # -- messages ---------------------------------------------------------------------------------

    async def send(
        self,
        user_id: str,
        session_id: str,
        content: str,
        client_message_id: str | None,
        *,
        parent_id: str | None = None,
        edit_of: str | None = None,
    ) -> tuple[dict[str, Any], str, int]:
        """Store a user message and request its answer: (message, answer id, seq). ``parent_id`` /
        ``edit_of`` place it in the conversation's tree (events/tree.py)."""
        session_id = (await self.access.session(user_id, session_id)).session_id
        command = SendMessage(
            session_id=session_id,
            content=content,
            client_message_id=client_message_id,
            parent_id=parent_id,
            edit_of=edit_of,
        )
        submitted, requested = decide(
            command,
            user_id,
            self.limits,
        )
        assert isinstance(submitted, MessageSubmitted) and isinstance(requested, GenerationRequested)
        if client_message_id is not None and not self.witness.never_stored(session_id, submitted.message_id):
            # A retry after JetStream's dedup window: the projection still knows the message.
            existing = await db(queries.get_message(self.pool, submitted.message_id))
            answer = await db(queries.get_message(self.pool, requested.message_id)) if existing else None
            if existing is not None and answer is not None:
                return existing, requested.message_id, max(existing["last_seq"] or 0, answer["last_seq"] or 0)
        self._check_send(user_id)  # after the retry check above: a retried send is no new send
        prompt = tracing.prompt(session_id, requested.message_id)
        ack_message, ack_request = await self.journal.publish([submitted, requested], prompt)
        prompt.stored()
        message = frames.user_message(submitted, ack_message.seq)
        if ack_message.duplicate:
            stored = await self.journal.stored(ack_message.seq)
            if isinstance(stored, MessageSubmitted):
                message = frames.user_message(stored, ack_message.seq)
        log.info(
            "message stored",
            session_id=session_id,
            message_id=submitted.message_id,
            answer_id=requested.message_id,
            stream_seq=ack_request.seq,
            duplicate=ack_message.duplicate,
        )
        return message, requested.message_id, ack_request.seq

    async def list_messages(
        self,
        user_id: str,
        session_id: str,
        *,
        page: int,
        page_size: int,
        before: str | None,
        branch: str | None = None,
        all_branches: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        session_id = (await self.access.session(user_id, session_id)).session_id
        read = queries.list_messages(
            self.pool,
            session_id,
            page=page,
            page_size=page_size,
            before=before,
            branch=branch,
            all_branches=all_branches,
        )
        try:
            messages, seq = await db(read)
        except InvalidCursor as exc:
            raise Invalid(str(exc), "branch" if str(exc).startswith("branch") else "before") from None
        return await streaming.fill(self.js, session_id, messages, seq), seq

    async def regenerate(
        self,
        user_id: str,
        session_id: str,
        message_id: str | None,
        llm_provider: str | None = None,
        llm_model: str | None = None,
    ) -> tuple[str, str, int]:
        """A new answer to a user message (default the newest): (answer id, prompt id, seq)."""
        session = await self.access.session(user_id, session_id)
        session_id = session.session_id
        if message_id is None:
            prompt_id = await self.access.last_user_message(session_id)
            if prompt_id is None:
                raise NotFound("this session has no user message to answer")
        else:
            ref = await self.access.message(session, message_id, wait=1.0)
            # An answer's id stands for the user message it answers.
            prompt_id = ref.message_id if ref.role == "user" else ref.prompt_message_id
            if prompt_id is None:
                raise NotFound("this message answers no user message")
        self._check_send(user_id)
        current = None
        if llm_model is not None and llm_provider is None:
            row = await db(queries.get_session(self.pool, session_id))
            current = row["llm_provider"] if row else None
        (event,) = decide(
            Regenerate(
                session_id=session_id,
                prompt_message_id=prompt_id,
                llm_provider=llm_provider,
                llm_model=llm_model,
                current_provider=current,
            ),
            user_id,
            self.limits,
        )
        (ack,) = await self.journal.publish([event])
        return event.message_id, prompt_id, ack.seq

    async def cancel(self, user_id: str, session_id: str, message_id: str) -> int:
        session = await self.access.session(user_id, session_id)
        session_id = session.session_id
        ref = await self.access.message(session, message_id, wait=1.0)
        if ref.role != "assistant":
            raise NotFound("no such answer in this session")
        message_id = ref.message_id
        (event,) = decide(Cancel(session_id=session_id, message_id=message_id), user_id, self.limits)
        (ack,) = await self.journal.publish([event])
        log.info("cancel requested", session_id=session_id, message_id=message_id, stream_seq=ack.seq)
        return ack.seq

    async def typing(self, user_id: str, session_id: str, typing: bool, connection_id: str) -> None:
        """Tell the session's other sockets (every edge); core NATS, never stored."""
        indicator = TypingIndicator(session_id=session_id, user_id=user_id, typing=typing, connection_id=connection_id)
        try:
            await self.nc.publish(subjects.typing(session_id), codec.encode(indicator))
        except NatsError as exc:
            raise Unavailable(f"NATS: {exc}") from None
