"""A REST read of a streaming answer: the row the chat projection writes without token deltas,
with the stored deltas folded on, is the row a projection of every delta would write.
(``fill`` against a real stream: tests/test_edge_resume.py, reloads mid-answer.)"""

from __future__ import annotations

import msgspec
import pytest

from events.model import ChatMessage
from events.schema import GenerationChunk
from projections.chat import MessageRow
from services.edge.streaming import fold
from tests.test_chat import Conversation, run

FIELDS = ChatMessage.__struct_fields__


def read(row: MessageRow) -> dict:
    """The row as a REST read gives it (ChatMessage's fields)."""
    values = msgspec.structs.asdict(row)
    return {f: values[f] for f in FIELDS}


def skipped(c: Conversation, events: list, mid: str) -> list:
    """``events`` as the chat projection applies them: deltas skipped, sequences unchanged (an
    event that changes no row stands in for each)."""
    return [c.cancel_requested(mid) if isinstance(e, GenerationChunk) else e for e in events]


def stored(events: list, upto: int | None = None) -> list:
    """The deltas among ``events`` (numbered from 1) up to ``upto``, as a read finds them."""
    return [(s, e) for s, e in enumerate(events, 1) if isinstance(e, GenerationChunk) and (upto is None or s <= upto)]


def answer_events(c: Conversation, pieces: list[str]):
    user = c.submitted("hello")
    request = c.requested(user.message_id)
    mid = request.message_id
    return [c.created(), user, request, c.started(mid), *c.chunks(mid, pieces)], mid


@pytest.mark.parametrize("cut", range(4, 10))
def test_the_fold_onto_the_row_without_deltas_is_the_row_with_them(cut):
    c = Conversation()
    events, mid = answer_events(c, ["Hel", "lo", " there", ", you", "!"])
    events = events[:cut]
    row = read(run(skipped(c, events, mid)).message(mid))
    assert fold([row], stored(events)) == [read(run(events).message(mid))]


def test_a_row_that_reflects_some_deltas_already_gets_only_the_later_ones():
    # A rebuild applies the deltas of answers open at its end: the row is past its start.
    c = Conversation()
    events, mid = answer_events(c, ["a", "b", "c", "d"])
    whole = read(run(events).message(mid))
    assert fold([read(run(events[:6]).message(mid))], stored(events)) == [whole]
    assert fold([whole], stored(events)) == [whole]


def test_only_the_current_attempt_counts_and_a_hole_stops_the_fold():
    c = Conversation()
    events, mid = answer_events(c, ["old ", "text"])
    events += [c.restarted(mid, 2), *c.chunks(mid, ["new", " one"], attempt=2)]
    row = read(run(skipped(c, events, mid)).message(mid))
    (shown,) = fold([row], stored(events))
    assert (shown["content"], shown["attempt"], shown["last_seq"]) == ("new one", 2, len(events))
    without_first = [d for d in stored(events) if d[1].attempt == 1 or d[1].index != 0]
    (held,) = fold([row], without_first)  # chunk 0 of attempt 2 missing: a hole
    assert (held["content"], held["last_seq"]) == ("", row["last_seq"])


def test_finished_answers_and_user_messages_are_left_alone():
    c = Conversation()
    events, user_id, mid = c.exchange("hi", ["a", "b"])
    events = [c.created(), *events]
    rows = run(events)
    page = [read(rows.message(user_id)), read(rows.message(mid))]
    assert fold(page, stored(events)) == page
