"""What a REST read adds to the answers still streaming: the text of their token deltas.

The chat projection is not delivered token deltas (projections/chat.py, ``READS``): a streaming
answer's row keeps the text it had at its start until its end event writes the text whole, while
the projection's checkpoint (a read's ``X-Parley-Seq``) moves past the deltas it skipped. So a
read folds each open answer's deltas stored after the row's ``last_seq`` and up to that
checkpoint onto the row, with the projection's own rules (``events.lifecycle.evolve``), read
from the stream (the replay a resuming socket uses, filtered on the session's deltas). The page
then reflects every event up to the read's sequence, as before: a socket resumed from it misses
nothing and repeats nothing. Only reads that hold an open answer pay for it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js import JetStreamContext

from events import lifecycle, subjects
from events.model import LIVE, ChatMessage
from events.schema import GenerationChunk, GenerationDelta
from services.edge import replay


def _streaming(message: dict[str, Any]) -> bool:
    return message["role"] == "assistant" and message["status"] in LIVE


def fold(messages: list[dict[str, Any]], deltas: list[tuple[int, GenerationChunk]]) -> list[dict[str, Any]]:
    """``messages`` with ``deltas`` (stream order) folded onto the open answers they belong to.
    Pure: a delta at or before its answer's ``last_seq``, of another attempt, or not the next of
    its attempt's tokens (a repeat; after a hole, which generation answers with a new attempt)
    changes nothing."""
    answers = {m["id"]: m for m in messages if _streaming(m)}
    folded: dict[str, ChatMessage] = {}
    for seq, delta in deltas:
        row = answers.get(delta.message_id)
        if row is None:
            continue
        answer = folded.get(delta.message_id) or msgspec.convert(row, ChatMessage)
        if answer.last_seq is None or seq <= answer.last_seq or delta.attempt != answer.attempt:
            continue
        if delta.token_index != (answer.completion_tokens or 0):
            continue  # a repeat, or after a hole: the row counts the tokens it holds
        folded[delta.message_id] = lifecycle.evolve(answer, seq, delta) or answer
    if not folded:
        return messages
    return [
        {**m, **msgspec.structs.asdict(folded[m["id"]]), "sibling_ids": m["sibling_ids"]} if m["id"] in folded else m
        for m in messages
    ]


async def fill(
    js: JetStreamContext, session_id: str, messages: list[dict[str, Any]], upto: int
) -> list[dict[str, Any]]:
    """``messages`` as of stream sequence ``upto`` (the read's checkpoint), streamed text included."""
    behind = [m["last_seq"] for m in messages if _streaming(m) and m["last_seq"] is not None and m["last_seq"] < upto]
    if not behind:
        return messages
    deltas: list[tuple[int, GenerationChunk]] = []
    subject = subjects.of_type(GenerationDelta, session_id)
    async for seq, event in replay.events_after(
        js, session_id, min(behind), filter_subject=subject, stop_at=lambda: upto + 1
    ):
        if seq > upto:
            break
        if isinstance(event, GenerationChunk):
            deltas.append((seq, event))
    return fold(messages, deltas)
