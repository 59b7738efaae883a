"""The chat projection's pure core: which rows each event changes, and how."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from events import codec
from events.model import Settings
from events.schema import (
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
    SessionSettings,
    SessionUpdated,
    Timings,
    Usage,
)
from projections.chat import MessageRow, Rows, SessionRow, evolve
from projections.errors import Unappliable

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Conversation:
    """Builds one session's events with ascending times (tests of every projection module use it)."""

    def __init__(self, user: str = "u1", session_id: str | None = None, t0: datetime = T0) -> None:
        self.sid = session_id or str(uuid.uuid4())
        self.user = user
        self.t = t0

    def _base(self) -> dict:
        self.t += timedelta(milliseconds=10)
        return {"event_id": codec.new_id(), "occurred_at": self.t, "session_id": self.sid, "user_id": self.user}

    def created(self, title: str = "Talk", **kw) -> SessionCreated:
        kw.setdefault("llm_provider", "local")
        kw.setdefault("llm_model", "smol")
        return SessionCreated(**self._base(), title=title, **kw)

    def updated(self, **kw) -> SessionUpdated:
        return SessionUpdated(**self._base(), **kw)

    def deleted(self) -> SessionDeleted:
        return SessionDeleted(**self._base())

    def submitted(self, content: str, mid: str | None = None, **kw) -> MessageSubmitted:
        return MessageSubmitted(**self._base(), message_id=mid or str(uuid.uuid4()), content=content, **kw)

    def requested(self, prompt_id: str, mid: str | None = None, **kw) -> GenerationRequested:
        return GenerationRequested(
            **self._base(), message_id=mid or str(uuid.uuid4()), prompt_message_id=prompt_id, **kw
        )

    def started(self, mid: str, attempt: int = 1, **kw) -> GenerationStarted:
        kw.setdefault("llm_provider", "local")
        kw.setdefault("llm_model", "smol")
        return GenerationStarted(**self._base(), message_id=mid, attempt=attempt, **kw)

    def restarted(self, mid: str, attempt: int) -> GenerationRestarted:
        return GenerationRestarted(**self._base(), message_id=mid, attempt=attempt, reason="worker lost")

    def chunks(self, mid: str, pieces: list[str], attempt: int = 1, first: int = 0) -> list[GenerationChunk]:
        out = []
        for i, piece in enumerate(pieces, first):
            out.append(
                GenerationChunk(
                    **self._base(), message_id=mid, attempt=attempt, index=i, token_index=i, token_count=1, delta=piece
                )
            )
        return out

    def deltas(self, mid: str, pieces: list[str]) -> list[GenerationDelta]:
        """Token deltas as generation writes them now: no event id or user (``chunks`` are the old,
        permanent kind)."""
        return [
            GenerationDelta(
                session_id=self.sid,
                message_id=mid,
                index=i,
                token_index=i,
                delta=p,
                occurred_at=self._base()["occurred_at"],
            )
            for i, p in enumerate(pieces)
        ]

    def completed(self, mid: str, content: str, attempt: int = 1, **kw) -> GenerationCompleted:
        kw.setdefault("llm_provider", "local")
        kw.setdefault("llm_model", "smol")
        kw.setdefault("usage", Usage(prompt_tokens=7, completion_tokens=3, reported=True))
        kw.setdefault("timings", Timings(time_to_first_token_ms=40, total_ms=900))
        kw.setdefault("finish_reason", "stop")
        return GenerationCompleted(**self._base(), message_id=mid, content=content, attempt=attempt, **kw)

    def failed(self, mid: str, partial: str = "", **kw) -> GenerationFailed:
        kw.setdefault("error_kind", "provider_unavailable")
        kw.setdefault("error_message", "connection refused")
        return GenerationFailed(**self._base(), message_id=mid, partial_content=partial, **kw)

    def cancel_requested(self, mid: str) -> GenerationCancelRequested:
        return GenerationCancelRequested(**self._base(), message_id=mid)

    def cancelled(self, mid: str, partial: str = "", **kw) -> GenerationCancelled:
        return GenerationCancelled(**self._base(), message_id=mid, partial_content=partial, **kw)

    def exchange(self, prompt: str, pieces: list[str]) -> tuple[list, str, str]:
        """A user message and its whole answer: (events, user message id, answer id)."""
        user = self.submitted(prompt)
        answer = self.requested(user.message_id)
        mid = answer.message_id
        events = [user, answer, self.started(mid), *self.chunks(mid, pieces), self.completed(mid, "".join(pieces))]
        return events, user.message_id, mid


