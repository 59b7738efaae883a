"""The conversation sent to the model, built from the session's own events on JetStream.

Never from the Postgres projection: the stream is ahead of it, so a quick second message always
sees the first answer. ``load`` reads a session's events except chunks (a server-side filter);
``fold``/``evolve`` turn them into a ``History``; ``conversation`` picks the turns for one answer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import MappingProxyType
from typing import Any

import msgspec
from msgspec.structs import replace
from nats.js import JetStreamContext, api

from events import codec, lifecycle, subjects, tree
from events.errors import EventDecodeError
from events.model import LIVE, TERMINAL, ChatMessage
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
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    SessionSettings,
    SessionUpdated,
)
from events.streams import CHAT_STREAM
from services import logs

log = logs.get("generation.context")

# Everything but the chunks (and the started/restarted markers): the turns, the session's
# settings, and what is needed to decide about redeliveries and early cancels.
CONTEXT_TYPES = (
    SessionCreated,
    SessionUpdated,
    SessionDeleted,
    MessageSubmitted,
    GenerationRequested,
    GenerationCompleted,
    GenerationFailed,
    GenerationCancelled,
    GenerationCancelRequested,
)


class History(msgspec.Struct, frozen=True):
    """What a session's events say, as far as generation cares. A msgspec struct, not a frozen
    dataclass: every worker's feed replaces it for every context event of every session, and
    ``dataclasses.replace`` of these thirteen fields was most of that cost."""

    session_id: str
    exists: bool = False
    deleted: bool = False
    llm_provider: str | None = None
    llm_model: str | None = None
    settings: SessionSettings = msgspec.field(default_factory=SessionSettings)
    user_messages: tuple[tuple[str, str], ...] = ()  # (message_id, content), in order
    answers: MappingProxyType = msgspec.field(default_factory=lambda: MappingProxyType({}))  # id -> ChatMessage
    answer_order: tuple[str, ...] = ()  # answer ids in request order
    cancel_requested: frozenset[str] = frozenset()
    last_seq: int = 0
    # The conversation tree (events/tree.py): every message's parent, and the newest message.
    parents: MappingProxyType = msgspec.field(default_factory=lambda: MappingProxyType({}))
    head: str | None = None
    compacted: bool = False  # older messages were left out (``compact``): a full load has them


# A context holds at most this many user messages (and their answers) of its branch, and a cached
# history keeps between this and twice this many: a session's memory is bounded, not its length.
CONTEXT_USER_MESSAGES = 128


def _with_answer(state: History, answer: ChatMessage) -> History:
    return replace(state, answers=MappingProxyType({**state.answers, answer.id: answer}))


def _ended(state: History, event: lifecycle.Ended) -> History:
    known = state.answers.get(event.message_id)
    if known is None:  # an end without a request: keep it, so a redelivery still sees it ended
        return _with_answer(state, lifecycle.ended(event, None))
    ended = lifecycle.evolve(known, None, event)
    return state if ended is None else _with_answer(state, ended)  # the first terminal event wins


def evolve(state: History, event: ChatEvent) -> History:
    match event:
        case SessionCreated():
            return replace(
                state, exists=True, llm_provider=event.llm_provider, llm_model=event.llm_model, settings=event.settings
            )
        case SessionUpdated():
            # ``settings`` is replaced whole: inside it None means "provider default", not "unchanged".
            return replace(
                state,
                llm_provider=event.llm_provider or state.llm_provider,
                llm_model=event.llm_model or state.llm_model,
                settings=event.settings if event.settings is not None else state.settings,
            )
        case SessionDeleted():
            return replace(state, deleted=True)
        case MessageSubmitted():
            if event.message_id in state.parents:
                return state
            parent = tree.parent_of(event, state.parents, state.head)
            return replace(
                state,
                user_messages=(*state.user_messages, (event.message_id, event.content)),
                parents=MappingProxyType({**state.parents, event.message_id: parent}),
                head=event.message_id,
            )
        case GenerationRequested():
            if event.message_id in state.answers:
                return state
            state = _with_answer(state, lifecycle.answer(event, None))
            return replace(
                state,
                answer_order=(*state.answer_order, event.message_id),
                parents=MappingProxyType({**state.parents, event.message_id: event.prompt_message_id}),
                head=event.message_id,
            )
        case GenerationCompleted() | GenerationFailed() | GenerationCancelled():
            return _ended(state, event)
        case GenerationCancelRequested():
            return replace(state, cancel_requested=state.cancel_requested | {event.message_id})
        case GenerationChunk() | GenerationStarted() | GenerationRestarted():
            return state
        case _:
            raise TypeError(f"not a chat event: {event!r}")


def fold(session_id: str, events: list[tuple[int, ChatEvent]]) -> History:
    state = History(session_id=session_id)
    for seq, event in events:
        state = replace(evolve(state, event), last_seq=seq)
    return state


def compact(history: History, keep: int | None = None) -> History:
    """The history without its oldest messages once it holds more than twice ``keep`` user
    messages: the newest ``keep``, the answers to them, their places in the tree. What is left out
    is only ever needed for a prompt older than all of them (a redelivery after a restore): a
    cached history that lacks an answer is not used for it (``Sessions.history`` loads in full)."""
    keep = CONTEXT_USER_MESSAGES if keep is None else keep
    if len(history.user_messages) <= 2 * keep:
        return history
    users = history.user_messages[-keep:]
    kept = {mid for mid, _ in users}
    answers = {aid: a for aid, a in history.answers.items() if a.reply_to in kept}
    kept |= answers.keys()
    return replace(
        history,
        user_messages=users,
        answers=MappingProxyType(answers),
        answer_order=tuple(a for a in history.answer_order if a in answers),
        cancel_requested=history.cancel_requested & answers.keys(),
        parents=MappingProxyType({k: v for k, v in history.parents.items() if k in kept}),
        compacted=True,
    )


def covers(history: History, answer_id: str) -> bool:
    """Whether ``history`` holds what answering ``answer_id`` reads: always, unless compacted;
    then only if the answer and its prompt are still in it (a regeneration of an old message is not)."""
    if not history.compacted:
        return True
    answer = history.answers.get(answer_id)
    return answer is not None and any(mid == answer.reply_to for mid, _ in history.user_messages)


def is_terminal(history: History, answer_id: str) -> bool:
    answer = history.answers.get(answer_id)
    return answer is not None and answer.status in TERMINAL


def unfinished_before(history: History, answer_id: str, since: datetime | None = None) -> list[str]:
    """Answers requested earlier in the session (and after ``since``) that have not ended: this
    answer's context should include them, so it waits for them. ``since`` keeps an answer that
    will never end (given up after max deliveries) from holding up a session for good."""
    if answer_id not in history.answers:
        return []
    earlier = history.answer_order[: history.answer_order.index(answer_id)]
    return [
        a
        for a in earlier
        if history.answers[a].status in LIVE and (since is None or (history.answers[a].created_at or since) >= since)
    ]


def branch(history: History, message_id: str) -> list[str]:
    """The ids from the conversation's root down to ``message_id``, along its parents."""
    path: list[str] = []
    seen: set[str] = set()  # a set: a list's `in` made a long session's path quadratic
    current: str | None = message_id
    while current is not None and current not in seen:  # a cycle cannot be written; guard anyway
        path.append(current)
        seen.add(current)
        current = history.parents.get(current)
    return path[::-1]


