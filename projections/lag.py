"""How far a projection is behind the stream, for /readyz and /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from nats.js import JetStreamContext

from events.streams import CHAT_STREAM
from projections import registry
from projections.chat import CHAT
from projections.projection import Projection


@dataclass(frozen=True, slots=True)
class Lag:
    projection: str
    stream_last_seq: int  # last sequence stored in the stream
    checkpoint: int  # last sequence the projection applied
    events: int  # stream_last_seq - checkpoint (>= 0): events stored but not yet in the read models
    last_event_at: datetime | None  # occurred_at of the last applied event (None: nothing applied)
    age_s: float | None  # seconds since last_event_at
    checkpoint_updated_at: datetime | None  # when the projection last committed a batch


async def measure(js: JetStreamContext, conn: asyncpg.Connection | asyncpg.Pool, projection: Projection = CHAT) -> Lag:
    """The lag of ``projection``: stream last sequence minus checkpoint, and age of the last applied event."""
    stream_last = (await js.stream_info(CHAT_STREAM)).state.last_seq
    row = await conn.fetchrow(
        "SELECT last_stream_seq, last_event_at, updated_at FROM projection_checkpoints WHERE projection = $1",
        projection.name,
    )
    checkpoint = row["last_stream_seq"] if row else 0
    last_event_at = row["last_event_at"] if row else None
    age = (datetime.now(UTC) - last_event_at).total_seconds() if last_event_at else None
    return Lag(
        projection=projection.name,
        stream_last_seq=stream_last,
        checkpoint=checkpoint,
        events=max(0, stream_last - checkpoint),
        last_event_at=last_event_at,
        age_s=age,
        checkpoint_updated_at=row["updated_at"] if row else None,
    )


async def measure_all(js: JetStreamContext, conn: asyncpg.Connection | asyncpg.Pool) -> list[Lag]:
    return [await measure(js, conn, projection) for projection in registry.ALL]