def run(events, rows: Rows | None = None, first_seq: int = 1) -> Rows:
    rows = rows or Rows()
    for seq, event in enumerate(events, first_seq):
        rows.put(evolve(rows, seq, event))
    return rows


def test_a_conversation_yields_session_and_message_rows():
    c = Conversation()
    created = c.created(settings=SessionSettings(temperature=0.3))
    events, user_id, answer_id = c.exchange("hello", ["Hi", " there", "!"])
    rows = run([created, *events])

    session = rows.session(c.sid)
    assert isinstance(session, SessionRow)
    assert (session.message_count, session.settings, session.is_active) == (2, Settings(temperature=0.3), True)
    assert session.last_activity_at == events[-1].occurred_at and session.last_seq == len(events) + 1
    user = rows.message(user_id)
    assert (user.role, user.content, user.status, user.created_seq) == ("user", "hello", "complete", 2)
    answer = rows.message(answer_id)
    assert isinstance(answer, MessageRow)
    assert (answer.role, answer.status, answer.content, answer.reply_to) == (
        "assistant",
        "complete",
        "Hi there!",
        user_id,
    )
    assert (answer.prompt_tokens, answer.completion_tokens, answer.tokens_used) == (7, 3, 10)
    assert (answer.response_time_ms, answer.time_to_first_token_ms) == (900, 40)
    assert answer.metadata == {"finish_reason": "stop", "usage_reported": True}
    assert (answer.created_seq, answer.last_seq, answer.chunk_count) == (3, len(events) + 1, 3)


def test_streaming_shows_content_so_far():
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id, llm_model="big")
    rows = run([c.created(), user, req])
    pending = rows.message(req.message_id)
    assert (pending.status, pending.content, pending.llm_model) == ("pending", "", "big")
    rows = run([c.started(req.message_id), *c.chunks(req.message_id, ["a", "b"])], rows, first_seq=4)
    assert (rows.message(req.message_id).status, rows.message(req.message_id).content) == ("streaming", "ab")


def test_duplicate_and_stale_chunks_are_ignored():
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    mid = req.message_id
    one, two = c.chunks(mid, ["a", "b"])
    rows = run([c.created(), user, req, c.started(mid), one, two])
    assert evolve(rows, 7, one) == []  # index 0 again
    rows = run([c.restarted(mid, 2), *c.chunks(mid, ["X"], attempt=2)], rows, first_seq=7)
    assert rows.message(mid).content == "X" and rows.message(mid).attempt == 2
    assert evolve(rows, 9, c.chunks(mid, ["late"], attempt=1, first=2)[0]) == []


def test_a_chunk_of_a_newer_attempt_starts_the_text_over():
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    mid = req.message_id
    rows = run([c.created(), user, req, c.started(mid), *c.chunks(mid, ["old"]), *c.chunks(mid, ["new"], attempt=2)])
    assert (rows.message(mid).content, rows.message(mid).attempt) == ("new", 2)


