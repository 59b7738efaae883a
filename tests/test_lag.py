"""Projection lag for /readyz and /metrics: stream last sequence minus checkpoint, and age."""

from __future__ import annotations

from projections import lag, queries
from tests.test_chat import Conversation
from tests.test_projection_worker import publish, running


async def test_wait_for_seq_and_lag(nats, js, db, database_url, tmp_path):
    c = Conversation()
    last = await publish(js, [c.created(), c.submitted("a"), c.submitted("b")])
    behind = await lag.measure(js, db)
    assert (behind.stream_last_seq, behind.checkpoint, behind.events, behind.age_s) == (last, 0, last, None)
    assert await queries.wait_for_seq(db, last, 0.2) is False
    async with running(nats, database_url, tmp_path):
        assert await queries.wait_for_seq(db, last, 10) is True
        caught_up = await lag.measure(js, db)
    assert (caught_up.checkpoint, caught_up.events) == (last, 0)
    assert caught_up.last_event_at == c.t and caught_up.age_s > 0
    assert [x.projection for x in await lag.measure_all(js, db)] == ["chat", "usage"]