def conversation(
    history: History, prompt_message_id: str, answer_id: str, max_messages: int | None = None
) -> list[dict[str, Any]] | None:
    """OpenAI chat messages for answering ``prompt_message_id``: the system prompt, then the
    branch that leads to it (each user message, and the answer on the branch after it where it has
    text: completed, or the partial text a cancel kept). Other branches (edits, regenerated
    answers not followed) are not sent. ``None`` when the prompt message is not in the session."""
    texts = dict(history.user_messages)
    if prompt_message_id not in texts:
        return None
    turns: list[dict[str, Any]] = []
    path = branch(history, prompt_message_id)
    users = [i for i, mid in enumerate(path) if mid in texts]
    if len(users) > CONTEXT_USER_MESSAGES:  # the same bound whether the history was compacted or not
        path = path[users[-CONTEXT_USER_MESSAGES] :]
    for mid in path:
        if mid in texts:
            turns.append({"role": "user", "content": texts[mid]})
        elif (record := history.answers.get(mid)) is not None and mid != answer_id:
            if record.status in ("complete", "cancelled") and record.content:
                turns.append({"role": "assistant", "content": record.content})
    if max_messages is not None and len(turns) > max_messages:
        turns = turns[-max_messages:]
        while turns and turns[0]["role"] != "user":  # start on a user turn
            turns = turns[1:]
    system = history.settings.system_prompt
    return ([{"role": "system", "content": system}] if system else []) + turns


async def load(
    js: JetStreamContext, session_id: str, *, types: tuple[type, ...] = CONTEXT_TYPES, fetch_timeout_s: float = 5.0
) -> list[tuple[int, ChatEvent]]:
    """The session's events of ``types`` (default: no chunks, left out by the server), with their stream sequences.

    An ephemeral, memory-backed consumer with ``filter_subjects``; undecodable events are logged
    and skipped (they are not this reader's to judge).
    """
    config = api.ConsumerConfig(
        filter_subjects=[subjects.of_type(t, session_id) for t in types],
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.NONE,
        mem_storage=True,
        num_replicas=1,
        inactive_threshold=30.0,
    )
    sub = await js.pull_subscribe("", stream=CHAT_STREAM, config=config)
    try:
        info = await sub.consumer_info()
        remaining = info.num_pending
        events: list[tuple[int, ChatEvent]] = []
        while remaining > 0:
            msgs = await sub.fetch(min(remaining, 256), timeout=fetch_timeout_s)
            for msg in msgs:
                remaining -= 1
                try:
                    events.append((msg.metadata.sequence.stream, codec.decode(msg.data, msg.subject)))
                except EventDecodeError as exc:
                    log.warning("skipped undecodable event", subject=msg.subject, error=str(exc))
        return events
    finally:
        name = sub._consumer  # nats-py keeps the consumer name here; deleting spares the server a timer
        await asyncio.gather(sub.unsubscribe(), js.delete_consumer(CHAT_STREAM, name), return_exceptions=True)
