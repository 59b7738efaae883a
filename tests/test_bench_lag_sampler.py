"""Projection lag sampled during a run (services/bench/lag_sampler.py), on real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from projections import queries
from services.bench.lag_sampler import LagSampler, Sample, seconds_behind, summarize
from tests.test_chat import Conversation
from tests.test_projection_worker import publish, running


def test_seconds_behind_is_the_age_of_the_oldest_event_not_applied():
    assert seconds_behind(Sample(at=10.0, stream_last=5, checkpoint=3, oldest_unapplied_at=9.75)) == 0.25
    assert seconds_behind(Sample(at=10.0, stream_last=5, checkpoint=5, oldest_unapplied_at=None)) == 0.0
    # clocks of two processes: an event stamped a hair after the probe is not negative lag
    assert seconds_behind(Sample(at=10.0, stream_last=5, checkpoint=4, oldest_unapplied_at=10.001)) == 0.0
    s = summarize([Sample(1.0, 4, 0, 0.5), Sample(2.0, 4, 4, None)])
    assert s["samples"] == 2 and s["events"]["max"] == 4 and s["ms"]["max"] == 500.0


async def test_sampler_sees_the_projection_behind_then_caught_up(nats, js, db, database_url, tmp_path):
    c = Conversation()
    events = [c.created(), c.submitted("a"), c.submitted("b")]
    last = await publish(js, events)
    async with LagSampler(nats.url, database_url, interval=0.01) as sampler:
        behind = await sampler.sample()
        assert (behind.stream_last, behind.checkpoint) == (last, 0)
        assert behind.oldest_unapplied_at == pytest.approx(events[0].occurred_at.timestamp())
        sampler.start()
        async with running(nats, database_url, tmp_path):
            assert await queries.wait_for_seq(db, last, 10)
            await asyncio.sleep(0.1)
        samples = await sampler.stop()
        assert sampler.errors == []
    assert samples and samples[-1].checkpoint == last and seconds_behind(samples[-1]) == 0.0
