"""The usage projection (analytics): per user x provider x model x hour, how many answers ended and
how, the tokens they used, errors by kind, cancels, and histograms of time to first token and
total time. Pure, on the projection machinery (``projections.projection``): one transaction per
batch with its own checkpoint, rebuildable like the chat tables.

Each answer is counted once, when it ends (the first terminal event wins, as in the chat
projection), in the hour of that event, under the provider and model the terminal event names (an answer
that ended before any provider was chosen, e.g. cancelled while queued, counts as "unknown": it
used no tokens). Everything a row depends on is in the event itself, so a batch knows which rows
to load before evolving. Imported answers
(``generation.requested`` with ``imported``) are never counted: nobody spent tokens on them here.
"""

from __future__ import annotations

import json
from datetime import datetime

import msgspec

from events import subjects
from events.schema import ChatEvent, GenerationCancelled, GenerationCompleted, GenerationFailed, GenerationRequested
from projections.projection import Projection, Rows, Table

# Upper bounds (ms) of the histogram buckets; the last bucket is everything above.
BUCKETS_MS: tuple[int, ...] = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
BUCKET_NAMES: tuple[str, ...] = (*(f"le_{b}" for b in BUCKETS_MS), "le_inf")
UNKNOWN = "unknown"


def bucket(ms: int) -> str:
    for bound, name in zip(BUCKETS_MS, BUCKET_NAMES, strict=False):
        if ms <= bound:
            return name
    return BUCKET_NAMES[-1]


class UsageAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What counting needs to know about one answer: imported (never counted), already ended."""

    id: str  # the answer's message id
    imported: bool = False
    ended: bool = False
    last_seq: int


class UsageHour(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # JSON [user, provider, model, hour]
    user_id: str
    llm_provider: str
    llm_model: str
    hour: datetime
    answers: int = 0  # ended, however
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: dict[str, int] = msgspec.field(default_factory=dict)  # error kind -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_count: int = 0
    ttft_sum_ms: int = 0
    ttft_hist: dict[str, int] = msgspec.field(default_factory=dict)
    total_count: int = 0
    total_sum_ms: int = 0
    total_hist: dict[str, int] = msgspec.field(default_factory=dict)
    last_seq: int


ANSWERS = Table("usage_answers", UsageAnswer)
HOURS = Table("usage_hourly", UsageHour, json_fields=frozenset({"errors", "ttft_hist", "total_hist"}))


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def hour_key(user: str, provider: str, model: str, hour: datetime) -> str:
    return json.dumps([user, provider, model, hour.isoformat()])


def _where(event: GenerationCompleted | GenerationFailed | GenerationCancelled) -> str:
    return hour_key(
        event.user_id, event.llm_provider or UNKNOWN, event.llm_model or UNKNOWN, hour_of(event.occurred_at)
    )


def keys(event: ChatEvent) -> dict[str, set[str]]:
    match event:
        case GenerationRequested():
            return {ANSWERS.name: {event.message_id}}
        case GenerationCompleted() | GenerationFailed() | GenerationCancelled():
            return {ANSWERS.name: {event.message_id}, HOURS.name: {_where(event)}}
        case _:
            return {}


def evolve(rows: Rows, seq: int, event: ChatEvent) -> list[msgspec.Struct]:
    match event:
        case GenerationRequested():
            if rows.get(ANSWERS.name, event.message_id) is not None:
                return []
            return [UsageAnswer(id=event.message_id, imported=event.imported, last_seq=seq)]
        case GenerationCompleted() | GenerationFailed() | GenerationCancelled():
            answer: UsageAnswer | None = rows.get(ANSWERS.name, event.message_id)
            if answer is None or answer.ended:
                return []  # unknown (a damaged stream) or already counted: the first end wins
            done = msgspec.structs.replace(answer, ended=True, last_seq=seq)
            return [done] if answer.imported else [done, _count(rows, seq, event)]
        case _:
            return []


def _count(rows: Rows, seq: int, event: GenerationCompleted | GenerationFailed | GenerationCancelled) -> UsageHour:
    key = _where(event)
    h: UsageHour = rows.get(HOURS.name, key) or UsageHour(
        id=key,
        user_id=event.user_id,
        llm_provider=event.llm_provider or UNKNOWN,
        llm_model=event.llm_model or UNKNOWN,
        hour=hour_of(event.occurred_at),
        last_seq=seq,
    )
    changes: dict = {
        "answers": h.answers + 1,
        "prompt_tokens": h.prompt_tokens + event.usage.prompt_tokens,
        "completion_tokens": h.completion_tokens + event.usage.completion_tokens,
        "last_seq": seq,
    }
    match event:
        case GenerationCompleted():
            changes["completed"] = h.completed + 1
            ttft, total = event.timings.time_to_first_token_ms, event.timings.total_ms
            if ttft is not None:
                changes |= {
                    "ttft_count": h.ttft_count + 1,
                    "ttft_sum_ms": h.ttft_sum_ms + ttft,
                    "ttft_hist": _add(h.ttft_hist, bucket(ttft)),
                }
            changes |= {
                "total_count": h.total_count + 1,
                "total_sum_ms": h.total_sum_ms + total,
                "total_hist": _add(h.total_hist, bucket(total)),
            }
        case GenerationFailed():
            changes |= {"failed": h.failed + 1, "errors": _add(h.errors, event.error_kind)}
        case GenerationCancelled():
            changes["cancelled"] = h.cancelled + 1
        case _:
            raise TypeError(f"not a terminal event: {event!r}")
    return msgspec.structs.replace(h, **changes)


def _add(counts: dict[str, int], key: str) -> dict[str, int]:
    return {**counts, key: counts.get(key, 0) + 1}


# The only events ``evolve`` reads: its consumer is delivered nothing else (no token deltas, no
# old chunks), and a rebuild gives the same rows, as every other event leaves them unchanged.
READS = (GenerationRequested, GenerationCompleted, GenerationFailed, GenerationCancelled)
# Nobody waits for it (reports read what is there): a batch per flush interval, not per answer.
USAGE = Projection(
    "usage", (ANSWERS, HOURS), keys, evolve, filter_subjects=tuple(subjects.of_type(t) for t in READS), awaited=False
)