def test_failed_and_cancelled_keep_the_partial_answer():
    c = Conversation()
    u1, u2 = c.submitted("a"), c.submitted("b")
    r1, r2 = c.requested(u1.message_id), c.requested(u2.message_id)
    rows = run(
        [
            c.created(),
            u1,
            u2,
            r1,
            r2,
            c.started(r1.message_id),
            *c.chunks(r1.message_id, ["part"]),
            c.failed(r1.message_id),  # no partial in the event: what streamed stays
            c.started(r2.message_id),
            c.cancel_requested(r2.message_id),
            c.cancelled(r2.message_id, partial="so far"),
        ]
    )
    failed, cancelled = rows.message(r1.message_id), rows.message(r2.message_id)
    assert (failed.status, failed.content, failed.error_kind) == ("failed", "part", "provider_unavailable")
    assert failed.error_message == "connection refused"
    assert (cancelled.status, cancelled.content, cancelled.error_kind) == ("cancelled", "so far", None)


def test_partial_answers_keep_their_token_usage():
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    mid = req.message_id
    usage = Usage(completion_tokens=7, reported=False)
    rows = run([c.created(), user, req, c.started(mid), *c.chunks(mid, ["part"]), c.cancelled(mid, usage=usage)])
    assert (rows.message(mid).completion_tokens, rows.message(mid).tokens_used) == (7, 7)


def test_the_first_end_wins():
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    mid = req.message_id
    rows = run([c.created(), user, req, c.started(mid), c.completed(mid, "done")])
    for late in (c.cancelled(mid, partial="x"), c.failed(mid), *c.chunks(mid, ["y"], first=5), c.started(mid, 2)):
        assert evolve(rows, 99, late) == []


def test_cancel_requested_changes_no_row():
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    rows = run([c.created(), user, req])
    assert evolve(rows, 4, c.cancel_requested(req.message_id)) == []


def test_session_update_and_delete():
    c = Conversation()
    rows = run([c.created(settings=SessionSettings(temperature=0.3))])
    rows = run([c.updated(title="Renamed", settings=SessionSettings(max_tokens=9))], rows, first_seq=2)
    session = rows.session(c.sid)
    assert (session.title, session.llm_model, session.settings, session.last_seq) == (
        "Renamed",
        "smol",
        Settings(max_tokens=9),  # replaced whole: None inside settings means "provider default"
        2,
    )
    rows = run([c.deleted()], rows, first_seq=3)
    assert (rows.session(c.sid).is_active, rows.session(c.sid).deleted_at) == (False, c.t)
    assert evolve(rows, 4, c.deleted()) == []


def test_a_message_stored_twice_counts_once():
    c = Conversation()
    user = c.submitted("q")
    rows = run([c.created(), user])
    again = MessageSubmitted(**{**c._base(), "message_id": user.message_id}, content="q")
    assert evolve(rows, 3, again) == []
    assert rows.session(c.sid).message_count == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda c: c.submitted("x"), "unknown session"),
        (lambda c: c.started(str(uuid.uuid4())), "unknown message"),
        (lambda c: Conversation(session_id="not-a-uuid").created(), "session_id is not a UUID"),
        (lambda c: c.submitted("x", mid="m-1"), "unknown session"),
    ],
)
def test_unappliable_events_say_why(make, reason):
    c = Conversation()
    with pytest.raises(Unappliable, match=reason):
        evolve(Rows(), 1, make(c))


def test_events_about_rows_of_another_kind_or_session_are_refused():
    c, other = Conversation(), Conversation()
    user = c.submitted("q")
    rows = run([c.created(), user])
    rows = run([other.created()], rows, first_seq=3)
    with pytest.raises(Unappliable, match="not an answer"):
        evolve(rows, 4, c.started(user.message_id))
    req = c.requested(user.message_id)
    rows = run([req], rows, first_seq=4)
    with pytest.raises(Unappliable, match="belongs to session"):
        evolve(rows, 5, other.started(req.message_id))
    with pytest.raises(Unappliable, match="already exists"):
        evolve(rows, 5, c.created())


def test_evolve_never_modifies_its_input():
    c = Conversation()
    rows = run([c.created()])
    before = dict(rows.sessions)
    evolve(rows, 2, c.submitted("q"))
    assert rows.sessions == before and rows.messages == {}


def test_anything_else_is_a_type_error():
    with pytest.raises(TypeError):
        evolve(Rows(), 1, object())  # type: ignore[arg-type]
